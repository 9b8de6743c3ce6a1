"""CopyRuntime=codebuild: the copy runs as a local "build" (the CodeBuild entry point in a
subprocess) through codebuild:startBuild.sync, and the workflow reads its exported result."""

from __future__ import annotations

import pytest

from ecr_replicate_local.sample_images import push_index

pytestmark = pytest.mark.xdist_group("statemachine-codebuild")


@pytest.fixture(scope="module")
def engine_parameters() -> dict[str, str]:
    return {"CopyRuntime": "codebuild"}


def test_codebuild_copy_end_to_end(workflow, oracle):
    image = push_index(workflow.host(workflow.source), "team/big", "v2", seed=31)
    done = workflow.run(workflow.push_event("team/big", "v2", image.digest, image.media_type))
    assert done["status"] == "SUCCEEDED", done
    for region in workflow.targets:
        assert oracle(f"{workflow.host(region)}/team/big:v2") == image.digest
    rows = workflow.rows(done)
    assert all(
        row.state == "done" and row.runtime == "codebuild" and row.bytes_copied > 0 for row in rows.values()
    )
    assert all(row.lag_seconds is not None for row in rows.values())  # the build reports the lag too
    builds = workflow.aws.codebuild.builds.values() if workflow.aws.codebuild else []
    assert sorted(b.status for b in builds) == ["SUCCEEDED"] * len(workflow.targets)


def test_codebuild_copy_failure_is_recorded_per_region(workflow):
    image = push_index(workflow.host(workflow.source), "team/big", "v3", seed=32)
    workflow.regions.stop_region("ap-southeast-1")
    try:
        done = workflow.run(workflow.push_event("team/big", "v3", image.digest, image.media_type))
    finally:
        workflow.regions.restart("ap-southeast-1")
    assert done["status"] == "FAILED" and done["error"] == "ReplicationFailed"
    rows = workflow.rows(done)
    assert rows["eu-west-1"].state == "done"
    assert rows["ap-southeast-1"].state == "failed"
    assert rows["ap-southeast-1"].error == "States.TaskFailed"  # a failed build, as on AWS
    assert (
        workflow.failed_tasks(done, "Copy image (CodeBuild)") == ["States.TaskFailed"] * 3
    )  # MaxAttempts 2 = 3 builds
