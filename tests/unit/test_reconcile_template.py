"""The reconcile workflow and the referrer trigger in template.yaml and statemachine/reconcile.asl.json:
substitutions, retries, the items the Maps read, the schedule and its switch, the rule's pattern."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from ecr_replicate.model import ManualRequest, parse
from ecr_replicate.reconcile_model import DriftFound, ReconcileInput, ReconcileSummary
from ecr_replicate_local.stack_spec import substitutions
from ecr_replicate_local.template import Template
from tests.unit.test_template import _states as states

ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = ROOT / "statemachine" / "reconcile.asl.json"
EVENTS = ROOT / "tests" / "events"


def template(**parameters: str) -> Template:
    return Template(
        ROOT / "template.yaml",
        region="us-east-1",
        account="123456789012",
        parameters={"TargetRegions": "eu-west-1,ap-southeast-1", **parameters},
    )


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ASL_PATH.read_text())
    return data


def test_every_placeholder_is_substituted_and_no_arn_is_written_out(asl: dict[str, Any]) -> None:
    tpl = template()
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL_PATH.read_text()))
    assert placeholders == set(substitutions(tpl, "ReconcileStateMachine"))
    assert "arn:aws:lambda" not in ASL_PATH.read_text() and ":stateMachine:" not in ASL_PATH.read_text()


def test_every_task_retries_a_bounded_set_of_errors(asl: dict[str, Any]) -> None:
    tasks = {name: s for name, s in states(asl).items() if s["Type"] == "Task"}
    assert set(tasks) == {"Find drift", "Replicate the image", "Check again and report", "Notify"}
    for name, task in tasks.items():
        assert task.get("Retry"), name
        for retrier in task["Retry"]:
            assert "States.ALL" not in retrier["ErrorEquals"] and retrier["MaxAttempts"] <= 5, name
    assert states(asl)["Drift remains"] == {
        "Type": "Fail",
        "Error": "ReplicationFailed",
        "CausePath": "$.text",
    }


def test_the_maps_read_what_find_drift_wrote_and_start_valid_manual_requests(asl: dict[str, Any]) -> None:
    aliases = {f.alias for f in DriftFound.model_fields.values()}
    maps = {name: s for name, s in asl["States"].items() if s["Type"] == "Map"}
    assert list(maps) == ["Replicate drifted images", "Replicate drifted referrers"]
    for state in maps.values():
        reader = state["ItemReader"]["Parameters"]
        assert {reader["Bucket.$"], reader["Key.$"]} <= {f"$.{a}" for a in aliases}
        assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert state["MaxConcurrency"] <= 5 and state["ResultPath"] is None
        child = state["ItemProcessor"]["States"]["Replicate the image"]
        assert child["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
        assert child["Parameters"]["StateMachineArn"] == "${ReplicateStateMachineArn}"
        inputs = {key.removesuffix(".$") for key in child["Parameters"]["Input"]}
        assert inputs <= set(ManualRequest.model_fields)
        selected = {key.removesuffix(".$") for key in state["ItemSelector"]}
        assert selected == inputs | {"name"}
    for choice in (s for s in asl["States"].values() if s["Type"] == "Choice"):
        for rule in choice["Choices"]:
            field = rule["Variable"].removeprefix("$.")
            assert field in aliases or field in {f.alias for f in ReconcileSummary.model_fields.values()}


def test_the_schedule_runs_a_real_reconcile_and_none_turns_it_off() -> None:
    tpl = template()
    (schedule,) = tpl.resources_of_type("AWS::Scheduler::Schedule").values()
    props = tpl.resolve(schedule["Properties"])
    assert props["ScheduleExpression"] == "rate(1 day)"
    assert props["Target"]["Arn"] == tpl.ref("ReconcileStateMachine")
    assert parse(ReconcileInput, json.loads(props["Target"]["Input"]), "input").dry_run is False
    role = tpl.resolve(tpl.data["Resources"]["ScheduledReconcileRole"]["Properties"])
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert not template(ReconcileSchedule="none").resources_of_type("AWS::Scheduler::Schedule")
    assert template(ReconcileSchedule="none").resources_of_type("AWS::Serverless::StateMachine")


@pytest.mark.parametrize(
    "expression, allowed",
    [
        ("rate(1 day)", True),
        ("rate(6 hours)", True),
        ("cron(0 3 * * ? *)", True),
        ("none", True),
        ("daily", False),
        ("rate(1 day); rm", False),
        ("", False),
    ],
)
def test_the_schedule_parameter_accepts_scheduler_expressions_only(expression: str, allowed: bool) -> None:
    pattern = template().data["Parameters"]["ReconcileSchedule"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, expression)) is allowed


def test_the_referrer_rule_matches_referrer_pushes_only() -> None:
    tpl = template()
    rules = tpl.resources_of_type("AWS::Events::Rule")
    matcher = {
        name: EventPattern.load(json.dumps(r["Properties"]["EventPattern"])) for name, r in rules.items()
    }
    push = json.loads((EVENTS / "ecr_push_tag.json").read_text())
    referrer = json.loads((EVENTS / "ecr_referrer_push.json").read_text())
    restore = json.loads((EVENTS / "ecr_referrer_restore.json").read_text())
    assert matcher["EcrReferrerRule"].matches_event(referrer)
    assert not matcher["EcrReferrerRule"].matches_event(push)
    assert not matcher["EcrReferrerRule"].matches_event(restore)
    assert not matcher["EcrPushRule"].matches_event(referrer)
    (target,) = tpl.resolve(rules["EcrReferrerRule"]["Properties"]["Targets"])
    assert target["Arn"] == tpl.ref("ReplicateStateMachine")
