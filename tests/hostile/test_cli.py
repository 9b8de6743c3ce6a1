"""Item 4: ``ecr-replicate copy`` with --timeout, --authfile, the docker:// prefix skopeo users
type, and a reference without a registry host said plainly, at once (issue 15)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.hostile_registry import OCI_MANIFEST, FakeRegistry, Reply, drip

pytestmark = pytest.mark.timeout(60)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecr_replicate_cli.main", "copy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_docker_transport_prefix_is_accepted(servers) -> None:
    source, target = servers(FakeRegistry), servers(FakeRegistry)
    image = source.push_image("team/app", "v1")
    done = cli(
        "--plain-http", "-q", f"docker://{source.host}/team/app:v1", f"docker://{target.host}/team/app:v1"
    )
    assert done.returncode == 0, done.stderr
    assert target.tag_of("team/app", "v1") == image.digest


@pytest.mark.parametrize("reference", ["team/app:v1", "app:v1", "docker://team/app:v1"])
def test_a_reference_without_a_registry_host_says_so_at_once(reference: str) -> None:
    start = time.monotonic()
    line = one_line_error(cli(reference, "127.0.0.1:1/team/app:v1"), 2)
    assert "registry host" in line and "missing" in line, line
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("reference", ["oci:/tmp/layout:v1", "dir:/tmp/x", "containers-storage:app:v1"])
def test_another_transport_is_refused_plainly(reference: str) -> None:
    line = one_line_error(cli(reference, "127.0.0.1:1/team/app:v1"), 2)
    assert "docker://" in line, line


def test_timeout_ends_a_dripping_source(servers) -> None:
    source = servers(FakeRegistry)
    image = source.push_image("team/app", "v1")
    source.script(
        lambda seen: seen.method == "GET" and "/manifests/" in seen.target,
        Reply(200, [("Content-Type", OCI_MANIFEST)], drip(image.manifest), delay=0.3, chunked=True),
    )
    target = servers(FakeRegistry)
    start = time.monotonic()
    line = one_line_error(cli("--plain-http", "--timeout", "2", f"{source.host}/team/app:v1",
                              f"{target.host}/team/app:v1"), 1)  # fmt: skip
    assert "DeadlineExceededError" in line, line
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf"])
def test_a_bad_timeout_is_a_usage_error(value: str) -> None:
    done = cli("--timeout", value, "127.0.0.1:1/a:v1", "127.0.0.1:1/b:v1")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_authfile_gives_each_registry_its_credentials(servers, tmp_path: Path) -> None:
    source = servers(FakeRegistry, auth=("basic", "reader", "pw-source"))
    target = servers(FakeRegistry, auth=("bearer", "writer", "pw-target"))
    image = source.push_image("team/app", "v1")
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {
        source.host: {"auth": base64.b64encode(b"reader:pw-source").decode()},
        f"http://{target.host}": {"username": "writer", "password": "pw-target"},
    }}))  # fmt: skip
    done = cli("--plain-http", "-q", "--authfile", str(authfile), f"{source.host}/team/app:v1",
               f"{target.host}/team/app:v1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert target.tag_of("team/app", "v1") == image.digest
    assert "pw-source" not in done.stderr + done.stdout


def test_a_missing_authfile_is_a_usage_error(tmp_path: Path) -> None:
    line = one_line_error(
        cli("--authfile", str(tmp_path / "absent.json"), "127.0.0.1:1/a:v1", "127.0.0.1:1/b:v1"), 2
    )
    assert "absent.json" in line
