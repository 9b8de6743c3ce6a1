"""Least privilege of the reconcile workflow on the strict twin (IAM enforced for every call, the
registries behind their ECR fronts).

* A reconcile that heals a drifted image and a drifted referrer uses every action the template
  grants its three roles, except those only AWS's own machinery calls (each listed with why).
* Taking one of them away fails the run, and IAM's refusal names the action.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.local_aws import LocalAws
from ecr_replicate_local.sample_images import push_image
from tests.support.template_variants import without_action, write_variant
from tests.unit.test_template_iam import principal_statements, resolved

pytestmark = pytest.mark.timeout(300)

SOURCE, TARGET = "us-east-1", "eu-west-1"
REPOSITORY = "team/reconcile"
ROLES = ("FindDriftFunction", "ReconcileReportFunction", "ReconcileStateMachine")
#: granted, never called by a local run, and why
AWS_ONLY = {
    "states:stopexecution": "Step Functions stops a child run when the Map run is stopped or fails",
    "events:putrule": "startExecution.sync:2 waits on an EventBridge rule Step Functions manages",
    "events:puttargets": "idem",
    "events:describerule": "idem",
    **dict.fromkeys(
        [
            "logs:createlogdelivery",
            "logs:getlogdelivery",
            "logs:updatelogdelivery",
            "logs:deletelogdelivery",
            "logs:listlogdeliveries",
            "logs:putresourcepolicy",
            "logs:describeresourcepolicies",
            "logs:describeloggroups",
        ],
        "the state machine's execution logging (vended logs), set up by Step Functions",
    ),
    **dict.fromkeys(
        [
            "xray:puttracesegments",
            "xray:puttelemetryrecords",
            "xray:getsamplingrules",
            "xray:getsamplingtargets",
        ],
        "X-Ray tracing of the state machine",
    ),
}


@contextlib.contextmanager
def reconcile_run(template: Path | None = None) -> Iterator[tuple[LocalAws, dict[str, Any]]]:
    """A source with an image and a referrer of it, no target holding either; one reconcile."""
    with LocalEnvironment(
        SOURCE, [TARGET], template=template, deliver_events=False, retry_time_scale=0
    ) as env:
        image = push_image(
            env.push_host(), REPOSITORY, "v1", fmt="oci", layer_count=1, layer_size=512, seed=5
        )
        signature = push_image(
            env.push_host(), REPOSITORY, None, fmt="oci", layer_count=1, layer_size=64, seed=6, subject=image
        )
        env.wait_recorded(REPOSITORY, image.digest)
        env.wait_recorded(REPOSITORY, signature.digest)
        env.aws.enforcer.granted.clear()
        machine = env.aws.state_machine_arns["ReconcileStateMachine"]
        arn = env.sfn().start_execution(stateMachineArn=machine, name="reconcile-perm", input="{}")[
            "executionArn"
        ]
        yield env.aws, env.aws.wait(arn, timeout=180)


def granted_actions() -> dict[str, set[str]]:
    statements = principal_statements(resolved({}))
    return {
        role: {
            a.lower()
            for s in statements[role]
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        }
        for role in ROLES
    }


def test_a_reconcile_uses_every_action_its_roles_are_granted() -> None:
    with reconcile_run() as (aws, outcome):
        assert outcome["status"] == "SUCCEEDED", outcome
        assert json.loads(outcome["output"])["status"] == "HEALED"
        used: dict[str, set[str]] = {}
        for (who, action), _ in aws.enforcer.granted.items():
            for role in ROLES:
                if who.endswith(f"-{role}Role"):
                    used.setdefault(role, set()).add(action)
    for role, actions in granted_actions().items():
        unused = actions - used.get(role, set())
        assert unused <= set(AWS_ONLY), (
            f"{role} is granted {sorted(unused - set(AWS_ONLY))} and never uses it"
        )


@pytest.mark.parametrize(
    "resource, action",
    [
        ("FindDriftFunction", "ecr:DescribeImages"),  # the source listing: Find drift fails
        ("ReconcileStateMachine", "states:StartExecution"),  # no replication run: the drift remains
    ],
)
def test_without_the_action_the_reconcile_fails_naming_it(resource: str, action: str, tmp_path: Path) -> None:
    template = write_variant(tmp_path, without_action(action, resource))
    with reconcile_run(template) as (aws, outcome):
        denied = [d.message() for d in aws.denials()]
    assert outcome["status"] == "FAILED", f"the reconcile succeeded without {action}"
    assert any(f"not authorized to perform: {action} " in message for message in denied), denied
