"""``ecr-replicate local up``: what it prints is what works. People push to the source's plain
address; the regions are https ECR fronts; the CA file and the skopeo line it prints reach a front
by hand with a token from the exported environment; a push replicates; SIGTERM stops everything."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from ecr_replicate_local.sample_images import push_image
from tests.e2e.conftest import REPO_ROOT, processes_using

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} in:\n" + "\n".join(lines))


def test_up_prints_what_works(data_dir: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ecr_replicate_cli.main", "local", "up", "--regions", "us-east-1,eu-west-1",
         "--data", str(data_dir)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        lines = read_until(process, "Replicating every push until Ctrl-C.", 90)
        text = "\n".join(lines)
        fronts = dict(
            re.findall(r"^\s+([a-z]+-[a-z]+-\d)\s+https://(127\.0\.0\.1:\d+)\s+registry", text, re.M)
        )
        pushes = dict(
            re.findall(r"^\s+([a-z]+-[a-z]+-\d)\s+https://\S+\s+registry (127\.0\.0\.1:\d+)", text, re.M)
        )
        assert set(fronts) == {"us-east-1", "eu-west-1"}
        ca_file = Path(re.search(r"\(CA: (\S+)\)", text).group(1))  # type: ignore[union-attr]
        assert ca_file.is_file()
        exports = dict(re.findall(r"^\s+export (\w+)=(.*)$", text, re.M))
        env = {name: shlex.split(value)[0] for name, value in exports.items()}
        assert env["REGISTRY_CA_FILE"] == str(ca_file)
        assert "REGISTRY_PLAIN_HTTP" not in env
        # a person pushes to the plain address it printed; the push replicates
        pushed = push_image(pushes["us-east-1"], "team/up", "v1", layer_size=2048, seed=171)
        read_until(process, "SUCCEEDED: team/up:v1", 60)
        # the printed way to reach the strict front by hand: skopeo --cert-dir, a token of one's own
        skopeo_line = next(line for line in lines if "skopeo inspect" in line)
        cert_dir = shlex.split(skopeo_line)[shlex.split(skopeo_line).index("--cert-dir") + 1]
        ecr = boto3.client(
            "ecr",
            region_name="eu-west-1",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        token = base64.b64decode(ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"])
        skopeo = shutil.which("skopeo")
        if skopeo is None:
            pytest.skip("skopeo is not installed")
        inspect = subprocess.run(
            [skopeo, "inspect", "--raw", "--cert-dir", cert_dir, "--creds", token.decode(),
             f"docker://{fronts['eu-west-1']}/team/up:v1"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert inspect.returncode == 0, inspect.stderr
        assert "sha256:" + hashlib.sha256(inspect.stdout).hexdigest() == pushed.digest
        refused = subprocess.run(  # no token: ECR's 401
            [skopeo, "inspect", "--raw", "--cert-dir", cert_dir, f"docker://{fronts['eu-west-1']}/team/up:v1"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert refused.returncode != 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert processes_using(data_dir) == []  # every registry stopped
    assert os.path.isdir(data_dir / "us-east-1")
