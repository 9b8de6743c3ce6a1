"""A local deployment holding 50 images in 5 repositories, pushed *before* anything replicates.

Real registries per region, moto's Step Functions running both state machines of template.yaml,
and the webhook bridge recording every push to the source in moto's ECR (``record_push``), as
ECR itself does on AWS. Pushes do not start replication here: these are the images that existed
before deployment, which ``backfill`` is for.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from ecr_replicate_cli.main import main
from ecr_replicate_local.ecr_mirror import record_push
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
    regions: LocalRegions
    aws: LocalAws
    bridge: WebhookBridge
    images: dict[str, PushedImage] = field(default_factory=dict)  # "repo:tag" -> pushed
    since: datetime | None = None

    def host(self, region: str) -> str:
        return self.regions.registry(region).host

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
    holder: dict[str, Any] = {}

    def on_push(event: dict[str, Any]) -> None:
        record_push(holder["aws"].client("ecr"), holder["source"], event)

    bridge = WebhookBridge(on_push, account="123456789012", region=SOURCE).start()
    regions = aws = None
    try:
        regions = LocalRegions(SOURCE, TARGETS, notification_url=bridge.url).start()
        holder["source"] = regions.source.host
        aws = LocalAws(
            regions=regions.endpoints(), source_region=SOURCE, parameters={"CopyRuntime": "lambda"}
        )
        aws.start()
        holder["aws"] = aws
        env = Deployment(regions, aws, bridge)
        _push_all(env, EARLY_TAGS, seed=1)
        _wait_recorded(env, len(REPOSITORIES) * len(EARLY_TAGS))
        time.sleep(1.1)  # ECR's imagePushedAt has second resolution
        env.since = datetime.now(UTC).replace(microsecond=0)
        _push_all(env, LATE_TAGS, seed=5000)
        _wait_recorded(env, len(REPOSITORIES) * (len(EARLY_TAGS) + len(LATE_TAGS)))
        yield env
    finally:
        if aws is not None:
            aws.stop()
        if regions is not None:
            regions.cleanup()
        bridge.stop()


@pytest.fixture
def operator_env(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    """The environment `ecr-replicate local up` prints, applied to this process."""
    for name, value in deployment.aws.environment().items():
        monkeypatch.setenv(name, value)
    return deployment
