"""Replicas converge even when events are lost (issue 14), on the local twin driven as ``local up``
drives it: registries behind their ECR fronts, IAM enforced, the real ASL and handlers.

* ``--drop-events 50`` with a fixed seed: 10 pushed images leave drift that ``verify`` reports;
  one ``ecr-replicate reconcile`` heals it all, ``verify`` exits 0; a second reconcile copies
  nothing (no replication run, no upload at any registry).
* a referrer (a manifest whose ``subject`` is an image) pushed after its image reaches every
  target by its ``ECR Referrer Action`` event, and through reconcile when that event is lost.
* a tag deleted in the source is reported by reconcile and kept in the targets.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import pytest

from ecr_replicate.oci.describe import head_digest
from ecr_replicate_cli.main import main
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.sample_images import PushedImage, Pusher, push_image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SOURCE, TARGETS = "us-east-1", ["eu-west-1", "ap-southeast-1"]
REPOSITORY = "team/app"
DROP_SEED = 7  # with 50%: 7 of the 10 push events below are lost
SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    """``ecr-replicate local up --drop-events 50 --drop-seed 7``, as an object."""
    with LocalEnvironment(SOURCE, TARGETS, drop_events=50, drop_seed=DROP_SEED) as environment:
        yield environment


@pytest.fixture
def cli(env: LocalEnvironment, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``ecr-replicate ARGS`` with the environment ``local up`` prints: (exit status, stdout)."""
    exported = env.aws.environment()
    assert exported["ECR_REPLICATE_RECONCILE_STATE_MACHINE_ARN"].endswith(
        ":stateMachine:ecr-replicate-reconcile"
    )
    for name, value in exported.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        with redirect_stdout(out):
            code = main(list(args))
        return code, out.getvalue()

    return run


def settle(env: LocalEnvironment, pushed: list[PushedImage]) -> None:
    """Every push recorded in the source's ECR and every run its event started ended."""
    for image in pushed:
        env.wait_recorded(image.repository, image.digest)
    assert env.bridge.wait_idle(30)
    for started in list(env.executions):
        env.aws.wait(started.arn, timeout=120)


def digest_in(env: LocalEnvironment, region: str, reference: str) -> str | None:
    credentials, config = env.operator_registry_access()
    return head_digest(f"{env.front_host(region)}/{REPOSITORY}{reference}", credentials, config=config)


def replication_runs(env: LocalEnvironment) -> set[str]:
    sfn = env.sfn()
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=env.aws.state_machine_arn)
    return {e["executionArn"] for page in pages for e in page["executions"]}


def uploads(env: LocalEnvironment) -> list[Any]:
    """Writes any registry answered since the journal was cleared (blob uploads, manifest PUTs)."""
    return list(env.fronts.journal.entries(lambda e: e.method in ("POST", "PATCH", "PUT")))


def reconcile_notifications(env: LocalEnvironment) -> list[dict[str, Any]]:
    return [m for m in env.aws.notifications() if m.get("kind") == "reconcile"]


def test_lost_push_events_leave_drift_that_one_reconcile_heals(env: LocalEnvironment, cli: Any) -> None:
    pushed = [
        push_image(env.push_host(), REPOSITORY, f"v{n}", fmt="oci", layer_count=1, layer_size=512, seed=n)
        for n in range(10)
    ]
    settle(env, pushed)
    lost = {event["detail"]["image-tag"] for event in env.dropped}
    assert len(lost) == 7 and len(env.executions) == 3  # the seed decides which: the same every run
    assert {e.event["detail"]["image-tag"] for e in env.executions} == {f"v{n}" for n in range(10)} - lost

    code, report = cli("verify")
    assert code == 1
    drifted = {line.split()[0] for line in report.splitlines() if "=missing" in line}
    assert drifted == {f"{REPOSITORY}:{tag}" for tag in lost}
    mails_before = len([m for m in env.aws.notifications() if m.get("kind") != "reconcile"])

    code, out = cli("reconcile")
    assert code == 0, out
    assert "drift: 7 of 10 image(s) drifted (eu-west-1 7, ap-southeast-1 7)" in out
    assert "HEALED: 7 of 10 image(s) from us-east-1 drifted; 7 healed, 0 still failing" in out
    code, report = cli("verify")
    assert code == 0, report
    assert report.strip().endswith("20 same -> in sync")
    for image in pushed:
        for region in TARGETS:
            assert digest_in(env, region, f":{image.tag}") == image.digest
    (mail,) = reconcile_notifications(env)  # one notification for the run, none per image
    assert mail["status"] == "HEALED" and mail["drifted"] == 7 and mail["healed"] == 7
    assert len([m for m in env.aws.notifications() if m.get("kind") != "reconcile"]) == mails_before

    runs = replication_runs(env)
    env.fronts.journal.clear()
    code, out = cli("reconcile")
    assert code == 0 and "IN SYNC: 10 image(s) from us-east-1 are in every target region" in out
    assert replication_runs(env) == runs  # nothing replicated...
    assert uploads(env) == []  # ...and not a byte written to any registry
    reads = env.fronts.journal.entries(lambda e: "/blobs/" in e.path)
    assert reads == []  # the drift check reads no blob, only manifests (HEAD)


def test_a_referrer_pushed_after_its_image_reaches_every_target_by_its_event(env: LocalEnvironment) -> None:
    env.dropper.percent = 0.0
    image = push_image(env.push_host(), REPOSITORY, "signed", fmt="oci", layer_size=256, seed=100)
    settle(env, [image])
    signature = push_image(
        env.push_host(), REPOSITORY, None, fmt="oci", layer_count=1, layer_size=128, seed=101,
        subject=image, config_media_type=SIGNATURE_TYPE,
    )  # fmt: skip
    settle(env, [signature])
    (started,) = [s for s in env.executions if s.event["detail"]["image-digest"] == signature.digest]
    assert started.event["detail-type"] == "ECR Referrer Action"
    result = env.aws.wait(started.arn)
    assert result["status"] == "SUCCEEDED"
    regions = {r["region"]: r["status"] for r in json.loads(result["output"])["regions"]}
    assert regions == dict.fromkeys(TARGETS, "SUCCEEDED")
    for region in TARGETS:
        assert digest_in(env, region, f"@{signature.digest}") == signature.digest


def test_a_referrer_whose_event_is_lost_is_healed_by_reconcile(env: LocalEnvironment, cli: Any) -> None:
    env.dropper.percent = 0.0
    image = push_image(env.push_host(), REPOSITORY, "attested", fmt="oci", layer_size=256, seed=200)
    settle(env, [image])
    env.dropper.percent = 100.0
    try:
        sbom = push_image(
            env.push_host(), REPOSITORY, None, fmt="oci", layer_count=1, layer_size=128, seed=201,
            subject=image, config_media_type="application/spdx+json",
        )  # fmt: skip
        settle(env, [sbom])
    finally:
        env.dropper.percent = 0.0
    assert env.dropped[-1]["detail"]["image-digest"] == sbom.digest
    assert env.dropped[-1]["detail-type"] == "ECR Referrer Action"
    code, report = cli("verify")
    assert code == 1
    assert f"{REPOSITORY}@{sbom.digest[:19]}" in report and f"referrer of {image.digest[:19]}" in report
    code, out = cli("reconcile")
    assert code == 0, out
    assert "HEALED: 1 of" in out
    for region in TARGETS:
        assert digest_in(env, region, f"@{sbom.digest}") == sbom.digest
    assert cli("verify")[0] == 0


def test_a_tag_deleted_in_the_source_is_reported_and_kept_in_the_targets(
    env: LocalEnvironment, cli: Any
) -> None:
    env.dropper.percent = 0.0
    old = push_image(env.push_host(), REPOSITORY, "old", fmt="oci", layer_size=256, seed=300)
    settle(env, [old])
    assert digest_in(env, "eu-west-1", ":old") == old.digest
    Pusher(env.push_host()).delete_manifest(REPOSITORY, old.digest)
    env.wait_recorded(REPOSITORY, old.digest, present=False)
    for region in TARGETS:
        env.wait_recorded(REPOSITORY, old.digest, region)
    code, out = cli("reconcile", "--dry-run")
    assert code == 0 and "DRY RUN: 0 of" in out
    assert f"{REPOSITORY}:old" in out and "not in the source" in out
    code, out = cli("reconcile")
    assert code == 0, out
    assert (
        "Deleted in the source, kept in the targets: eu-west-1 team/app:old; ap-southeast-1 team/app:old"
        in out
    )
    for region in TARGETS:
        assert digest_in(env, region, ":old") == old.digest  # never deleted
    assert os.environ["ECR_REPLICATE_RECONCILE_STATE_MACHINE_ARN"]
