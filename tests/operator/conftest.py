"""A local deployment holding 50 images in 5 repositories, pushed *before* anything replicates.

Real registries per region behind their ECR fronts, the local AWS running both state machines of
template.yaml with IAM, and the registries' notifications recorded in the local ECR
(``record_push``), as ECR itself does on AWS. Pushes do not start replication here: these are the
images that existed before deployment, which ``backfill`` is for.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from ecr_replicate_cli.main import main
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.local_aws import LocalAws
from ecr_replicate_local.regions import LocalRegions
from ecr_replicate_local.sample_images import PushedImage, push_image
from ecr_replicate_local.webhook import WebhookBridge

SOURCE = "us-east-1"
TARGETS = ["eu-west-1", "ap-southeast-1"]
REPOSITORIES = [f"team/svc-{n}" for n in range(5)]
EARLY_TAGS = [f"v{n}" for n in range(8)]  # 40 images pushed first
LATE_TAGS = ["rc1", "rc2"]  # 10 images pushed after `since`


@dataclass
class Deployment:
    local: LocalEnvironment
    regions: LocalRegions
    aws: LocalAws
    bridge: WebhookBridge
    images: dict[str, PushedImage] = field(default_factory=dict)  # "repo:tag" -> pushed
    since: datetime | None = None

    def host(self, region: str) -> str:
        """The bare registry of ``region`` (what tests write to, as people would)."""
        return self.regions.registry(region).host

    def recorded(self, region: str, name: str, digest: str, *, present: bool = True) -> None:
        """Wait until a write to a bare registry has reached the local ECR of its region."""
        self.local.wait_recorded(name, digest, region, present=present)

    def cli(self, *args: str) -> tuple[int, str]:
        out = io.StringIO()
        with redirect_stdout(out):
            code = main(list(args))
        return code, out.getvalue()


def _push_all(env: Deployment, tags: list[str], seed: int) -> None:
    for r, repository in enumerate(REPOSITORIES):
        for t, tag in enumerate(tags):
            pushed = push_image(
                env.host(SOURCE), repository, tag, layer_count=1, layer_size=256, seed=seed + 100 * r + t
            )
            env.images[f"{repository}:{tag}"] = pushed


def _wait_recorded(env: Deployment, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(env.bridge.events) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.bridge.wait_idle(30)
    assert not env.bridge.errors, env.bridge.errors
    assert len(env.bridge.events) >= count


@pytest.fixture(scope="package")
def deployment() -> Iterator[Deployment]:
    with LocalEnvironment(SOURCE, TARGETS, deliver_events=False) as local:
        assert local.regions is not None
        env = Deployment(local, local.regions, local.aws, local.bridge)
        _push_all(env, EARLY_TAGS, seed=1)
        _wait_recorded(env, len(REPOSITORIES) * len(EARLY_TAGS))
        time.sleep(1.1)  # ECR's imagePushedAt has second resolution
        env.since = datetime.now(UTC).replace(microsecond=0)
        _push_all(env, LATE_TAGS, seed=5000)
        _wait_recorded(env, len(REPOSITORIES) * (len(EARLY_TAGS) + len(LATE_TAGS)))
        yield env


@pytest.fixture
def operator_env(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """The environment `ecr-replicate local up` prints, applied to this process."""
    for name, value in deployment.aws.environment().items():
        monkeypatch.setenv(name, value)
    return deployment
