"""Issue 16, the contrast: the parameters at their defaults (and ``--runtime lambda`` with
``LambdaMaxImageBytes=0``) through ``local up``'s code path, then the README's example run as a
user runs it: ``ecr-replicate local up`` in a subprocess, a repository created with settings
through the printed endpoint and credentials, two pushes, ``ecr-replicate status``.
The tuned side: tests/e2e/test_parameters_tuned.py."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ecr_replicate_cli.region_rows import region_rows
from ecr_replicate_local.sample_images import PushedImage, push_image
from tests.e2e.conftest import REPO_ROOT, processes_using, run_cli
from tests.e2e.test_local_up import read_until
from tests.support.local_up import (
    PushReport,
    local_up,
    max_regions_at_once,
    operator_client,
    plan_output,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.xdist_group("parameters-defaults")]

SOURCE = "us-east-1"
TARGETS = ["eu-west-1", "ap-southeast-1", "us-west-2"]
SCHEDULE_SCALE = 0.1


@pytest.fixture(scope="module")
def twin() -> Iterator[tuple[Any, PushReport, PushedImage, str]]:
    """Defaults, but the copy forced into Lambda above a threshold of 0 bytes, and the reconcile
    schedule every minute (a tenth of it here: the scheduler's clock runs 10 times faster). team/app
    is created IMMUTABLE in the source, then team/app:v1 pushed and replicated."""
    argv = ("--regions", ",".join([SOURCE, *TARGETS]), "--runtime", "lambda", "--parameter-overrides",
            "LambdaMaxImageBytes=0", 'ReconcileSchedule="rate(1 minute)"')  # fmt: skip
    with local_up(*argv, schedule_time_scale=SCHEDULE_SCALE) as (run, env, report):
        assert run.parameters.origins["CopyRuntime"] == "from --runtime"
        operator_client(env, "ecr").create_repository(
            repositoryName="team/app",
            imageTagMutability="IMMUTABLE",
            imageScanningConfiguration={"scanOnPush": True},
        )
        image = push_image(env.push_host(), "team/app", "v1", layer_size=4096, seed=1631)
        started = env.wait_for_execution("team/app", image.digest)
        assert env.aws.wait(started.arn, timeout=300)["status"] == "SUCCEEDED"
        yield env, report, image, started.arn


def test_copy_runtime_lambda_is_forced_above_lambda_max_image_bytes(twin: Any) -> None:
    env, report, _, arn = twin
    history = env.aws.history(arn)
    assert plan_output(history)["image"]["sizeBytes"] > 0  # above LambdaMaxImageBytes=0
    assert {row.runtime for row in region_rows(history)} == {"lambda"}
    report.line(r"^SUCCEEDED: team/app:v1 \(sha256:[0-9a-f]{12}\), copied in Lambda$")


def test_mirror_repository_settings_false_leaves_targets_alone(twin: Any) -> None:
    """The target repositories are created with ECR's defaults, and the Ensure role could not
    mirror settings if it tried: without MirrorRepositorySettings its policy lacks them."""
    env, _, _, _ = twin
    for region in TARGETS:
        ecr = operator_client(env, "ecr", region)
        (repo,) = ecr.describe_repositories(repositoryNames=["team/app"])["repositories"]
        assert repo["imageTagMutability"] == "MUTABLE", region
        assert repo["imageScanningConfiguration"] == {"scanOnPush": False}, region
    ensure = next(
        spec for spec in env.aws.functions.values() if spec.logical_id == "EnsureRepositoryFunction"
    )
    session = env.aws.session(env.aws.stack.role_arn(ensure.role), "lambda.amazonaws.com", ensure.name)
    as_ensure = env.aws.client("ecr", TARGETS[0], credentials=session)
    as_ensure.describe_repositories(repositoryNames=["team/app"])  # what it may do
    with pytest.raises(ClientError) as refused:
        as_ensure.put_image_tag_mutability(repositoryName="team/app", imageTagMutability="IMMUTABLE")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: ecr:PutImageTagMutability" in str(refused.value)


def test_max_concurrency_default_copies_regions_in_parallel(twin: Any) -> None:
    env, _, _, arn = twin
    history = env.aws.history(arn)
    assert plan_output(history)["maxConcurrency"] == 10
    assert max_regions_at_once(history) > 1


def test_cloudtrail_trigger_false_runs_each_push_once(twin: Any) -> None:
    env, _, image, _ = twin
    assert "CloudTrailPutImageRule" not in {target.rule for target in env.aws.stack.rule_targets}
    time.sleep(1.0)  # had a CloudTrail run been started, it would follow the first run's end at once
    assert [s.via_cloudtrail for s in env.executions if s.digest == image.digest] == [False]


def test_notification_email_and_log_retention_defaults(twin: Any) -> None:
    env, _, _, _ = twin
    subscriptions = operator_client(env, "sns").list_subscriptions_by_topic(TopicArn=env.aws.topic_arn)
    assert [s for s in subscriptions["Subscriptions"] if s["Protocol"].startswith("email")] == []
    groups = operator_client(env, "logs").describe_log_groups()["logGroups"]
    assert groups and {g.get("retentionInDays") for g in groups} == {30}


def test_reconcile_schedule_fires_as_its_role(twin: Any) -> None:
    """ReconcileSchedule=rate(1 minute): the schedule is in the local Scheduler, and it starts the
    reconcile workflow as the schedule's role; local up reports the run and its summary."""
    env, report, _, _ = twin
    schedule = operator_client(env, "scheduler").get_schedule(Name="ecr-replicate-ScheduledReconcile")
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["Target"]["Arn"] == env.aws.state_machine_arns["ReconcileStateMachine"]
    started = report.line(r"^scheduled ScheduledReconcile \(rate\(1 minute\)\) started arn:", timeout=60)
    arn = started.rsplit(" started ", 1)[1]
    done = env.aws.wait(arn, timeout=300)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["input"]) == {"dryRun": False}
    report.line(r"^SUCCEEDED: scheduled ScheduledReconcile \(rate\(1 minute\)\)$")
    assert env.scheduled[0].arn == arn
    role = env.aws.stack.roles[env.scheduled[0].spec.role].name  # the role Scheduler assumed
    assert env.aws.enforcer.granted[(role, "states:startexecution")] >= 1


def test_the_scheduled_reconcile_heals_a_push_whose_event_was_lost(twin: Any) -> None:
    """A push whose event is lost (what ``--drop-events`` does, for this push only) starts no run;
    a later scheduled reconcile finds it missing in every target and copies it there, and local
    up's report prints that run's summary."""
    env, report, _, _ = twin
    env.dropper.percent = 100.0
    try:
        lost = push_image(env.push_host(), "team/lost", "v1", layer_size=2048, seed=1651)
        dropped = report.line(
            r"^dropped the event of push team/lost:v1 \(sha256:[0-9a-f]{12}\): not replicated$"
        )
    finally:
        env.dropper.percent = 0.0
    deadline = time.monotonic() + 180
    while not all(image_digest(env, region, "team/lost", "v1") == lost.digest for region in TARGETS):
        assert time.monotonic() < deadline, report.text
        time.sleep(0.5)
    assert [s for s in env.executions if s.digest == lost.digest] == []  # no push run: a scheduled one
    pattern = r"^  HEALED: \d+ of \d+ image\(s\) from us-east-1 drifted; [1-9]\d* healed, 0 still failing$"
    report.line(pattern, timeout=30, after=dropped)  # the run that copied it, once it has ended


def image_digest(env: Any, region: str, repository: str, tag: str) -> str | None:
    """The digest the region's ECR holds for ``repository:tag`` (None: not there)."""
    ecr = operator_client(env, "ecr", region)
    try:
        (detail,) = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])[
            "imageDetails"
        ]
    except (ecr.exceptions.RepositoryNotFoundException, ecr.exceptions.ImageNotFoundException):
        return None
    return str(detail["imageDigest"])


def test_a_schedule_whose_role_may_not_start_the_workflow_is_refused(
    twin: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """Without states:StartExecution on its role the schedule fires and IAM refuses it, with AWS's
    sentence; local up says the schedule could not start its target. (IAM reads the role's policies
    at each call: removing them through the IAM API applies to the next firing.)"""
    env, _, _, _ = twin
    role = env.aws.stack.roles[env.aws.stack.schedules[0].role].name
    iam = operator_client(env, "iam")
    saved = {
        name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    }
    for name in saved:
        iam.delete_role_policy(RoleName=role, PolicyName=name)
    try:
        sentence = (
            f"assumed-role/{role}/scheduler is not authorized to perform: states:StartExecution on resource"
        )
        deadline = time.monotonic() + 60
        while not any(sentence in line for line in env.denials()):
            assert time.monotonic() < deadline, env.denials()
            time.sleep(0.2)
        deadline = time.monotonic() + 30
        err = ""
        while "could not start its target" not in err and time.monotonic() < deadline:
            time.sleep(0.5)
            err += capfd.readouterr().err
        assert "warning: schedule ecr-replicate-ScheduledReconcile could not start its target" in err
        assert "AccessDeniedException" in err
    finally:
        for name, document in saved.items():
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))


# --- the README's example, as a user runs it --------------------------------------------------


def test_readme_example_a_filter_and_mirrored_settings(data_dir: Any) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ecr_replicate_cli.main", "local", "up", "--regions", "us-east-1,eu-west-1",
         "--data", str(data_dir),
         "--parameter-overrides", "RepositoryInclude=team/*", "MirrorRepositorySettings=true"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        seen = read_until(process, "Replicating every push until Ctrl-C.", 120)
        text = "\n".join(seen)
        assert re.search(r"^  RepositoryInclude +team/\* +override$", text, re.M)
        assert re.search(r"^  MirrorRepositorySettings +true +override$", text, re.M)
        assert re.search(r"^  TagInclude +\"\" +default$", text, re.M)
        exports = {
            name: shlex.split(value)[0] for name, value in re.findall(r"^\s+export (\w+)=(.*)$", text, re.M)
        }
        push = re.search(r"^\s+us-east-1\s+https://\S+\s+registry (127\.0\.0\.1:\d+)", text, re.M).group(1)  # type: ignore[union-attr]

        def ecr(region: str) -> Any:  # the operator's boto3, with what local up printed
            return boto3.client(
                "ecr",
                region_name=region,
                endpoint_url=exports["AWS_ENDPOINT_URL"],
                aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
            )

        source = ecr("us-east-1")
        source.create_repository(repositoryName="team/app", imageTagMutability="IMMUTABLE")
        push_image(push, "team/app", "v1", layer_size=2048, seed=1641)
        push_image(push, "other/tool", "v1", layer_size=2048, seed=1642)
        for ended in ("SKIPPED: other/tool:v1 ", "SUCCEEDED: team/app:v1 "):  # in either order
            if not any(line.startswith(ended) for line in seen):
                seen += read_until(process, ended, 120)
        out = "\n".join(seen)
        assert re.search(
            r"^SKIPPED: other/tool:v1 \(sha256:[0-9a-f]{12}\): repository 'other/tool' matches no include "
            r"pattern \(team/\*\)$",
            out,
            re.M,
        )
        pushed_line = re.search(r"^push other/tool:v1 \(sha256:[0-9a-f]{12}\) started (arn:\S+)$", out, re.M)
        assert pushed_line is not None, out
        skipped_arn = pushed_line.group(1)
        target = ecr("eu-west-1")
        (repo,) = target.describe_repositories(repositoryNames=["team/app"])["repositories"]
        assert repo["imageTagMutability"] == "IMMUTABLE"
        shown = run_cli("status", skipped_arn, env=exports)
        assert shown.returncode == 0, shown.stderr
        assert (
            "SKIPPED: other/tool:v1: repository 'other/tool' matches no include pattern (team/*)"
            in shown.stdout
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
    assert processes_using(data_dir) == []


def test_demo_takes_parameters_too(data_dir: Any) -> None:
    """`local demo` with CloudTrailTrigger=true and MaxConcurrency=1: it prints the parameters in
    force, shows a region waiting for its turn, then follows CloudTrail's second run, which copies
    nothing."""
    result = run_cli(
        "local", "demo", "--regions", "us-east-1,eu-west-1,ap-southeast-1", "--data", str(data_dir),
        "--parameter-overrides", "CloudTrailTrigger=true", "MaxConcurrency=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^  CloudTrailTrigger +true +override$", out, re.M)
    assert re.search(r"^  MaxConcurrency +1 +override$", out, re.M)
    first, second = out.split("CloudTrailTrigger=true: CloudTrail's PutImage event started a second run\n")
    assert re.search(r"^ap-southeast-1 +waiting ", first, re.M)  # one region at a time
    assert "all regions match the source" in first
    assert re.search(r"^  eu-west-1 +done +[\d.]+ s  2\.0 MiB copied ", first, re.M)
    done = r"^  (\S+) +done +[\d.]+ s  tag set, image already there"  # nothing left to copy
    assert re.findall(done, second, re.M) == ["eu-west-1", "ap-southeast-1"]
    assert processes_using(data_dir) == []


def test_demo_with_a_filter_that_skips_its_image(data_dir: Any) -> None:
    """`local demo` whose image a filter stops: the run ends SKIPPED, the demo says why and exits 0
    (nothing to check: no region was to receive it)."""
    result = run_cli(
        "local", "demo", "--regions", "us-east-1,eu-west-1", "--data", str(data_dir),
        "--parameter-overrides", "TagExclude=v*",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^  TagExclude +v\* +override$", result.stdout, re.M)
    skipped = r"^SKIPPED: demo/app:v1 \(sha256:[0-9a-f]{12}\): tag 'v1' matches exclude pattern 'v\*'$"
    assert re.search(skipped, result.stdout, re.M), result.stdout
    assert "Notification: none (a skipped run sends none)" in result.stdout
    assert "Digest check" not in result.stdout
    assert processes_using(data_dir) == []
