"""The CodeBuild copy step records its heartbeat too: the build runs as the build project's role,
with the project's ``PROGRESS_BUCKET`` (its own module: one local AWS per process)."""

from __future__ import annotations

import pytest

from ecr_replicate_cli.heartbeats import HeartbeatReader
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.sample_images import push_image

pytestmark = pytest.mark.slow

SOURCE, TARGETS = "us-east-1", ["eu-west-1"]


def test_the_codebuild_copy_step_leaves_its_heartbeat_too() -> None:
    with LocalEnvironment(SOURCE, TARGETS, runtime="codebuild") as local:
        pushed = push_image(local.push_host(), "team/cb", "v1", layer_size=4096, seed=51)
        started = local.wait_for_execution("team/cb", pushed.digest)
        assert local.aws.wait(started.arn)["status"] == "SUCCEEDED"
        reader = HeartbeatReader(
            local.aws.stack.buckets["ProgressBucket"], SOURCE, lambda region: local.aws.client("s3", region)
        )
        beat = reader(started.arn.rsplit(":", 1)[1], TARGETS)["eu-west-1"]
    assert (beat.runtime, beat.state) == ("codebuild", "finished") and beat.bytes_copied > 0
