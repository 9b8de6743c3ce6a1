"""The operator commands answer truly, against a real local run (``ecr-replicate local up``'s
environment, the CLI as a child process): a dry run predicts what the real run does, a typo is
said plainly before anything starts, ``status`` alone shows the latest run."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ecr_replicate_cli import status
from ecr_replicate_cli.heartbeats import HeartbeatReader
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.sample_images import push_image
from tests.e2e.conftest import run_cli

pytestmark = pytest.mark.slow

SOURCE, TARGETS = "us-east-1", ["eu-west-1"]


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    with LocalEnvironment(SOURCE, TARGETS) as local:
        yield local


def push_and_replicate(env: LocalEnvironment, seed: int) -> tuple[str, str]:
    """Push ``team/app:v1`` (a new image each seed), wait for its run to end: (digest, run ARN)."""
    pushed = push_image(env.push_host(), "team/app", "v1", seed=seed)
    started = env.wait_for_execution("team/app", pushed.digest)
    env.aws.wait(started.arn)
    return pushed.digest, started.arn


def executions(env: LocalEnvironment) -> list[str]:
    answer = env.sfn().list_executions(stateMachineArn=env.aws.state_machine_arn, maxResults=100)
    return [e["executionArn"] for e in answer["executions"]]


def test_rerun_dry_run_of_an_older_push_says_superseded_as_the_rerun_does(env: LocalEnvironment) -> None:
    _, older_run = push_and_replicate(env, seed=11)
    newer, _ = push_and_replicate(env, seed=12)  # the tag has moved since
    cli_env = env.aws.environment()

    predicted = run_cli("rerun", older_run, "--region", "eu-west-1", "--dry-run", env=cli_env, timeout=60)
    assert predicted.returncode == 0, predicted.stderr
    assert "superseded: the source tag now names " + newer[:19] in predicted.stdout
    assert "would replace" not in predicted.stdout

    real = run_cli("rerun", older_run, "--region", "eu-west-1", env=cli_env, timeout=120)
    assert real.returncode == 0, real.stdout + real.stderr
    assert re.search(r"^\s+eu-west-1\s+superseded\s", real.stdout, re.M), real.stdout
    assert "SUPERSEDED" in real.stdout


def test_replicate_checks_the_source_before_starting_anything(env: LocalEnvironment) -> None:
    push_and_replicate(env, seed=21)
    cli_env = env.aws.environment()
    before = executions(env)
    typo = run_cli("replicate", "team/ap:v1", "--no-follow", env=cli_env, timeout=60)
    assert typo.returncode == 2
    assert typo.stderr.strip() == "ecr-replicate replicate: repository team/ap not found in us-east-1"
    missing_tag = run_cli("replicate", "team/app:v9", "--no-follow", env=cli_env, timeout=60)
    assert missing_tag.returncode == 2
    assert missing_tag.stderr.strip() == "ecr-replicate replicate: team/app:v9 not found in us-east-1"
    no_tag = run_cli("replicate", "team/app", "--no-follow", env=cli_env, timeout=60)
    assert no_tag.returncode == 2 and "has no tag or digest" in no_tag.stderr
    dry_typo = run_cli("replicate", "team/ap:v1", "--dry-run", env=cli_env, timeout=60)
    assert dry_typo.stderr.strip() == "ecr-replicate replicate: repository team/ap not found in us-east-1"
    assert executions(env) == before  # nothing was started for any of them
    good = run_cli("replicate", "team/app:v1", "--no-follow", env=cli_env, timeout=60)
    assert good.returncode == 0 and good.stdout.startswith("started arn:aws:states:"), good.stderr


def test_status_without_an_execution_shows_the_latest(env: LocalEnvironment) -> None:
    _, latest = push_and_replicate(env, seed=31)
    shown = run_cli("status", env=env.aws.environment(), timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert f"execution {latest.rsplit(':', 1)[1]}: SUCCEEDED" in shown.stdout


def test_the_copy_step_leaves_a_heartbeat_status_can_read(env: LocalEnvironment) -> None:
    """Through the twin's IAM (the copy role's s3:PutObject on progress/*, the operator's read)."""
    _, arn = push_and_replicate(env, seed=41)
    bucket = env.aws.stack.buckets["ProgressBucket"]
    assert env.aws.environment()["ECR_REPLICATE_PROGRESS_BUCKET"] == bucket
    reader = HeartbeatReader(bucket, SOURCE, lambda region: env.aws.client("s3", region), min_interval=0)
    beats = reader(arn.rsplit(":", 1)[1], TARGETS)
    assert reader.problem is None
    (row,) = status.snapshot(env.sfn(), arn).rows
    beat = beats["eu-west-1"]
    assert (beat.state, beat.runtime) == ("finished", "lambda")
    assert beat.bytes_copied == row.bytes_copied > 0 and beat.bytes_total >= beat.bytes_copied

