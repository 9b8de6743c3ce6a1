"""A push whose execution could not be started is not lost: the local bridge, like the EventBridge
rule target on AWS, retries, then puts the event in the rule's dead-letter queue; the operator's
``ecr-replicate dead-letters`` lists it (changing nothing) and ``--replay`` replicates it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from ecr_replicate_cli.dead_letters import execution_name
from ecr_replicate_local.environment import DELIVERY_ATTEMPTS, LocalEnvironment
from ecr_replicate_local.sample_images import push_image
from tests.e2e.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e-dead-letters")]


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    with LocalEnvironment("us-east-1", ["eu-west-1"]) as started:
        yield started


def queued(env: LocalEnvironment) -> int:
    url = env.aws.dead_letter_queue("EcrPushRule")
    attributes = env.aws.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_a_push_that_could_not_start_its_run_is_replayed_from_the_dead_letter_queue(env, oracle) -> None:
    assert env.regions is not None
    # Step Functions refuses every start the bridge tries (as a missing permission would).
    env.aws.inject_aws_error(
        "stepfunctions", "StartExecution", code="AccessDeniedException", message="not authorized",
        times=DELIVERY_ATTEMPTS,
    )  # fmt: skip
    image = push_image(env.regions.source.host, "team/lost", "v1", seed=61)
    deadline = time.monotonic() + 30
    while not env.bridge.errors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.bridge.wait_idle(30)
    assert env.aws.faults_fired("stepfunctions", "StartExecution") == DELIVERY_ATTEMPTS
    assert [e for e in env.executions if e.event["detail"]["image-digest"] == image.digest] == []
    assert queued(env) == 1
    event = next(e for e in env.bridge.events if e["detail"]["image-digest"] == image.digest)
    name = execution_name(event)

    listed = run_cli("dead-letters", env=env.aws.environment(), timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "1 dead letter" in listed.stdout and f"would start {name}" in listed.stdout
    assert "[AccessDeniedException: " in listed.stdout
    assert queued(env) == 1  # a dry run consumes nothing

    replayed = run_cli("dead-letters", "--replay", env=env.aws.environment(), timeout=60)
    assert replayed.returncode == 0, replayed.stderr
    assert f"started {name}; message deleted" in replayed.stdout
    arn = env.aws.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    done = env.aws.wait(arn, timeout=90)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["input"]) == event
    assert oracle(f"{env.regions.registry('eu-west-1').host}/team/lost:v1") == image.digest
    assert queued(env) == 0

    again = run_cli("dead-letters", "--replay", env=env.aws.environment(), timeout=60)
    assert again.returncode == 0 and re.search(r": 0 dead letters$", again.stdout, re.M), again.stdout
