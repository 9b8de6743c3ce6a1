"""Red team: waits that only an outer timeout ended (each test failed before its fix).

Servers are the hostile suite's, on 127.0.0.1 (``servers`` fixture, tests/redteam/conftest.py).

The CodeBuild copy step ran the copier with no overall budget: a source that dripped a byte within
every 60 s read timeout held the build until the state machine's Task gave up after 7200 s with
States.Timeout (not retried, no typed error), instead of a DeadlineExceededError at the budget.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from ecr_replicate import codebuild_step, workflow
from tests.support.hostile_registry import FakeRegistry, Reply, drip, sha256
from tests.unit.handlers.conftest import FakeCopier, lambda_env  # noqa: F401 - fixture
from tests.unit.handlers.test_copy_image import item

pytestmark = pytest.mark.timeout(60)


def test_the_codebuild_copy_has_a_time_budget(lambda_env, monkeypatch, capsys) -> None:  # noqa: F811
    fake = FakeCopier()
    monkeypatch.setattr(workflow, "real_copier", lambda: fake)
    lambda_env.setenv("REPLICATION_ITEM", json.dumps(item()))
    assert codebuild_step.main([]) == 0
    capsys.readouterr()
    assert fake.calls, "the copier was called"
    budget = fake.calls[0].get("timeout")
    assert budget is not None and 0 < budget < 7200, f"copy budget in CodeBuild: {budget!r}"


# --- Ctrl-C during `ecr-replicate copy` waits for every blob stream to end -------------------

INTERRUPT_GRACE = 10.0


def interrupt_copy(source: FakeRegistry, target: FakeRegistry, started: Callable[[], bool]) -> None:
    """Start `ecr-replicate copy` app:v1 between the two, press Ctrl-C once ``started()``: it must
    end within INTERRUPT_GRACE with 130, one line, no traceback, and no tag in the target."""
    copy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecr_replicate_cli.main",
            "copy",
            "--plain-http",
            "--quiet",
            f"{source.host}/app:v1",
            f"{target.host}/app:v1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not started() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        copy.send_signal(signal.SIGINT)
        try:
            _, err = copy.communicate(timeout=INTERRUPT_GRACE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"Ctrl-C: `ecr-replicate copy` still running {INTERRUPT_GRACE:g} s later")
        assert copy.returncode == 130 and "interrupted" in err, (copy.returncode, err)
        assert "Traceback" not in err
        assert target.tag_of("app", "v1") is None
    finally:
        if copy.poll() is None:
            copy.kill()  # our own child, by its PID
            copy.wait(10)


def test_ctrl_c_ends_a_copy_that_streams_from_a_slow_registry(servers) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    layer = b"x" * 4096
    source.push_image("app", "v1", layers=[layer])
    source.script(  # 256 pieces, 0.2 s apart: about 50 s, each read well within the read timeout
        lambda seen: seen.method == "GET" and sha256(layer) in seen.target,
        Reply(200, [("Content-Length", str(len(layer)))], drip(layer, 16), delay=0.2),
    )
    interrupt_copy(source, target, lambda: bool(source.seen("GET", sha256(layer))))


def test_ctrl_c_ends_a_copy_whose_registries_never_answer_its_first_requests(servers) -> None:
    """The source manifest is read while the target's tag is looked up on another thread: both
    requests hang (within the read timeout), and Ctrl-C must end both."""
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    source.push_image("app", "v1")
    release = threading.Event()

    def silent(seen: Any) -> None:
        release.wait(50)  # an answer that does not come while the test runs

    try:
        source.script(lambda seen: "/manifests/" in seen.target, silent)
        target.script(lambda seen: "/manifests/" in seen.target, silent)
        interrupt_copy(source, target, lambda: bool(source.seen(contains="/manifests/")))
    finally:
        release.set()
