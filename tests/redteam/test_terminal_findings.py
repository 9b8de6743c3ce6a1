"""Red team, as a person at a terminal: odd arguments and environments (each test FAILS today).

Expected of every command: one clear line, exit 2 for a usage or input error, no traceback,
nothing left running. Subprocesses run ``python -m ecr_replicate_cli.main`` (the installed
``ecr-replicate``) with a timeout; the registries a test starts are stopped by PID in ``finally``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ecr_replicate.errors import ReplicationError
from ecr_replicate_cli.main import main
from ecr_replicate_local.regions import LocalRegions, parse_regions

pytestmark = pytest.mark.timeout(120)

CLI = [sys.executable, "-m", "ecr_replicate_cli.main"]


def run_cli(
    *args: str, timeout: float = 90, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        preexec_fn=preexec_fn,
    )


# --- `ecr-replicate --help | head`: the top-level parser writes outside main's handler ---------


@pytest.mark.parametrize("args", [["--help"], ["-h"]])
def test_top_level_help_into_a_closed_pipe_has_no_traceback(args: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before a byte is written (`| head -c0`, `| true`)
    try:
        done = subprocess.run(
            [*CLI, *args], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60, check=False
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr, done.stderr[-400:]
    assert done.returncode in (0, 141), done.returncode


# --- `copy --jobs 1000000000`: unbounded, the copy allocates until memory runs out -------------


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    limit = 1536 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_a_huge_jobs_value_is_a_usage_error() -> None:
    try:
        done = run_cli(
            "copy",
            "--plain-http",
            "--timeout",
            "5",
            "--jobs",
            "1000000000",
            "127.0.0.1:9/team/app:v1",
            "127.0.0.1:9/team/copy:v1",
            timeout=25,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:  # the child is killed by subprocess.run
        pytest.fail("--jobs 1000000000: still allocating after 25 s (a usage error takes < 1 s)")
    assert done.returncode == 2 and "--jobs" in done.stderr, (done.returncode, done.stderr[-300:])
    assert "Traceback" not in done.stderr


# --- `copy`: a configuration error from the command line exits 1, not 2 --------------------


@pytest.mark.parametrize("case", ["ca-with-plain-http", "authfile-not-json"])
def test_copy_option_errors_exit_2(case: str, tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk"
    junk.write_text("not json\n")
    options = {
        "ca-with-plain-http": ["--plain-http", "--src-ca-file", str(junk)],
        "authfile-not-json": ["--plain-http", "--authfile", str(junk)],
    }[case]
    code = main(["copy", *options, "--timeout", "3", "127.0.0.1:9/team/app:v1", "127.0.0.1:9/team/copy:v1"])
    err = capsys.readouterr().err
    assert code == 2, (code, err)


# --- `local demo|up --data` -----------------------------------------------------------------


def test_local_data_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("a file\n")
    done = run_cli("local", "demo", "--data", str(not_a_dir), timeout=110)
    assert done.returncode == 2, (done.returncode, done.stderr[-300:])
    assert "internal error" not in done.stderr


def test_local_data_under_a_file_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    regions = LocalRegions("us-east-1", ["eu-west-1"], data_dir=tmp_path / "file" / "data")
    try:
        with pytest.raises(ReplicationError):
            regions.start()
    finally:
        regions.stop()


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "null"])
def test_a_ports_file_that_is_not_an_object_is_a_typed_error(content: str, tmp_path: Path) -> None:
    (tmp_path / "ports.json").write_text(content)
    with pytest.raises(ReplicationError):
        LocalRegions("us-east-1", ["eu-west-1"], data_dir=tmp_path)


def test_local_refuses_a_ports_file_that_is_not_an_object_before_starting(tmp_path: Path) -> None:
    (tmp_path / "ports.json").write_text("[1, 2]")
    done = run_cli("local", "up", "--data", str(tmp_path), timeout=60)
    assert done.returncode == 2, (done.returncode, done.stderr[-300:])
    assert done.stderr.strip().splitlines() == [
        f"ecr-replicate local: {tmp_path / 'ports.json'} holds a JSON list, not an object of region ports: "
        "remove it"
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ports.json"], "nothing started"


def test_a_ports_file_that_cannot_be_written_leaves_nothing_running(tmp_path: Path) -> None:
    (tmp_path / "ports.json").mkdir()
    regions = LocalRegions("us-east-1", ["eu-west-1"], data_dir=tmp_path)
    try:
        with pytest.raises(Exception) as info, regions:  # which exception is part of the finding
            pass
        running = [
            region
            for region, registry in regions.registries.items()
            if registry.process is not None and registry.process.poll() is None
        ]
        assert running == [], f"left running after {type(info.value).__name__}: {running}"
        assert isinstance(info.value, ReplicationError), type(info.value).__name__
    finally:
        regions.stop()


# --- `local --regions` with names no AWS region has -----------------------------------------


def test_regions_no_aws_partition_has_are_refused_at_once() -> None:
    with pytest.raises(ReplicationError):
        parse_regions("aa-bb-1,cc-dd-2")


def test_ports_file_content_is_read_as_the_docstring_says(tmp_path: Path) -> None:
    """Held: an object with bad values is filtered, not trusted (port 0, 70000, strings dropped)."""
    (tmp_path / "ports.json").write_text(json.dumps({"us-east-1": 0, "eu-west-1": 70000, "x": "y"}))
    regions = LocalRegions("us-east-1", ["eu-west-1"], data_dir=tmp_path)
    assert all(registry.port == 0 or registry.port < 65536 for registry in regions.registries.values())
