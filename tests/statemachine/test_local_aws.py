"""The local AWS itself, on a tiny stack (tests/statemachine/twin_stack/) that exercises each
part: template resolution and the SAM transform, Lambda workers running as their roles with the
template's environment, error names, timeouts, scaled Retry, CodeBuild .sync as the project's
role, SNS publish as the state machine's role, IAM refusals, fault injection."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local import stack_spec
from ecr_replicate_local.local_aws import DEFAULT_TEMPLATE, LocalAws
from ecr_replicate_local.template import Template

pytestmark = pytest.mark.xdist_group("statemachine-local-aws")

STACK = Path(__file__).parent / "twin_stack"
REGIONS = {"us-east-1": "127.0.0.1:1", "eu-west-1": "127.0.0.1:2"}
BUILD_STEP = "ecr_replicate.codebuild_step"


@pytest.fixture(scope="module")
def aws():
    local = LocalAws(
        regions=REGIONS,
        source_region="us-east-1",
        template=STACK / "template.yaml",
        parameters={"WithAudit": "true"},
    )
    with local:
        assert local.codebuild is not None
        local.codebuild.argv = [sys.executable, str(STACK / "src" / "twin_stack_build.py")]
        yield local


def run(aws: LocalAws, items: list[dict[str, Any]], nap: float = 0) -> tuple[dict[str, Any], Any]:
    arn = aws.start_execution({"items": items, "nap": nap})
    desc = aws.wait(arn, timeout=60)
    return desc, json.loads(desc.get("output") or "null")


def test_template_resolution_short_tags_globals_conditions():
    tpl = Template(
        STACK / "template.yaml", region="eu-west-1", account="123456789012", parameters={"Greeting": "hi"}
    )
    functions = stack_spec.functions(tpl)
    echo = functions["Echo"]
    assert echo.handler == "twin_stack_handlers.echo"
    assert echo.code_uri == (STACK / "src").resolve()
    assert echo.timeout == 30
    assert echo.environment["GREETING"] == "hi-eu-west-1"
    assert echo.environment["TARGETS"] == "eu-west-1,ap-southeast-1"
    assert "AUDIT" not in echo.environment  # !If [Audit, ..., !Ref AWS::NoValue] with Audit false
    assert echo.role == "EchoRole"  # the role the SAM transform made for it
    assert stack_spec.substitutions(tpl, "Machine")["ProjectName"] == "ecr-replicate-Copy"
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
        stack_spec.substitute_definition('{"a": "${Missing}"}', {})


def test_each_function_runs_in_its_own_process_as_its_role(aws):
    desc, out = run(aws, [])
    assert desc["status"] == "SUCCEEDED", desc
    echo = out["greet"]["echo"]
    assert echo["event"] == {"items": [], "nap": 0}
    assert echo["identity"].startswith("arn:aws:sts::123456789012:assumed-role/ecr-replicate-EchoRole/")
    assert echo["topics"] == 1  # sns:ListTopics: its policy allows it
    assert echo["publish"] == "AuthorizationError"  # sns:Publish: its policy does not
    assert echo["env"]["TOPIC_ARN"] == aws.topic_arn
    assert echo["env"]["GREETING"] == "hello-us-east-1"
    assert echo["env"]["AUDIT"] == "on"  # the WithAudit parameter override flipped the condition
    assert json.loads(echo["env"]["REGISTRY_ENDPOINTS"]) == REGIONS
    assert echo["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "ecr-replicate-Echo"
    assert echo["context"]["function_name"] == "ecr-replicate-Echo"
    assert echo["context"]["arn"].endswith(":function:ecr-replicate-Echo")
    assert 0 < echo["context"]["remaining_ms"] <= 30_000
    assert echo["pid"] != os.getpid()
    denied = [d.message() for d in aws.denials() if d.request and d.request.action == "SNS:Publish"]
    assert any(
        "assumed-role/ecr-replicate-EchoRole/ecr-replicate-Echo is not authorized" in m for m in denied
    )


def test_errors_retry_fast_catch_by_class_name_and_codebuild(aws):
    run_id = uuid.uuid4().hex[:8]
    started = time.monotonic()
    desc, out = run(
        aws,
        [
            {
                "name": f"retried-{run_id}",
                "fail": 2,
            },  # 2 x RegistryUnavailableError, Retry 30 s + 60 s scaled
            {"name": f"missing-{run_id}", "missing": True},
            {"name": f"build-fails-{run_id}", "build_fails": True},
        ],
    )
    assert time.monotonic() - started < 30  # unscaled, the retries alone would take 90 s
    assert desc["status"] == "SUCCEEDED"
    ok, missing, build_failed = out["results"]
    assert ok["status"] == "SUCCEEDED"
    exported = {v["Name"]: v["Value"] for v in ok["exported"]}
    result = json.loads(exported["RESULT"])  # the last stdout line, not "some log line"
    assert result["name"] == f"retried-{run_id}"
    # a definite path through an index is one value, as on AWS (moto alone wraps it in a list)
    assert ok["first"] == exported["RESULT"] and ok["parsed"] == result
    assert result["project_var"] == "ecr-replicate-Topic"  # project variables from the template
    assert result["endpoint"] == aws.endpoint_url
    assert json.loads(result["registries"]) == REGIONS
    assert missing["failed"]["Error"] == "ImageNotFoundError"
    assert json.loads(missing["failed"]["Cause"])["errorMessage"] == f"missing-{run_id}: no such image"
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
    builds = list(aws.codebuild.builds.values())
    assert builds and all(
        b.environment.get("AWS_ACCESS_KEY_ID", "").startswith("ASIA") for b in builds
    )  # each build has a session of the project's role


def test_a_function_past_its_timeout_is_stopped(aws):
    desc, out = run(aws, [], nap=3)  # Sleepy's Timeout is 1 s
    assert desc["status"] == "SUCCEEDED", desc
    assert out["napped"]["Error"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in out["napped"]["Cause"]


def test_notifications_and_client_environment(aws):
    before = len(aws.notifications())
    run(aws, [{"name": f"n1-{uuid.uuid4().hex[:8]}"}])
    messages = aws.notifications()
    assert len(messages) == before + 1
    assert messages[-1]["message"][0]["status"] == "SUCCEEDED"  # published as the machine's role
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
    assert boto3.client(
        "sts",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ).get_caller_identity()["Arn"] == ("arn:aws:iam::123456789012:user/local-operator")


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "whatever", "UnrecognizedClientException"),  # a key nobody issued
        (None, "not-the-secret", "InvalidSignatureException"),  # the operator's key, a wrong secret
    ],
)
def test_requests_are_authenticated(aws, key, secret, code):
    env = aws.environment()
    ecr = boto3.client(
        "ecr",
        region_name="eu-west-1",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=key or env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as err:
        ecr.describe_repositories()
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_fault_injection_hits_the_control_plane_once(aws):
    ecr = aws.client("ecr", region="eu-west-1")
    ecr.meta.config.retries = {"total_max_attempts": 1}
    ecr = boto3.client(
        "ecr",
        region_name="eu-west-1",
        endpoint_url=aws.endpoint_url,
        config=Config(retries={"total_max_attempts": 1}),
        **aws.identities.operator().client_kwargs(),
    )
    aws.inject_aws_error("ecr", "CreateRepository", region="eu-west-1")
    with pytest.raises(ClientError) as err:
        ecr.create_repository(repositoryName="faulty")
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    ecr.create_repository(repositoryName="faulty")
    assert aws.faults_fired("ecr", "CreateRepository") == 1


def test_one_local_aws_per_process(aws):
    with pytest.raises(ConfigurationError, match="another LocalAws"):
        LocalAws(regions=REGIONS, source_region="us-east-1", template=STACK / "template.yaml").start()


def test_the_codebuild_step_is_what_the_buildspec_runs():
    """The local build runs the CodeBuild step's module and exports what the buildspec exports."""
    tpl = Template(
        DEFAULT_TEMPLATE,
        region="us-east-1",
        account="123456789012",
        parameters={"TargetRegions": "eu-west-1"},
    )
    (project,) = stack_spec.codebuild_projects(tpl).values()
    assert f"-m {BUILD_STEP}" in project.buildspec
    assert project.exported_variables(tpl.root) == ["REGION_RESULT"]
    assert project.role == "CopyBuildRole"
