"""``ecr-replicate local up``: the local deployment, left running, replicating every push.

It prints where to push, the ``export`` lines for another terminal (``PATH`` first, so
``ecr-replicate`` is found there), then one line per push with the execution it started, and
each run's result when it ends. A region whose registry dies is reported with the way to bring
it back: ``kill -USR1 <pid>`` (this process) restarts every registry that died, on its port.
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from ecr_replicate_cli import status
from ecr_replicate_local.environment import LocalEnvironment, StartedExecution, event_label, names_an_image

POLL_SECONDS = 0.5


def cli_directory() -> Path | None:
    """The directory holding the ``ecr-replicate`` this process runs (the venv's ``bin``)."""
    for candidate in (Path(sys.argv[0]).resolve().parent, Path(sys.executable).parent):
        if (candidate / "ecr-replicate").is_file():
            return candidate
    return None


def print_regions(env: LocalEnvironment, source_role: str, out: TextIO) -> None:
    """Each region's ECR front (https, what our code uses) and its docker-registry."""
    print("Local regions (an https ECR front per region, in front of its docker-registry):", file=out)
    for region in (env.source_region, *env.target_regions):
        role = source_role if region == env.source_region else "target"
        front, registry = f"https://{env.front_host(region)}", env.push_host(region)
        print(f"  {region:<16} {front:<29} registry {registry:<21} {role}", file=out)


def print_access(env: LocalEnvironment, out: TextIO) -> None:
    src = env.push_host()
    front = env.front_host(env.source_region)
    cert_dir = env.fronts.cert_dir
    print("Push with any client to the source's registry (plain http, for people), e.g.:", file=out)
    print(f"  skopeo copy --dest-tls-verify=false IMAGE docker://{src}/REPO:TAG", file=out)
    print(f"Our code reaches the regions through their ECR fronts (CA: {env.fronts.ca_file}).", file=out)
    print("To call a front by hand (with the exports below; a token of your own role):", file=out)
    print(
        f'  skopeo inspect --cert-dir {shlex.quote(str(cert_dir))} --creds "AWS:$(aws ecr get-login-password '
        f'--region {env.source_region})" docker://{front}/REPO:TAG',
        file=out,
    )


def print_exports(env: LocalEnvironment, out: TextIO) -> None:
    print("Watch runs from another terminal (each push below names the execution it started):", file=out)
    directory = cli_directory()
    if directory is not None:
        print(f'  export PATH={shlex.quote(str(directory))}:"$PATH"', file=out)
    for name, value in env.aws.environment().items():
        print(f"  export {name}={shlex.quote(value)}", file=out)
    print("  ecr-replicate status --follow [EXECUTION_ARN]   (no ARN: the latest run)", file=out)


def announce_drops(env: LocalEnvironment, out: TextIO) -> None:
    if env.dropper.percent > 0:
        seed = f", seed {env.dropper.seed}" if env.dropper.seed is not None else ""
        print(
            f"Dropping {env.dropper.percent:g}% of push events before they reach the workflow "
            f"(--drop-events{seed}), as EventBridge may lose them: `ecr-replicate reconcile` heals "
            "what they leave behind.",
            file=out,
        )


class RegistryWatch:
    """Registries that died, reported once each; restarted on request (SIGUSR1)."""

    def __init__(self, env: LocalEnvironment, out: TextIO) -> None:
        self.env = env
        self.out = out
        self.reported: set[str] = set()
        self.restart_requested = threading.Event()
        self._saved: Any = None

    def __enter__(self) -> RegistryWatch:
        if threading.current_thread() is threading.main_thread():
            self._saved = signal.signal(signal.SIGUSR1, lambda signum, frame: self.restart_requested.set())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            signal.signal(signal.SIGUSR1, self._saved)
            self._saved = None

    def dead(self) -> dict[str, int | None]:
        """Region -> exit status of each registry that was started and is no longer running."""
        regions = self.env.regions
        if regions is None:
            return {}
        found: dict[str, int | None] = {}
        for region in regions.regions:
            registry = regions.registry(region)
            if registry.process is not None and registry.process.poll() is not None:
                found[region] = registry.process.returncode
        return found

    def check(self) -> None:
        dead = self.dead()
        for region, code in dead.items():
            if region not in self.reported:
                self.reported.add(region)
                registry = self.env.regions.registry(region)  # type: ignore[union-attr]
                print(
                    f"region {region}: its registry ({registry.host}, pid {registry.process.pid}) "  # type: ignore[union-attr]
                    f"exited with status {code}; copies to and from {region} fail until it is back. "
                    f"Restart it with: kill -USR1 {os.getpid()}",
                    file=self.out,
                    flush=True,
                )
        if self.restart_requested.is_set():
            self.restart_requested.clear()
            self.restart(list(dead))

    def restart(self, regions: list[str]) -> None:
        if not regions:
            print("no registry to restart: every region's registry is running", file=self.out, flush=True)
            return
        for region in regions:
            try:
                registry = self.env.regions.restart(region)  # type: ignore[union-attr]
            except Exception as exc:  # say it, keep serving the other regions
                print(f"region {region}: could not restart its registry: {exc}", file=self.out, flush=True)
                continue
            self.reported.discard(region)
            print(
                f"region {region}: registry restarted on {registry.host} (pid {registry.process.pid}); "  # type: ignore[union-attr]
                "re-run what failed meanwhile with: ecr-replicate rerun --failed EXECUTION_ARN",
                file=self.out,
                flush=True,
            )


def follow_pushes(env: LocalEnvironment, out: TextIO, watch: RegistryWatch) -> None:
    """Forever: each tagged push (or referrer) and the execution it started, each event dropped
    (--drop-events); each run's rows when it ends."""
    sfn = env.sfn()
    reported = dropped = 0
    pending: dict[str, StartedExecution] = {}
    while True:
        with env._changed:
            env._changed.wait(POLL_SECONDS)
            new = env.executions[reported:]
            reported = len(env.executions)
            lost = env.dropped[dropped:]
            dropped = len(env.dropped)
        for event in filter(names_an_image, lost):
            print(f"dropped the event of push {event_label(event)}: not replicated", file=out, flush=True)
        for started in new:
            if names_an_image(started.event):  # platform manifests are part of a tag push
                print(f"push {started.label} started {started.arn}", file=out, flush=True)
                pending[started.arn] = started
        for arn, started in list(pending.items()):
            view = status.snapshot(sfn, arn)
            if view.done:
                del pending[arn]
                print(f"{view.status}: {started.label}", file=out)
                for row in view.rows:
                    print(f"  {status.plain_row(row)}", file=out)
                out.flush()
        watch.check()


def run_up(env: LocalEnvironment, out: TextIO, log_line: str) -> None:
    """Print how to use the running deployment, then follow pushes until interrupted."""
    print_regions(env, "source: push here", out)
    print_access(env, out)
    print(log_line, file=out)
    print_exports(env, out)
    announce_drops(env, out)
    print("Replicating every push until Ctrl-C.", file=out, flush=True)
    with RegistryWatch(env, out) as watch:
        follow_pushes(env, out, watch)
