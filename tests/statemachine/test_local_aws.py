"""The local engine itself, on a tiny stack (tests/statemachine/engine_stack/) that exercises each
hook: template resolution, Lambda routing with the template's environment, error names, scaled
Retry, CodeBuild .sync in a subprocess (success, failure), SNS notifications, fault injection."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.codebuild import COPY_MODULE
from ecr_replicate_local.engine import DEFAULT_TEMPLATE, LocalAws, _exported_variables
from ecr_replicate_local.template import Template, substitute_definition

pytestmark = pytest.mark.xdist_group("statemachine-engine")

STACK = Path(__file__).parent / "engine_stack"
REGIONS = {"us-east-1": "127.0.0.1:1", "eu-west-1": "127.0.0.1:2"}


@pytest.fixture(scope="module")
def aws():
    engine = LocalAws(
        regions=REGIONS,
        source_region="us-east-1",
        template=STACK / "template.yaml",
        parameters={"WithAudit": "true"},
    )
    with engine:
        assert engine.codebuild is not None
        engine.codebuild.argv = [sys.executable, str(STACK / "src" / "engine_stack_build.py")]
        yield engine


def run(aws: LocalAws, items: list[dict[str, Any]]) -> tuple[dict[str, Any], Any]:
    arn = aws.start_execution({"items": items})
    desc = aws.wait(arn, timeout=60)
    return desc, json.loads(desc.get("output") or "null")


def test_template_resolution_short_tags_globals_conditions():
    tpl = Template(
        STACK / "template.yaml", region="eu-west-1", account="123456789012", parameters={"Greeting": "hi"}
    )
    functions = tpl.functions()
    echo = functions["Echo"]
    assert echo.handler == "engine_stack_handlers.echo"
    assert echo.code_uri == (STACK / "src").resolve()
    assert echo.timeout == 30
    assert echo.environment["GREETING"] == "hi-eu-west-1"
    assert echo.environment["TARGETS"] == "eu-west-1,ap-southeast-1"
    assert "AUDIT" not in echo.environment  # !If [Audit, ..., !Ref AWS::NoValue] with Audit false
    assert tpl.substitutions("Machine")["ProjectName"] == "ecr-replicate-Copy"
    with pytest.raises(ConfigurationError, match="unknown template parameters"):
        Template(
            STACK / "template.yaml", region="eu-west-1", account="123456789012", parameters={"Nope": "1"}
        )
    with pytest.raises(ConfigurationError, match="not in"):
        Template(
            STACK / "template.yaml",
            region="eu-west-1",
            account="123456789012",
            parameters={"WithAudit": "maybe"},
        )
    with pytest.raises(ConfigurationError, match="lack Missing"):
        substitute_definition('{"a": "${Missing}"}', {})


def test_lambda_gets_template_environment_and_context(aws):
    desc, out = run(aws, [])
    assert desc["status"] == "SUCCEEDED", desc
    echo = out["greet"]["echo"]
    assert echo["event"] == {"items": []}
    assert echo["env"]["TOPIC_ARN"] == aws.topic_arn
    assert echo["env"]["GREETING"] == "hello-us-east-1"
    assert echo["env"]["AUDIT"] == "on"  # the WithAudit parameter override flipped the condition
    assert json.loads(echo["env"]["REGISTRY_ENDPOINTS"]) == REGIONS
    assert echo["context"]["function_name"] == "ecr-replicate-Echo"
    assert echo["context"]["arn"].endswith(":function:ecr-replicate-Echo")
    assert 0 < echo["context"]["remaining_ms"] <= 30_000


def test_errors_retry_fast_catch_by_class_name_and_codebuild(aws):
    started = time.monotonic()
    desc, out = run(
        aws,
        [
            {"name": "retried", "fail": 2},  # 2 x RegistryUnavailableError, Retry 30 s + 60 s scaled
            {"name": "missing", "missing": True},
            {"name": "build-fails", "build_fails": True},
        ],
    )
    assert time.monotonic() - started < 30  # unscaled, the retries alone would take 90 s
    assert desc["status"] == "SUCCEEDED"
    ok, missing, build_failed = out["results"]
    assert ok["status"] == "SUCCEEDED"
    exported = {v["Name"]: v["Value"] for v in ok["exported"]}
    result = json.loads(exported["RESULT"])  # the last stdout line, not "some log line"
    assert result["name"] == "retried"
    # a definite path through an index is one value, as on AWS (moto alone wraps it in a list)
    assert ok["first"] == exported["RESULT"] and ok["parsed"] == result
    assert result["project_var"] == "ecr-replicate-Topic"  # project variables from the template
    assert result["endpoint"] == aws.endpoint_url
    assert json.loads(result["registries"]) == REGIONS
    assert missing["failed"]["Error"] == "ImageNotFoundError"
    assert json.loads(missing["failed"]["Cause"])["errorMessage"] == "missing: no such image"
    assert build_failed["failed"]["Error"] == "States.TaskFailed"
    build = json.loads(build_failed["failed"]["Cause"])
    assert build["BuildStatus"] == "FAILED" and build["ProjectName"] == "ecr-replicate-Copy"
    history = aws.history(desc["executionArn"])
    retried = [
        e
        for e in history
        if e["type"] == "TaskFailed"
        and "RegistryUnavailableError" in e["taskFailedEventDetails"].get("error", "")
    ]
    assert len(retried) == 2


def test_notifications_and_client_environment(aws):
    before = len(aws.notifications())
    run(aws, [{"name": "n1"}])
    messages = aws.notifications()
    assert len(messages) == before + 1
    assert messages[-1]["message"][0]["status"] == "SUCCEEDED"
    env = aws.environment()
    client = boto3.client(
        "stepfunctions",
        region_name=env["AWS_REGION"],
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    machines = client.list_state_machines()["stateMachines"]
    assert [m["stateMachineArn"] for m in machines] == [aws.state_machine_arn]


def test_fault_injection_hits_the_control_plane_once(aws):
    env = aws.environment()
    ecr = boto3.client(
        "ecr",
        region_name="eu-west-1",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"total_max_attempts": 1}),
    )
    aws.inject_aws_error("ecr", "CreateRepository", region="eu-west-1")
    with pytest.raises(ecr.exceptions.ClientError) as err:
        ecr.create_repository(repositoryName="faulty")
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    ecr.create_repository(repositoryName="faulty")
    assert aws.faults_fired("ecr", "CreateRepository") == 1


def test_one_engine_per_process_and_environment_restored(aws):
    with pytest.raises(ConfigurationError, match="another LocalAws"):
        LocalAws(regions=REGIONS, source_region="us-east-1", template=STACK / "template.yaml").start()
    assert os.environ["AWS_ENDPOINT_URL"] == aws.endpoint_url


def test_codebuild_adapter_runs_what_the_buildspec_runs():
    """The local build runs COPY_MODULE and exports what the template's buildspec exports."""
    tpl = Template(
        DEFAULT_TEMPLATE,
        region="us-east-1",
        account="123456789012",
        parameters={"TargetRegions": "eu-west-1"},
    )
    (project,) = tpl.codebuild_projects().values()
    assert f"-m {COPY_MODULE}" in project.buildspec
    assert _exported_variables(project.buildspec, tpl.root) == ["REGION_RESULT"]
