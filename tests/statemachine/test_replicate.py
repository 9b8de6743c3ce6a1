"""The real workflow (statemachine/replicate.asl.json + template.yaml + handlers) on the local
engine, Lambda copy path: success, throttling retried, a region down then re-run, superseded."""

from __future__ import annotations

import pytest

from ecr_replicate.ecr import client_factory
from ecr_replicate_local.sample_images import push_image, push_index

pytestmark = pytest.mark.xdist_group("statemachine-replicate")


def test_all_regions_succeed(workflow, oracle):
    image = push_index(workflow.host(workflow.source), "team/app", "v1", seed=11)
    done = workflow.run(workflow.push_event("team/app", "v1", image.digest, image.media_type))
    assert done["status"] == "SUCCEEDED", done
    for region in workflow.targets:
        assert oracle(f"{workflow.host(region)}/team/app:v1") == image.digest
    note = workflow.notification_for(done)
    assert note["status"] == "SUCCEEDED"
    assert sorted(r["region"] for r in note["regions"]) == sorted(workflow.targets)
    rows = workflow.rows(done)
    assert sorted(rows) == sorted(workflow.targets)
    assert all(
        row.state == "done" and row.runtime == "lambda" and row.bytes_copied > 0 for row in rows.values()
    )


def test_throttled_ensure_repository_is_retried(workflow, oracle):
    image = push_image(workflow.host(workflow.source), "team/throttled", "v1", seed=12)
    # Every boto3 attempt of one CreateRepository call is throttled: the handler raises
    # AwsThrottledError and the state machine's Retry (not botocore's) runs the step again.
    retries = client_factory("ecr")("eu-west-1").meta.config.retries
    attempts = int(retries.get("total_max_attempts") or retries.get("max_attempts", 0) + 1)
    workflow.aws.inject_aws_error("ecr", "CreateRepository", region="eu-west-1", times=attempts)
    done = workflow.run(workflow.push_event("team/throttled", "v1", image.digest))
    assert done["status"] == "SUCCEEDED", done
    assert workflow.aws.faults_fired("ecr", "CreateRepository") == attempts
    assert workflow.failed_tasks(done, "Ensure repository") == ["AwsThrottledError"]
    assert oracle(f"{workflow.host('eu-west-1')}/team/throttled:v1") == image.digest


def test_region_down_then_rerun_that_region(workflow, oracle):
    image = push_image(workflow.host(workflow.source), "team/down", "v1", seed=13)
    workflow.regions.stop_region("eu-west-1")
    try:
        done = workflow.run(workflow.push_event("team/down", "v1", image.digest))
    finally:
        workflow.regions.restart("eu-west-1")
    assert done["status"] == "FAILED"
    assert done["error"] == "ReplicationFailed"
    assert "eu-west-1" in done["cause"]
    note = workflow.notification_for(done)
    assert note["status"] == "FAILED"
    assert note["failedRegions"] == ["eu-west-1"]
    assert "eu-west-1" in note["text"]
    assert oracle(f"{workflow.host('ap-southeast-1')}/team/down:v1") == image.digest
    assert oracle(f"{workflow.host('eu-west-1')}/team/down:v1") is None
    rows = workflow.rows(done)
    assert rows["eu-west-1"].state == "failed" and rows["eu-west-1"].error
    assert rows["ap-southeast-1"].state == "done"
    # retried before it was recorded as failed
    assert len(workflow.failed_tasks(done, "Copy image (Lambda)")) > 1

    rerun = workflow.run({"repository": "team/down", "tag": "v1", "regions": ["eu-west-1"]})
    assert rerun["status"] == "SUCCEEDED", rerun
    assert list(workflow.rows(rerun)) == ["eu-west-1"]
    assert oracle(f"{workflow.host('eu-west-1')}/team/down:v1") == image.digest


def test_superseded_tag_leaves_target_untouched(workflow, oracle):
    source, target = workflow.host(workflow.source), workflow.host("eu-west-1")
    first = push_image(source, "team/moving", "v1", seed=14)
    before = push_image(target, "team/moving", "v1", seed=15)  # what eu-west-1 had under v1

    def move_tag_after_plan(function: str, event, result) -> None:
        if function == "PlanFunction":
            push_image(source, "team/moving", "v1", seed=16)  # a newer push wins the tag

    workflow.aws.add_invoke_hook(move_tag_after_plan)
    done = workflow.run(workflow.push_event("team/moving", "v1", first.digest))
    assert done["status"] == "SUCCEEDED", done
    rows = workflow.rows(done)
    assert {row.state for row in rows.values()} == {"superseded"}
    assert oracle(f"{target}/team/moving:v1") == before.digest
    assert oracle(f"{workflow.host('ap-southeast-1')}/team/moving:v1") is None
    assert {r["status"] for r in workflow.notification_for(done)["regions"]} == {"SUPERSEDED"}
