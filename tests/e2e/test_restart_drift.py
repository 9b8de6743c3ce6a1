"""Issue 15 item 1, "a blind all-clear": ``local up --data DIR``, stopped, one target's data deleted,
started again: the local ECR reflects what the registries hold (each region's registry is read
into its ECR at start), the regions keep their ports, and ``verify`` / ``backfill --dry-run`` see
the image missing from that region."""

from __future__ import annotations

import http.client
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.sample_images import push_image
from tests.e2e.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-restart")]

SOURCE, TARGETS = "us-east-1", ["eu-west-1", "ap-southeast-1"]


def test_a_restart_sees_the_registries_as_they_are(data_dir: Path) -> None:
    with LocalEnvironment(SOURCE, TARGETS, data_dir=data_dir) as first:
        assert first.regions is not None
        pushed = push_image(first.regions.source.host, "team/app", "v1", layer_size=4096, seed=151)
        started = first.wait_for_execution("team/app", pushed.digest)
        assert first.aws.wait(started.arn)["status"] == "SUCCEEDED"
        endpoints = first.regions.endpoints()
        clean = run_cli("verify", env=first.aws.environment(), timeout=120)
        assert clean.returncode == 0, clean.stdout + clean.stderr
    shutil.rmtree(data_dir / "eu-west-1" / "data")  # one target region lost its images

    with LocalEnvironment(SOURCE, TARGETS, data_dir=data_dir) as second:
        assert second.regions is not None
        assert second.regions.endpoints() == endpoints  # the same addresses after a restart
        assert second.seeded == {SOURCE: 1, "eu-west-1": 0, "ap-southeast-1": 1}
        images = second.aws.client("ecr", SOURCE).describe_images(repositoryName="team/app")["imageDetails"]
        assert [(i["imageDigest"], i["imageTags"]) for i in images] == [(pushed.digest, ["v1"])]
        assert not second.aws.client("ecr", "eu-west-1").describe_repositories()["repositories"]
        env = second.aws.environment()
        drift = run_cli("verify", env=env, timeout=120)
        assert drift.returncode == 1, drift.stdout + drift.stderr
        assert "eu-west-1" in drift.stdout and "missing" in drift.stdout
        dry = run_cli("backfill", "--dry-run", env=env, timeout=120)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "team/app:v1" in dry.stdout and "eu-west-1" in dry.stdout
        assert "ap-southeast-1" not in dry.stdout.split("team/app:v1", 1)[1].split("\n", 1)[0]


def test_pushes_and_deletions_reach_the_local_ecr(data_dir: Path) -> None:
    with LocalEnvironment(SOURCE, TARGETS[:1], data_dir=data_dir) as env:
        assert env.regions is not None
        pushed = push_image(env.regions.source.host, "team/gone", "v1", layer_size=1024, seed=152)
        started = env.wait_for_execution("team/gone", pushed.digest)
        assert env.aws.wait(started.arn)["status"] == "SUCCEEDED"
        target = env.aws.client("ecr", "eu-west-1")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _images(target, "team/gone"):
            time.sleep(0.1)  # the target registry's notification arrives on its own time
        assert _images(target, "team/gone") == [(pushed.digest, ["v1"])]
        host, port = env.regions.registry("eu-west-1").host.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("DELETE", f"/v2/team/gone/manifests/{pushed.digest}")
        assert connection.getresponse().status == 202
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _images(target, "team/gone"):
            time.sleep(0.1)
        assert _images(target, "team/gone") == []


def _images(ecr: Any, repository: str) -> list[tuple[str, list[str]]]:
    try:
        details = ecr.describe_images(repositoryName=repository)["imageDetails"]
    except ecr.exceptions.RepositoryNotFoundException:
        return []
    return [(d["imageDigest"], sorted(d.get("imageTags", []))) for d in details]
