"""``ecr-replicate local up --drop-events 100``: it says so on start and names each push whose
event it dropped; in a second terminal (the exported environment) ``ecr-replicate reconcile``
heals what was lost and ``verify`` then exits 0. A user's session, end to end."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ecr_replicate_local.sample_images import push_image
from tests.e2e.conftest import REPO_ROOT, processes_using, run_cli
from tests.e2e.test_local_up import read_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_up_drops_push_events_and_reconcile_heals_them(data_dir: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ecr_replicate_cli.main", "local", "up", "--regions", "us-east-1,eu-west-1",
         "--data", str(data_dir), "--drop-events", "100", "--drop-seed", "1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        lines = read_until(process, "Replicating every push until Ctrl-C.", 90)
        text = "\n".join(lines)
        assert "Dropping 100% of push events before they reach the workflow (--drop-events, seed 1)" in text
        exports = dict(re.findall(r"^\s+export (\w+)=(.*)$", text, re.M))
        env = {name: shlex.split(value)[0] for name, value in exports.items()}
        reconcile_arn = env["ECR_REPLICATE_RECONCILE_STATE_MACHINE_ARN"]
        assert reconcile_arn.endswith(":stateMachine:ecr-replicate-reconcile")
        source = re.search(r"^\s+us-east-1\s+https://\S+\s+registry (127\.0\.0\.1:\d+)", text, re.M)
        assert source is not None
        pushed = push_image(source.group(1), "team/lost", "v1", layer_size=1024, seed=41)
        dropped = f"dropped the event of push team/lost:v1 ({pushed.digest[:19]}): not replicated"
        read_until(process, dropped, 60)

        verify = run_cli("verify", env=env, timeout=120)
        assert verify.returncode == 1
        assert "team/lost:v1" in verify.stdout and "eu-west-1=missing" in verify.stdout
        reconcile = run_cli("reconcile", env=env, timeout=180)
        assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
        assert "HEALED: 1 of 1 image(s) from us-east-1 drifted; 1 healed, 0 still failing" in reconcile.stdout
        verify = run_cli("verify", env=env, timeout=120)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert processes_using(data_dir) == []
