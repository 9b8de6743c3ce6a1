"""Issue 16: every template parameter, set away from its default, does locally what it does on
AWS, through ``local up``'s own code path (its parser, :class:`LocalRun`, the environment it
builds, its push report) and the same handlers, ASL and template as deployed.

One twin for the module: three target regions and every parameter overridden at once (the
parameters do not interfere: filters decide in Plan, the rest after it). The contrast (defaults,
``--runtime lambda``) is tests/e2e/test_parameters_defaults.py.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from ecr_replicate_cli import status
from ecr_replicate_cli.region_rows import COPYING, ENSURING, WAITING, region_rows
from ecr_replicate_cli.status_table import headline
from ecr_replicate_local.sample_images import PushedImage, push_image
from tests.support.local_up import (
    PushReport,
    local_up,
    max_regions_at_once,
    operator_client,
    plan_output,
    status_output,
)
from tests.unit.handlers.test_ensure_repository import LIFECYCLE as LIFECYCLE_TEXT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.xdist_group("parameters-tuned")]

SOURCE = "us-east-1"
TARGETS = ["eu-west-1", "ap-southeast-1", "us-west-2"]
THRESHOLD = 65536
ARGV = (
    "--regions", ",".join([SOURCE, *TARGETS]),
    "--parameter-overrides",
    "RepositoryInclude=team/*,tools/*", "RepositoryExclude=team/secret-*",
    "TagInclude=v*,release-*", "TagExclude=*-rc*",
    "MirrorRepositorySettings=true",
    f"LambdaMaxImageBytes={THRESHOLD}", "MaxConcurrency=1",
    "CloudTrailTrigger=true", "NotificationEmail=ops@example.com", "LogRetentionDays=7",
    "ReconcileSchedule=none",
)  # fmt: skip
LIFECYCLE = json.loads(LIFECYCLE_TEXT)


@dataclass
class Twin:
    env: Any
    report: PushReport
    busiest_snapshot: int = 0  # most regions ensuring/copying in one `status` snapshot of team/api:v2
    waiting_seen: bool = False  # a `status` snapshot showed a region waiting for its turn
    waiting_headline: str = ""  # `status`'s headline then
    runs: dict[str, tuple[str, str]] = field(default_factory=dict)  # image -> (ECR run, CloudTrail run)


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with local_up(*ARGV) as (run, env, report):
        assert run.parameters.values["MaxConcurrency"] == "1"
        yield Twin(env, report)


def push_and_finish(
    twin: Twin, repository: str, tag: str, *, layer_size: int = 2048, seed: int
) -> PushedImage:
    """Push to the source's registry (as people do); wait for both runs the push starts: the ECR
    event's, then CloudTrail's PutImage event's (CloudTrailTrigger=true)."""
    image = push_image(twin.env.push_host(), repository, tag, layer_size=layer_size, seed=seed)
    first = twin.env.wait_for_execution(repository, image.digest)
    twin.env.aws.wait(first.arn, timeout=300)
    second = twin.env.wait_for_execution(repository, image.digest, 120, via_cloudtrail=True)
    twin.env.aws.wait(second.arn, timeout=300)
    twin.runs[f"{repository}:{tag}"] = (first.arn, second.arn)
    return image


@pytest.fixture(scope="module")
def mirrored(twin: Twin) -> PushedImage:
    """team/api created by the operator with settings (as `aws ecr create-repository` against the
    printed endpoint would), then team/api:v2 pushed; `status` watched while it runs."""
    ecr = operator_client(twin.env, "ecr")
    ecr.create_repository(
        repositoryName="team/api",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
        tags=[{"Key": "owner", "Value": "platform"}],
    )
    ecr.put_lifecycle_policy(repositoryName="team/api", lifecyclePolicyText=LIFECYCLE_TEXT)
    done = threading.Event()

    def watch() -> None:  # what `ecr-replicate status` shows while the run goes
        sfn = twin.env.sfn()
        while not done.is_set():
            for started in list(twin.env.executions):
                if started.repository == "team/api" and started.tag == "v2" and not started.via_cloudtrail:
                    view = status.snapshot(sfn, started.arn)
                    rows = view.rows
                    twin.busiest_snapshot = max(
                        twin.busiest_snapshot, sum(1 for r in rows if r.state in (ENSURING, COPYING))
                    )
                    if any(r.state == WAITING for r in rows) and not twin.waiting_seen:
                        twin.waiting_seen, twin.waiting_headline = True, headline(view)
            done.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return push_and_finish(twin, "team/api", "v2", seed=1601)
    finally:
        done.set()
        watcher.join(10)


@pytest.fixture(scope="module")
def filtered(twin: Twin) -> dict[str, str]:
    """One push per filter, each stopped by it: image -> its run's ARN."""
    pushes = {
        "other/tool:v1": 1611,
        "team/secret-db:v1": 1612,
        "team/app:latest": 1613,
        "team/app:v3-rc1": 1614,
    }
    for name, seed in pushes.items():
        repository, tag = name.split(":")
        push_and_finish(twin, repository, tag, seed=seed)
    return {name: twin.runs[name][0] for name in pushes}


def skipped_with(twin: Twin, filtered: dict[str, str], image: str, reason: str, monkeypatch: Any) -> None:
    """The run of ``image`` ended SKIPPED with ``reason``: in local up's push report, in the run's
    output, in `ecr-replicate status`; nothing reached a target."""
    line = twin.report.line(rf"^SKIPPED: {re.escape(image)} \(sha256:[0-9a-f]{{12}}\): ")
    assert line.endswith(f": {reason}"), line
    arn = filtered[image]
    output = json.loads(twin.env.aws.wait(arn)["output"])
    assert (output["status"], output["reason"]) == ("SKIPPED", reason)
    assert f"SKIPPED: {image}: {reason}" in status_output(twin.env, arn, monkeypatch)
    repository, tag = image.split(":")
    for region in TARGETS:
        ecr = operator_client(twin.env, "ecr", region)
        try:
            images = ecr.describe_images(repositoryName=repository)["imageDetails"]
        except ecr.exceptions.RepositoryNotFoundException:
            images = []
        assert not [i for i in images if tag in i.get("imageTags", [])], region


def test_repository_include(twin: Twin, filtered: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "repository 'other/tool' matches no include pattern (team/*, tools/*)"
    skipped_with(twin, filtered, "other/tool:v1", reason, monkeypatch)


def test_repository_exclude(twin: Twin, filtered: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "repository 'team/secret-db' matches exclude pattern 'team/secret-*'"
    skipped_with(twin, filtered, "team/secret-db:v1", reason, monkeypatch)


def test_tag_include(twin: Twin, filtered: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "tag 'latest' matches no include pattern (v*, release-*)"
    skipped_with(twin, filtered, "team/app:latest", reason, monkeypatch)


def test_tag_exclude(twin: Twin, filtered: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "tag 'v3-rc1' matches exclude pattern '*-rc*'"
    skipped_with(twin, filtered, "team/app:v3-rc1", reason, monkeypatch)


def test_target_regions(twin: Twin, mirrored: PushedImage) -> None:
    """The targets the functions are configured with are local up's --regions, and the run
    copies to exactly those."""
    for spec in twin.env.aws.functions.values():
        assert spec.environment["TARGET_REGIONS"] == ",".join(TARGETS)
    rows = region_rows(twin.env.aws.history(twin.runs["team/api:v2"][0]))
    assert [row.region for row in rows] == TARGETS
    assert {row.state for row in rows} == {"done"}


def test_mirror_repository_settings(twin: Twin, mirrored: PushedImage) -> None:
    """The source repository's settings, set through the local ECR API, are in every target."""
    for region in TARGETS:
        ecr = operator_client(twin.env, "ecr", region)
        (repo,) = ecr.describe_repositories(repositoryNames=["team/api"])["repositories"]
        assert repo["imageTagMutability"] == "IMMUTABLE", region
        assert repo["imageScanningConfiguration"] == {"scanOnPush": True}, region
        tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
        assert {"Key": "owner", "Value": "platform"} in tags, region
        lifecycle = ecr.get_lifecycle_policy(repositoryName="team/api")["lifecyclePolicyText"]
        assert json.loads(lifecycle) == LIFECYCLE, region
        (detail,) = ecr.describe_images(repositoryName="team/api", imageIds=[{"imageTag": "v2"}])[
            "imageDetails"
        ]
        assert detail["imageDigest"] == mirrored.digest


def test_copy_runtime_auto_picks_codebuild_above_lambda_max_image_bytes(twin: Twin) -> None:
    """CopyRuntime=auto (the default) with LambdaMaxImageBytes lowered: the small image is copied
    by the Lambda, the one above the threshold by CodeBuild; local up's report says which."""
    small = push_and_finish(twin, "tools/small", "v1", layer_size=2048, seed=1621)
    big = push_and_finish(twin, "tools/big", "v1", layer_size=THRESHOLD, seed=1622)
    assert sum(size for _, size in small.blobs) < THRESHOLD < sum(size for _, size in big.blobs)
    for image, runtime, shown in ((small, "lambda", "Lambda"), (big, "codebuild", "CodeBuild")):
        name = f"tools/{'small' if image is small else 'big'}:v1"
        history = twin.env.aws.history(twin.runs[name][0])
        assert {item["runtime"] for item in plan_output(history)["items"]} == {runtime}
        assert {row.runtime for row in region_rows(history)} == {runtime}
        entered = {e["stateEnteredEventDetails"]["name"] for e in history if e["type"] == "TaskStateEntered"}
        assert f"Copy image ({shown})" in entered
        line = twin.report.line(
            rf"^SUCCEEDED: {re.escape(name)} \(sha256:[0-9a-f]{{12}}\), copied in {shown}$"
        )
        assert "via CloudTrail" not in line


def test_max_concurrency(twin: Twin, mirrored: PushedImage, monkeypatch: pytest.MonkeyPatch) -> None:
    """MaxConcurrency=1 with three targets: one region at a time, in the execution history (the
    Map's iterations never overlap) and in `status` (one region busy, the others waiting, and the
    bound said in its headline and its plain first line)."""
    arn = twin.runs["team/api:v2"][0]
    history = twin.env.aws.history(arn)
    assert plan_output(history)["maxConcurrency"] == 1
    assert len([e for e in history if e["type"] == "MapIterationStarted"]) == len(TARGETS)
    assert max_regions_at_once(history) == 1
    assert twin.busiest_snapshot == 1
    assert twin.waiting_seen
    assert re.search(
        r"^\S+: RUNNING \([0-2]/3 regions done, at most 1 region at a time\)$", twin.waiting_headline
    )
    first = status_output(twin.env, arn, monkeypatch).splitlines()[0]
    assert re.fullmatch(r"execution \S+: SUCCEEDED \(at most 1 region at a time\)", first), first


def test_cloudtrail_trigger(twin: Twin, mirrored: PushedImage, monkeypatch: pytest.MonkeyPatch) -> None:
    """CloudTrailTrigger=true: the push also arrives as CloudTrail's PutImage event, which starts
    a second run, as on AWS; the image is copied once: the second run finds it in every target."""
    first, second = twin.runs["team/api:v2"]
    ran = json.loads(twin.env.aws.wait(second)["input"])
    assert (ran["detail-type"], ran["detail"]["eventName"]) == ("AWS API Call via CloudTrail", "PutImage")
    assert ran["detail"]["responseElements"]["image"]["imageId"] == {
        "imageDigest": mirrored.digest,
        "imageTag": "v2",
    }
    copied = {
        arn: {row.region: row for row in region_rows(twin.env.aws.history(arn))} for arn in (first, second)
    }
    assert all(copied[first][region].bytes_copied > 0 for region in TARGETS)
    assert all(copied[second][region].state == "done" for region in TARGETS)
    assert [copied[second][region].bytes_copied for region in TARGETS] == [0, 0, 0]
    twin.report.line(r"^push team/api:v2 \(sha256:[0-9a-f]{12}\) via CloudTrail PutImage started arn:")
    twin.report.line(
        r"^SUCCEEDED: team/api:v2 \(sha256:[0-9a-f]{12}\) via CloudTrail PutImage, copied in Lambda$"
    )
    assert "SUCCEEDED" in status_output(twin.env, second, monkeypatch)


def test_notification_email(twin: Twin) -> None:
    """NotificationEmail: the address is subscribed to the notification topic (no mail leaves
    this machine; the message is what the local notification queue holds)."""
    sns = operator_client(twin.env, "sns")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=twin.env.aws.topic_arn)["Subscriptions"]
    assert {(s["Protocol"], s["Endpoint"]) for s in subscriptions} >= {("email", "ops@example.com")}


def test_log_retention_days(twin: Twin) -> None:
    """LogRetentionDays=7: every log group of the template exists locally with that retention."""
    groups = operator_client(twin.env, "logs").describe_log_groups()["logGroups"]
    ours = {g["logGroupName"]: g.get("retentionInDays") for g in groups}
    assert "/aws/vendedlogs/states/ecr-replicate-replicate" in ours
    assert len(ours) >= 8 and set(ours.values()) == {7}


def test_reconcile_schedule_none(twin: Twin) -> None:
    """ReconcileSchedule=none: no schedule in the local Scheduler, nothing fires."""
    scheduler = operator_client(twin.env, "scheduler")
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.get_schedule(Name="ecr-replicate-ScheduledReconcile")
    assert twin.env.aws.stack.schedules == [] and twin.env.scheduled == []
