"""``ecr-replicate local up`` as a person uses it: the ``PATH`` export for a second terminal, the
execution each push started, a region whose registry died (reported, restarted with SIGUSR1),
and Ctrl-C in the middle of a copy: the process ends at once and says one line, nothing else."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ecr_replicate_local.sample_images import push_image
from tests.e2e.conftest import REPO_ROOT, processes_using

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ARN = r"arn:aws:states:[a-z0-9-]+:\d{12}:execution:\S+"


class Up:
    """``local up`` in its own process group (as a terminal runs it); stdout read by a thread."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ecr_replicate_cli.main", "local", "up",
             "--regions", "us-east-1,eu-west-1", "--data", str(data_dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=REPO_ROOT, start_new_session=True, env={**os.environ, "ECR_REPLICATE_LOG_DIR": str(log_dir)},
        )  # fmt: skip
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    found = re.search(pattern, line)
                    if found:
                        return found
                left = deadline - time.monotonic()
                assert left > 0, f"no {pattern!r} in:\n" + "\n".join(self.lines)
                self._changed.wait(left)

    def ctrl_c(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)  # what a terminal sends to its foreground group


def test_a_session_of_local_up(data_dir: Path, tmp_path: Path) -> None:
    up = Up(data_dir, tmp_path / "logs")
    try:
        up.wait_for("Replicating every push until Ctrl-C.")
        text = "\n".join(up.lines)
        # the second terminal finds ecr-replicate through the PATH line, printed first
        exports = re.findall(r"^  export (\w+)=", text, re.M)
        assert exports[0] == "PATH"
        path_dir = re.search(r"^  export PATH=(\S+):\"\$PATH\"$", text, re.M).group(1)  # type: ignore[union-attr]
        assert (Path(path_dir) / "ecr-replicate").is_file()
        assert "ECR_REPLICATE_PROGRESS_BUCKET" in exports
        log_file = Path(re.search(r"^Logs of the functions and the twin: (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]
        assert log_file.parent == tmp_path / "logs"
        source = re.search(r"^\s+us-east-1\s+https://\S+\s+registry (\S+)", text, re.M).group(1)  # type: ignore[union-attr]

        # each push names the execution it started
        push_image(source, "team/up", "v1", layer_size=2048, seed=401)
        up.wait_for(rf"^push team/up:v1 \(sha256:[0-9a-f]{{12}}\) started {ARN}$")
        up.wait_for(r"^SUCCEEDED: team/up:v1")

        # a region whose registry dies is reported with the way to restart it; SIGUSR1 restarts it
        (registry_pid,) = processes_using(data_dir / "eu-west-1")
        os.kill(registry_pid, signal.SIGKILL)  # the registry this test's `local up` started
        report = up.wait_for(r"^region eu-west-1: its registry \(127\.0\.0\.1:(\d+), pid (\d+)\) exited .*"
                             r"Restart it with: kill -USR1 (\d+)$")  # fmt: skip
        assert int(report.group(2)) == registry_pid and int(report.group(3)) == up.process.pid
        os.kill(up.process.pid, signal.SIGUSR1)
        restarted = up.wait_for(r"^region eu-west-1: registry restarted on 127\.0\.0\.1:(\d+) \(pid (\d+)\)")
        assert restarted.group(1) == report.group(1)  # same port: REGISTRY_ENDPOINTS stays true
        assert processes_using(data_dir / "eu-west-1") == [int(restarted.group(2))]

        # Ctrl-C while a copy runs: ends at once, one line on stderr, no log line on the terminal
        push_image(source, "team/big", "v1", layer_count=4, layer_size=64 * 1024 * 1024, compressed=False,
                   seed=402)  # fmt: skip
        up.wait_for(rf"^push team/big:v1 \(sha256:[0-9a-f]{{12}}\) started {ARN}$")
        up.ctrl_c()
        up.process.wait(timeout=10)  # was ~20 s: moto's interpreter threads outlived the stop
    finally:
        if up.process.poll() is None:
            up.process.send_signal(signal.SIGTERM)
            up.process.wait(30)
    assert up.process.returncode == 130
    assert up.process.stderr is not None
    stderr = up.process.stderr.read()
    assert stderr == "ecr-replicate local: interrupted\n", stderr
    stdout = "\n".join(up.lines)
    assert '{"level"' not in stdout and "Traceback" not in stdout and "State.Runtime" not in stdout
    assert '{"level"' in log_file.read_text()  # the functions' JSON lines went to the log file
    assert processes_using(data_dir) == []  # every registry stopped
