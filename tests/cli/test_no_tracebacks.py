"""Every subcommand, as a person would type it, with a missing or broken environment and bad
arguments: a short message, a non-zero exit, never a ``Traceback``.

The subcommands come from ``ecr_replicate_cli.main.COMMANDS``, so a new command is covered by
the generic cases as soon as it is listed. Each runs as a child process with no AWS variables
and no home configuration; where an endpoint is needed, ``AWS_ENDPOINT_URL`` and every registry
point at a closed port on 127.0.0.1. ``HTTP(S)_PROXY`` name a listening socket of this test:
anything trying to leave 127.0.0.1 (a real AWS endpoint) would connect to it, and the test
asserts nothing did.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecr_replicate_cli.main import COMMANDS
from tests.e2e.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:states:us-east-1:123456789012:execution:ecr-replicate-ReplicateStateMachine:ecr-push-1"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ecr-replicate-ReplicateStateMachine"
MAX_LINES = 8  # argparse's usage + error, or our one line
MAX_LINE = 700

#: per command, arguments a person would plausibly type (each also runs in every environment)
TYPED: dict[str, list[list[str]]] = {
    "copy": [
        ["127.0.0.1:{closed}/team/app:v1", "127.0.0.1:{closed}/team/app:v1", "--plain-http"],
        ["team/app:v1", "team/app:v1"],
    ],
    "local": [["up", "--regions", "not-a-region"], ["demo", "--regions", "us-east-1"]],
    "status": [[ARN], [], ["ecr-push-1"], ["--follow"]],
    "rerun": [[ARN, "--failed"], ["not-an-arn", "--region", "eu-west-1"], [ARN, "--failed", "--dry-run"]],
    "replicate": [["team/app:v1", "--no-follow"], ["team/app"], ["team/app:v1", "--dry-run"]],
    "backfill": [["--dry-run"], ["--since", "yesterday"]],
    "verify": [["--json"], []],
    "dead-letters": [[], ["--replay"]],
}
#: arguments every command gets, whatever it is
GENERIC: list[list[str]] = [["--no-such-option"], ["x" * 300, "y"]]


class Trap:
    """A listening socket on 127.0.0.1 standing for the outside world: counts connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def trap() -> Iterator[Trap]:
    found = Trap()
    yield found
    found.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def environments(trap: Trap, home: Path) -> dict[str, dict[str, str]]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "ECR_REPLICATE_", "REGISTRY_"))
        and key.upper() not in ("TARGET_REGIONS", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    }
    proxy = f"http://127.0.0.1:{trap.port}"
    base.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        HTTP_PROXY=proxy, HTTPS_PROXY=proxy, http_proxy=proxy, https_proxy=proxy,
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
        ECR_REPLICATE_LOG_DIR=str(home / "logs"),
        COLUMNS="100",
    )  # fmt: skip
    port = closed_port()
    deployment = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "not-a-secret",
        "AWS_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "2",  # botocore's retries of a refused connection: the same answer, sooner
        "ECR_REPLICATE_STATE_MACHINE_ARN": MACHINE,
        "ECR_REPLICATE_PROGRESS_BUCKET": "ecr-replicate-progress",
        "ECR_REPLICATE_DEAD_LETTER_QUEUES": f"http://127.0.0.1:{port}/123456789012/dlq",
        "TARGET_REGIONS": "eu-west-1",
        "REGISTRY_ENDPOINTS": json.dumps(
            {"us-east-1": f"127.0.0.1:{port}", "eu-west-1": f"127.0.0.1:{port}"}
        ),
    }
    broken = {
        **deployment,
        "AWS_REGION": "not a region",
        "TARGET_REGIONS": "",
        "REGISTRY_ENDPOINTS": "{not json",
        "ECR_REPLICATE_STATE_MACHINE_ARN": "arn:nonsense",
    }
    return {
        "nothing": base,
        "endpoint closed": {**base, **deployment},
        "values broken": {**base, **broken},
    }


def cases() -> list[tuple[str, list[str], bool]]:
    """(command, arguments, in every environment?): bad arguments fail before any is read."""
    found = [(name, args, True) for name in COMMANDS for args in TYPED.get(name, [])]
    found += [(name, args, False) for name in COMMANDS for args in GENERIC]
    found += [(name, [], True) for name in COMMANDS if name not in TYPED]  # a new command, typed bare
    return found


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, timeout=60, inherit_env=False)


def assert_short_failure(result: subprocess.CompletedProcess[str], what: str) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, f"{what}:\n{output}"
    assert result.returncode != 0, f"{what}: exit 0\n{output}"
    lines = result.stderr.strip().splitlines()
    assert lines, f"{what}: nothing said on stderr"
    assert len(lines) <= MAX_LINES, f"{what}: {len(lines)} lines\n{result.stderr}"
    assert all(len(line) <= MAX_LINE for line in lines), f"{what}:\n{result.stderr}"
    assert "internal error" not in result.stderr, f"{what}: {result.stderr}"


def test_the_cases_cover_every_command() -> None:
    assert {name for name, _, _ in cases()} == set(COMMANDS)


@pytest.mark.parametrize(
    ("command", "args", "every_environment"),
    cases(),
    ids=lambda v: v if isinstance(v, str) else " ".join(v)[:40] if isinstance(v, list) else "",
)
def test_every_command_fails_in_one_short_line(
    command: str, args: list[str], every_environment: bool, trap: Trap, tmp_path: Path
) -> None:
    envs = environments(trap, tmp_path)
    for env_name, env in envs.items() if every_environment else [("nothing", envs["nothing"])]:
        port = env.get("AWS_ENDPOINT_URL", ":0").rsplit(":", 1)[1]
        typed = [arg.replace("{closed}", port) for arg in args]
        result = run([command, *typed], env)
        assert_short_failure(result, f"{env_name}: ecr-replicate {command} {' '.join(typed)}")
    assert trap.connections == 0, "a command tried to reach beyond 127.0.0.1"


def test_no_credentials_names_what_to_set(trap: Trap, tmp_path: Path) -> None:
    env = environments(trap, tmp_path)["nothing"]
    for args in (["status", ARN], ["rerun", ARN, "--failed"]):
        result = run(args, env)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1, result.stderr
        assert "no usable AWS credentials: set AWS_PROFILE" in result.stderr
        assert "ecr-replicate local up" in result.stderr


def test_a_closed_endpoint_is_named(trap: Trap, tmp_path: Path) -> None:
    env = environments(trap, tmp_path)["endpoint closed"]
    result = run(["status", ARN], env)
    assert result.returncode == 2
    assert f"cannot reach {env['AWS_ENDPOINT_URL']}" in result.stderr
    assert "is `ecr-replicate local up` still running there?" in result.stderr


def test_status_without_execution_or_deployment_says_what_to_give(trap: Trap, tmp_path: Path) -> None:
    env = environments(trap, tmp_path)["nothing"]
    result = run(["status"], env)
    assert result.returncode == 2
    assert (
        "pass EXECUTION_ARN, or --stack NAME, or export what `ecr-replicate local up` prints" in result.stderr
    )


def stand_in(what: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.cli.stand_in_commands", "stand-in", what],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def test_a_reader_that_goes_away_ends_the_command_quietly(trap: Trap, tmp_path: Path) -> None:
    """``ecr-replicate verify --json | head``: exit 141 as after SIGPIPE, nothing on stderr."""
    child = stand_in("flood", environments(trap, tmp_path)["nothing"])
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline().startswith('{"line": 0')
    child.stdout.close()  # what head does after its lines
    stderr = child.stderr.read()
    assert child.wait(timeout=30) == 141
    assert stderr == ""


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_ends_at_once_without_a_traceback(presses: int, trap: Trap, tmp_path: Path) -> None:
    """Worker threads would keep the process a minute (20 tasks of 3 s on 2 workers) after the
    main thread is interrupted: Ctrl-C ends it at once, and a second one never prints a traceback."""
    child = stand_in("busy-threads", environments(trap, tmp_path)["nothing"])
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline() == "ready\n"
    for _ in range(presses):
        child.send_signal(signal.SIGINT)
    code = child.wait(timeout=10)  # not 30 s of workers
    stderr = child.stderr.read()
    assert "Traceback" not in stderr, stderr
    assert stderr.strip() == "ecr-replicate stand-in: interrupted"
    assert code in ((130,) if presses == 1 else (130, -signal.SIGINT)), (code, stderr)
