"""template.yaml and statemachine/replicate.asl.json: lint, checkov, IAM least privilege, ASL shape."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from ecr_replicate.model import RegionItem

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachine" / "replicate.asl.json"
BIN = Path(sys.executable).parent


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    return data


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ASL.read_text())
    return data


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_template_has_no_yaml_anchor_or_alias() -> None:
    """CloudFormation's YAML parser rejects anchors and aliases (only SAM CLI expands them), and
    the template must also deploy as a raw CloudFormation upload: not one may appear."""
    found = []
    for event in yaml.parse(TEMPLATE.read_text()):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.AliasEvent):
            found.append(f"line {line}: alias *{event.anchor}")
        elif getattr(event, "anchor", None) is not None:
            found.append(f"line {line}: anchor &{event.anchor}")  # type: ignore[attr-defined]
    assert not found, found


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [str(BIN / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_has_no_failed_check_and_every_skip_is_justified(template: dict[str, Any]) -> None:
    result = subprocess.run(
        [
            str(BIN / "checkov"),
            "-f",
            str(TEMPLATE),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report.get("results", {}).get("failed_checks", [])]
    assert report["summary"]["failed"] == 0, failed
    assert report["summary"]["passed"] > 20
    for name, res in template["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 30, f"{name}: skip {skip['id']} needs a justification"


# aws-sam-cli lives in its own venv (scripts/bootstrap.sh): its pins fight checkov's and moto's.
SAM = next(
    (str(b / "sam") for b in (ROOT / ".venv-sam" / "bin", BIN) if shutil.which("sam", path=str(b))), None
)


@pytest.mark.skipif(SAM is None and not os.environ.get("CI"), reason="aws-sam-cli is not installed")
def test_sam_validate_lint() -> None:
    assert SAM is not None, "scripts/bootstrap.sh installs aws-sam-cli into .venv-sam"
    result = subprocess.run(
        [SAM, "validate", "--lint", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_broad_managed_policies_and_codebuild_unprivileged(template: dict[str, Any]) -> None:
    text = TEMPLATE.read_text()
    for broad in ("PowerUser", "FullAccess", "AdministratorAccess"):
        assert broad not in text
    projects = resources(template, "AWS::CodeBuild::Project")
    assert projects
    for name, project in projects.items():
        environment = project["Properties"]["Environment"]
        assert environment.get("PrivilegedMode", False) is False, name
        assert "docker" not in project["Properties"]["Source"]["BuildSpec"].lower()


def test_functions_use_the_package_handlers_and_log_groups_have_retention(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.12" and globals_["Architectures"] == ["arm64"]
    assert globals_["Tracing"] == "Active" and globals_["CodeUri"] == "functions/"
    functions = resources(template, "AWS::Serverless::Function")
    assert len(functions) == 8
    for name, function in functions.items():
        module, _, attribute = function["Properties"]["Handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), attribute)), name
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert template["Resources"][group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_asl_placeholder_is_substituted(template: dict[str, Any]) -> None:
    machine = next(iter(resources(template, "AWS::Serverless::StateMachine").values()))["Properties"]
    assert machine["DefinitionUri"] == "statemachine/replicate.asl.json"
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    assert placeholders == set(machine["DefinitionSubstitutions"])
    assert "arn:aws:lambda" not in ASL.read_text()


def _states(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for name, state in machine["States"].items():
        found[name] = state
        if "ItemProcessor" in state:
            found.update(_states(state["ItemProcessor"]))
    return found


def test_every_task_retries_and_region_failures_are_caught(asl: dict[str, Any]) -> None:
    states = _states(asl)
    for name, state in states.items():
        if state["Type"] == "Task":
            assert state.get("Retry"), f"{name} has no Retry"
            for retrier in state["Retry"]:
                assert "States.ALL" not in retrier["ErrorEquals"], f"{name} retries everything"
                assert retrier["MaxAttempts"] <= 5
    for name in ("Ensure repository", "Copy image (Lambda)", "Copy image (CodeBuild)"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Record failure"}
        ]
    record = states["Record failure"]
    assert record["Parameters"] == {"FunctionName": "${RecordFailureFunctionArn}", "Payload.$": "$"}
    assert record["Catch"][0]["Next"] == "Record failure without details"
    fallback = states["Record failure without details"]["Parameters"]
    assert fallback["status"] == "FAILED"
    assert {key for key in fallback if key.endswith(".$")} == {"region.$", "digest.$"}  # nothing unbounded
    expected = {"Type": "Fail", "Error": "ReplicationFailed", "CausePath": "$.text"}
    assert states["Replication failed"] == expected


def test_map_items_show_the_region_first_and_carry_the_whole_item(asl: dict[str, Any]) -> None:
    map_state = asl["States"]["Replicate to each region"]
    assert map_state["ItemsPath"] == "$.items"
    selector = map_state["ItemSelector"]
    keys = [key.removesuffix(".$") for key in selector]
    assert keys[0] == "region"
    aliases = [field.alias for field in RegionItem.model_fields.values()]
    assert keys[: len(aliases)] == aliases
    codebuild = _states(asl)["Copy image (CodeBuild)"]
    assert codebuild["Resource"] == "arn:aws:states:::codebuild:startBuild.sync"
    assert "StringToJson" in codebuild["ResultSelector"]["result.$"]


def test_only_a_failed_build_is_rebuilt_and_a_build_out_of_time_is_not(
    template: dict[str, Any], asl: dict[str, Any]
) -> None:
    """The CodeBuild step fails its build only for retryable errors (codebuild_step: exit 1);
    the Task gives up before the project's own timeout, as States.Timeout, which no Retry lists."""
    task = _states(asl)["Copy image (CodeBuild)"]
    assert [retrier["ErrorEquals"] for retrier in task["Retry"]] == [["States.TaskFailed"]]
    project = resources(template, "AWS::CodeBuild::Project")["CopyBuildProject"]["Properties"]
    assert 0 < task["TimeoutSeconds"] < project["TimeoutInMinutes"] * 60


# --- alarms and the notification topic (issue 11 items 4 and 5) ---------------------------------

ALARMED = {
    # (namespace, metric, dimension, the resource it names)
    ("AWS/States", "ExecutionsFailed", "StateMachineArn", "ReplicateStateMachine"),
    ("AWS/States", "ExecutionsFailed", "StateMachineArn", "ReconcileStateMachine"),
    ("AWS/Lambda", "Errors", "FunctionName", "CopyImageFunction"),
    ("AWS/CodeBuild", "FailedBuilds", "ProjectName", "CopyBuildProject"),
}


def test_failed_runs_copy_errors_and_failed_builds_raise_an_alarm_on_the_topic(
    template: dict[str, Any],
) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    seen = set()
    for alarm in alarms:
        props = alarm["Properties"]
        if (props["Namespace"], props["MetricName"]) not in {(a[0], a[1]) for a in ALARMED}:
            continue
        ((dimension,),) = [[d["Name"] for d in props["Dimensions"]]]
        key = (props["Namespace"], props["MetricName"], dimension, props["Dimensions"][0]["Value"]["Ref"])
        assert props["Statistic"] == "Sum" and props["Threshold"] == 0, key
        assert props["ComparisonOperator"] == "GreaterThanThreshold", key
        assert props["TreatMissingData"] == "notBreaching", key
        assert props["AlarmActions"] == [{"Ref": "NotificationTopic"}], key
        seen.add(key)
    assert seen == ALARMED


def test_the_topic_uses_a_key_cloudwatch_may_use_and_its_policy_lets_alarms_publish(
    template: dict[str, Any],
) -> None:
    """CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed key
    (alias/aws/sns: its policy cannot be changed); a customer managed key must let the
    cloudwatch.amazonaws.com principal generate data keys and decrypt (SNS developer guide,
    "Enable compatibility between event sources from AWS services and encrypted topics")."""
    topic = template["Resources"]["NotificationTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["NotificationKey", "Arn"]}
    key = template["Resources"]["NotificationKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    alarms = statements["CloudWatchAlarmsPublish"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(alarms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    owner = statements["AccountAdministersTheKey"]
    assert owner["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    policies = [
        res["Properties"]
        for res in resources(template, "AWS::SNS::TopicPolicy").values()
        if res["Properties"]["Topics"] == [{"Ref": "NotificationTopic"}]
    ]
    assert len(policies) == 1
    publish = {s["Sid"]: s for s in policies[0]["PolicyDocument"]["Statement"]}["CloudWatchAlarmsPublish"]
    assert (
        publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and publish["Action"] == "sns:Publish"
    )
    assert publish["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_every_trigger_rule_has_an_encrypted_dead_letter_queue_with_an_alarm_and_an_output(
    template: dict[str, Any],
) -> None:
    """An event EventBridge could not deliver after its RetryPolicy goes to a queue (not lost),
    which alarms and which `ecr-replicate dead-letters --replay` finds through the stack outputs."""
    res = template["Resources"]
    rules = resources(template, "AWS::Events::Rule")
    assert set(rules) == {"EcrPushRule", "EcrReferrerRule", "CloudTrailPutImageRule"}
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    policies = [p for p in resources(template, "AWS::SQS::QueuePolicy").values()]
    for name, rule in rules.items():
        (target,) = rule["Properties"]["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        queue_name = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        queue = res[queue_name]
        assert queue["Type"] == "AWS::SQS::Queue" and queue.get("Condition") == rule.get("Condition")
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, queue_name
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600  # the longest SQS keeps a message
        (policy,) = [p for p in policies if p["Properties"]["Queues"] == [{"Ref": queue_name}]]
        assert policy.get("Condition") == rule.get("Condition")
        statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
        send = statements["EventBridgeDeadLetters"]
        assert (
            send["Principal"] == {"Service": "events.amazonaws.com"} and send["Action"] == "sqs:SendMessage"
        )
        assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [name, "Arn"]}}}
        alarm = next(
            a
            for a in alarms
            if a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_name, "QueueName"]}}]
        )
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmActions"] == [{"Ref": "NotificationTopic"}]
        assert "dead-letters --replay" in str(alarm["AlarmDescription"])
        outputs = [o for key, o in template["Outputs"].items() if key.endswith("DeadLetterQueueUrl")]
        assert any(
            o["Value"] == {"Ref": queue_name} and o.get("Condition") == rule.get("Condition") for o in outputs
        )


@pytest.mark.skipif(SAM is None and not os.environ.get("CI"), reason="aws-sam-cli is not installed")
def test_sam_package_writes_a_template_cloudformation_can_take_as_is(tmp_path: Path) -> None:
    """`sam package` (artifacts to S3, here moto's) then a raw CloudFormation upload of its
    output: the packaged template has no local path left, no YAML anchor or alias, and lints."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only this test needs a server

    assert SAM is not None
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "SAM_CLI_TELEMETRY": "0"}  # fmt: skip
        env.pop("AWS_PROFILE", None)
        s3 = boto3.client(
            "s3", region_name="us-east-1", endpoint_url=endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        s3.create_bucket(Bucket="artifacts")
        packaged = tmp_path / "packaged.yaml"
        result = subprocess.run(
            [SAM, "package", "--template-file", str(TEMPLATE), "--s3-bucket", "artifacts",
             "--output-template-file", str(packaged), "--region", "us-east-1", "--no-progressbar"],
            capture_output=True, text=True, check=False, cwd=ROOT, env=env,
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    text = packaged.read_text()
    events = list(yaml.parse(text))
    assert not [e for e in events if isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None)]
    body = yaml.load(text, Loader=_CfnLoader)
    for name, res in body["Resources"].items():
        for key in ("CodeUri", "DefinitionUri"):
            if key in res.get("Properties", {}):
                value = res["Properties"][key]
                assert str(value).startswith("s3://") or "Bucket" in value, f"{name}.{key}: {value}"
    lint = subprocess.run([str(BIN / "cfn-lint"), str(packaged)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
