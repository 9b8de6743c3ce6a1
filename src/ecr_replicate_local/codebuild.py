"""Local CodeBuild builds: a build of the copy project = a subprocess.

moto 5.2.5 lists CodeBuild as an unsupported service integration. :class:`CodeBuildRunner`
runs the CodeBuild step's entry point (the same module the buildspec runs) in a child process
with the build's environment (project variables + ``EnvironmentVariablesOverride`` + a session
of the project's service role, as CodeBuild provides it) and describes it as
``BatchGetBuilds`` does (``BuildStatus``, phases, ``ExportedEnvironmentVariables``). The Step
Functions task that starts and waits for it: :mod:`ecr_replicate_local.codebuild_task`.

Before the build's commands run, the runner's ``preflight`` checks what the build itself needs
from its service role (logs, the buildspec's ``aws lambda get-function``); a denial fails the
build with the message in its log.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.registry import stop_process

logger = logging.getLogger(__name__)

COPY_MODULE = "ecr_replicate.codebuild_step"
"""The CodeBuild step's entry point (``buildspec.yml`` runs ``python -m`` this module)."""

_MAX_CAPTURE = 256 * 1024


@dataclass(frozen=True)
class PhaseFailure:
    """Why a build failed in one of its phases, as CodeBuild reports it (``phases[].contexts``)."""

    phase: str  # "PROVISIONING", "INSTALL", "BUILD"...
    status_code: str  # "ACCESS_DENIED", "COMMAND_EXECUTION_ERROR"...
    message: str


_PHASES = ("SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD")


@dataclass
class LocalBuild:
    """One running or finished local build."""

    build_id: str
    project: str
    arn: str
    number: int
    environment: dict[str, str]
    process: subprocess.Popen[bytes] | None  # None: failed before its commands ran
    started: float = field(default_factory=time.time)
    ended: float | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    failure: PhaseFailure | None = None  # set when it failed before its commands ran

    @property
    def status(self) -> str:
        if self.process is None:
            return "FAILED"
        code = self.process.poll()
        if code is None:
            return "IN_PROGRESS"
        return "SUCCEEDED" if code == 0 else "FAILED"


class CodeBuildRunner:
    """Starts local builds of the template's CodeBuild projects and tracks their processes."""

    def __init__(
        self,
        *,
        projects: Mapping[str, Mapping[str, str]],
        base_environment: Callable[[], Mapping[str, str]],
        exported_variables: Mapping[str, list[str]],
        region: str,
        account: str,
        argv: list[str] | None = None,
        credentials: Callable[[str, str], Mapping[str, str]] | None = None,
        preflight: Callable[[str, Mapping[str, str]], PhaseFailure | None] | None = None,
    ) -> None:
        self.projects = projects  # name -> project environment variables
        self.credentials = credentials  # (project, build id) -> the service role's session variables
        self.preflight = preflight  # (project, environment) -> why the build fails before running
        self.base_environment = base_environment
        self.exported_variables = exported_variables  # name -> env.exported-variables
        self.region = region
        self.account = account
        self.argv = argv or [sys.executable, "-m", COPY_MODULE]
        self.builds: dict[str, LocalBuild] = {}
        self._lock = threading.Lock()
        self._count = 0

    def start_build(self, params: Mapping[str, Any]) -> LocalBuild:
        project = str(params.get("ProjectName", ""))
        if project not in self.projects:
            raise ConfigurationError(f"Project cannot be found: {project}")
        env = dict(self.base_environment())
        env.update(self.projects[project])
        for var in params.get("EnvironmentVariablesOverride") or []:
            value = var.get("Value", "")
            env[str(var["Name"])] = value if isinstance(value, str) else json.dumps(value)
        with self._lock:
            self._count += 1
            number = self._count
        build_id = f"{project}:{uuid.uuid4()}"
        env.update(CODEBUILD_BUILD_ID=build_id, CODEBUILD_BUILD_NUMBER=str(number))
        if self.credentials is not None:
            env.update(self.credentials(project, build_id))
        failure = self.preflight(project, env) if self.preflight is not None else None
        process = None
        if failure is None:
            process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        build = LocalBuild(
            build_id=build_id,
            project=project,
            arn=f"arn:aws:codebuild:{self.region}:{self.account}:build/{build_id}",
            number=number,
            environment={k: env[k] for k in env if k not in os.environ or env[k] != os.environ[k]},
            process=process,
        )
        if process is None:
            build.failure = failure
            build.stderr = f"{failure.status_code}: {failure.message}".encode() if failure else b""
            build.ended = time.time()
            logger.info("local build %s failed before its commands: %s", build_id, failure)
        self.builds[build_id] = build
        logger.debug("local build %s started (pid %s)", build_id, process.pid if process else None)
        return build

    def wait(self, build: LocalBuild, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True once the build has ended (output collected)."""
        if build.ended is not None or build.process is None:
            return True
        try:
            out, err = build.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        build.stdout, build.stderr = out[-_MAX_CAPTURE:], err[-_MAX_CAPTURE:]
        build.ended = time.time()
        if build.status == "FAILED":
            logger.debug("local build %s failed: %s", build.build_id, build.stderr[-2000:])
        return True

    def exported(self, build: LocalBuild) -> list[dict[str, str]]:
        """``ExportedEnvironmentVariables``: the buildspec's exported variable takes the entry
        point's output (its last non-empty stdout line, the RegionResult JSON)."""
        names = self.exported_variables.get(build.project, [])
        lines = [ln for ln in build.stdout.decode(errors="replace").splitlines() if ln.strip()]
        value = lines[-1].strip() if lines else ""
        return [{"Name": name, "Value": value} for name in names]

    def describe(self, build: LocalBuild) -> dict[str, Any]:
        """The Build object, in the PascalCase Step Functions puts in ``.sync`` task output."""
        status = build.status
        desc: dict[str, Any] = {
            "Arn": build.arn,
            "Id": build.build_id,
            "BuildNumber": build.number,
            "ProjectName": build.project,
            "BuildStatus": status,
            "BuildComplete": status != "IN_PROGRESS",
            "CurrentPhase": "COMPLETED" if status != "IN_PROGRESS" else "BUILD",
            "StartTime": build.started,
            "Environment": {
                "Type": "LINUX_CONTAINER",
                "EnvironmentVariables": [
                    {"Name": k, "Type": "PLAINTEXT", "Value": v}
                    for k, v in sorted(build.environment.items())
                    if not k.startswith("AWS_")
                ],
            },
            "Logs": {"DeepLink": f"file://local-build/{build.build_id}"},
        }
        if build.ended is not None:
            desc["EndTime"] = build.ended
            desc["Phases"] = self.phases(build)
            if status == "SUCCEEDED":
                desc["ExportedEnvironmentVariables"] = self.exported(build)
        return desc

    @staticmethod
    def phases(build: LocalBuild) -> list[dict[str, Any]]:
        """The ended build's phases: the failed one carries CodeBuild's status code and message."""
        failure = build.failure
        if failure is None and build.status == "FAILED":
            code = build.process.returncode if build.process is not None else -1
            failure = PhaseFailure(
                "BUILD",
                "COMMAND_EXECUTION_ERROR",
                f"Error while executing command: the CodeBuild step. Reason: exit status {code}",
            )
        phases: list[dict[str, Any]] = []
        for phase in _PHASES:
            if failure is not None and phase == failure.phase:
                contexts = [{"StatusCode": failure.status_code, "Message": failure.message}]
                phases.append({"PhaseType": phase, "PhaseStatus": "FAILED", "Contexts": contexts})
                break
            phases.append({"PhaseType": phase, "PhaseStatus": "SUCCEEDED"})
        phases.append({"PhaseType": "COMPLETED"})
        return phases

    def stop_all(self) -> None:
        """Terminate every build still running (by PID)."""
        for build in list(self.builds.values()):
            proc = build.process
            if proc is None:
                continue
            stop_process(proc)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
