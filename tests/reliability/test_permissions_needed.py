"""The mutation check of the strict twin: every permission the running code uses is needed, and
the local run shows it. For each IAM action the workflow uses, a copy of template.yaml without that
action runs one small push through the local twin (EventBridge -> Step Functions -> the functions
and builds as their roles -> the ECR fronts) and must fail with an AccessDenied naming the action.

``test_the_mutations_cover_every_action_used`` keeps the list honest: a run with the template as
it is records every (role, action) IAM allowed; the set of actions must equal the mutated ones
(minus the few listed in UNMUTATED, each with its reason), so a new call in the code needs a new
mutation here, and a permission nobody uses shows up as one no run needs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.local_aws import LocalAws
from ecr_replicate_local.sample_images import push_image
from tests.support.template_variants import grants, without_action, write_variant
from tests.support.workflow_runs import push_event

pytestmark = pytest.mark.timeout(300)  # each test starts its own twin: no xdist group needed

SOURCE = "us-east-1"
TARGET = "eu-west-1"
REPOSITORY = "team/perm"

#: action -> the runtime whose run needs it (the copy runs in Lambda unless CodeBuild is named)
MUTATIONS: dict[str, str] = {
    "states:StartExecution": "lambda",  # EventBridge's rule target role
    "lambda:InvokeFunction": "lambda",  # the state machine's role (SAM's LambdaInvokePolicy)
    "ecr:GetAuthorizationToken": "lambda",  # plan, copy: registry tokens
    # registry calls through the ECR fronts (plan reads the source, the copy reads and writes)
    "ecr:BatchGetImage": "lambda",
    "ecr:BatchCheckLayerAvailability": "lambda",
    "ecr:GetDownloadUrlForLayer": "lambda",
    "ecr:InitiateLayerUpload": "lambda",
    "ecr:UploadLayerPart": "lambda",
    "ecr:CompleteLayerUpload": "lambda",
    "ecr:PutImage": "lambda",
    "ecr:DescribeRepositories": "lambda",  # ensure repository
    "ecr:CreateRepository": "lambda",
    "sns:Publish": "lambda",  # notify
    "events:PutEvents": "lambda",
    "codebuild:StartBuild": "codebuild",  # the state machine's role
    "logs:CreateLogStream": "codebuild",  # the build's role: CodeBuild writes the build log
    "logs:PutLogEvents": "codebuild",
    "lambda:GetFunction": "codebuild",  # the buildspec fetches the copy function's package
}
if grants("ecr:ListImages"):
    # the copier of 2026-11 lists the source's tags: the stopgap grants it until the copier
    # that HEADs signature tags instead lands (then the template no longer grants it, and a
    # copier that lists tags again fails the coverage test below)
    MUTATIONS["ecr:ListImages"] = "lambda"

#: actions only ever checked on a HEAD request, which ECR refuses with a bare 403 (no body, so no
#: message): the run shows "HTTP 403" and the twin's list of refusals (what the demo prints) names it
HEAD_ONLY = {"ecr:BatchCheckLayerAvailability"}
#: actions the running code uses that no mutation here takes away, and why
UNMUTATED = {
    # Without it Step Functions never sees the build end and the task waits for its timeout
    # (aws-cdk#10081); the replicate machine's CodeBuild task has none, so a run would hang.
    "codebuild:batchgetbuilds": "covered by tests/statemachine/test_local_aws_blind_build.py",
    # The copy heartbeat (progress/<execution>/<region>.json) is best effort: without the grant the
    # copy succeeds and status shows no bytes (tests/unit/test_heartbeat.py, never fails the copy).
    "s3:putobject": "the copy heartbeat, best effort by design",
}


@contextlib.contextmanager
def run_variant(template: Path, runtime: str) -> Iterator[tuple[LocalAws, dict[str, Any] | str]]:
    """One small push through a twin running ``template``: the execution's description, or the
    error of a refused start (EventBridge could not start the workflow)."""
    with LocalEnvironment(
        SOURCE, [TARGET], template=template, runtime=runtime, deliver_events=False, retry_time_scale=0
    ) as env:
        image = push_image(env.push_host(), REPOSITORY, "v1", layer_count=1, layer_size=2048, seed=97)
        env.wait_recorded(REPOSITORY, image.digest)
        event = push_event(REPOSITORY, "v1", image.digest)
        try:
            started = env.aws.deliver_event(copy.deepcopy(event), name=uuid.uuid4().hex)
        except Exception as exc:  # the refusal is the outcome
            yield env.aws, str(exc)
            return
        assert len(started) == 1
        yield env.aws, env.aws.wait(started[0], timeout=120)


def failure_text(aws: LocalAws, outcome: dict[str, Any] | str) -> str:
    """Everything a user sees of a failed run: the refusal, or the execution's errors and causes."""
    if isinstance(outcome, str):
        return outcome
    texts = [str(outcome.get("error", "")), str(outcome.get("cause", ""))]
    for event in aws.history(outcome["executionArn"]):
        for key, value in event.items():
            if key.endswith("EventDetails") and isinstance(value, dict):
                texts.append(json.dumps(value))
    return "\n".join(texts)


@pytest.mark.parametrize("action", sorted(MUTATIONS))
def test_without_the_action_the_run_fails_naming_it(action: str, tmp_path: Path) -> None:
    template = write_variant(tmp_path, without_action(action))
    with run_variant(template, MUTATIONS[action]) as (aws, outcome):
        if not isinstance(outcome, str):
            assert outcome["status"] == "FAILED", f"the run succeeded without {action}"
        text = failure_text(aws, outcome)
        denied = [d.message() for d in aws.denials()]
    names = (action, action.replace("sns:", "SNS:"))  # SNS spells its actions SNS:Publish
    assert any(f"not authorized to perform: {n} " in m for m in denied for n in names), denied
    if action in HEAD_ONLY:
        assert "HTTP 403" in text, text[:3000]
        return
    # what the user reads names the action (in AWS's AccessDenied sentence where the code keeps it)
    assert any(n in text for n in names), f"the failure does not name {action}:\n{text[:3000]}"


@pytest.mark.parametrize("runtime", ["lambda", "codebuild"])
def test_the_mutations_cover_every_action_used(runtime: str, tmp_path: Path) -> None:
    with run_variant(write_variant(tmp_path), runtime) as (aws, outcome):
        assert not isinstance(outcome, str) and outcome["status"] == "SUCCEEDED", outcome
        operator = aws.identities.operator().principal.rsplit("/", 1)[-1]
        used = {action for (who, action) in aws.enforcer.granted if who != operator}
    expected = {a.lower() for a, needs in MUTATIONS.items() if needs in ("lambda", runtime)}
    assert used - set(UNMUTATED) == expected, {
        "used but never taken away": sorted(used - set(UNMUTATED) - expected),
        "taken away but not used": sorted(expected - used),
    }
