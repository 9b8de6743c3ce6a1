"""``status`` and ``rerun`` against a real local execution (moto engine + local registries)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest

from ecr_replicate.errors import InvalidInputError
from ecr_replicate_cli import rerun, status
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.sample_images import push_index
from tests.e2e.conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_run() -> Iterator[tuple[LocalEnvironment, str]]:
    with LocalEnvironment("us-east-1", ["eu-west-1", "ap-southeast-1"]) as env:
        assert env.regions is not None
        pushed = push_index(env.regions.source.host, "team/app", "v2", layer_size=4096, seed=7)
        started = env.wait_for_execution("team/app", pushed.digest)
        env.aws.wait(started.arn)
        yield env, started.arn


def test_plain_status_of_a_finished_local_execution(local_run: tuple[LocalEnvironment, str]) -> None:
    env, arn = local_run
    out = io.StringIO()
    view = status.watch(env.sfn(), arn, out=out, follow=True, tty=False)
    assert view.status == "SUCCEEDED" and status.exit_code(view) == 0
    text = out.getvalue()
    assert f"execution {arn.rsplit(':', 1)[1]}: SUCCEEDED" in text
    row = r"^\s+eu-west-1\s+done\s+\d+\.\d s  \d+\.\d KiB copied \(6 blobs\)"
    assert re.search(row + r", lag \d+\.\d s$", text, re.M)  # push event -> region holds it
    assert re.search(r"^\s+ap-southeast-1\s+done\s", text, re.M)
    assert "SUCCEEDED: team/app:v2" in text  # the run's summary text


def test_rich_table_on_a_terminal(local_run: tuple[LocalEnvironment, str]) -> None:
    env, arn = local_run
    out = io.StringIO()
    status.watch(env.sfn(), arn, out=out, follow=False, tty=True)
    text = out.getvalue()
    assert "copied" in text and "lag" in text and "SUCCEEDED (2/2 regions done)" in text
    assert re.search(r"eu-west-1\s*│\s*\S*done", text)


def test_status_cli_reaches_the_local_engine_through_aws_endpoint_url(
    local_run: tuple[LocalEnvironment, str],
) -> None:
    env, arn = local_run
    result = run_cli("status", arn, "--follow", env=env.aws.environment(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s+eu-west-1\s+done\s", result.stdout, re.M)
    assert re.search(r"^\s+ap-southeast-1\s+done\s", result.stdout, re.M)


def test_rerun_cli_starts_a_traceable_execution_for_one_region(
    local_run: tuple[LocalEnvironment, str],
) -> None:
    env, arn = local_run
    result = run_cli("rerun", arn, "--region", "ap-southeast-1", env=env.aws.environment(), timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    new_arn = re.search(r"re-running ap-southeast-1 of \S+: (arn:\S+)", result.stdout)
    assert new_arn is not None and new_arn.group(1) == f"{arn}-rerun-1"
    assert re.search(r"^\s+ap-southeast-1\s+done\s", result.stdout, re.M)
    assert "eu-west-1" not in result.stdout
    view = status.snapshot(env.sfn(), new_arn.group(1))
    assert view.input == {
        "repository": "team/app", "tag": "v2", "digest": view.input["digest"], "regions": ["ap-southeast-1"],
    }
    # nothing failed: --failed has nothing to do; an unknown region is a clear error
    none = run_cli("rerun", arn, "--failed", env=env.aws.environment(), timeout=60)
    assert none.returncode == 0 and "nothing to re-run" in none.stdout
    bad = run_cli("rerun", arn, "--region", "sa-east-1", env=env.aws.environment(), timeout=60)
    assert bad.returncode == 2 and "not part of execution" in bad.stderr


def test_rerun_name_stays_traceable_and_short() -> None:
    assert rerun.rerun_name("ecr-push-abc", 1) == "ecr-push-abc-rerun-1"
    assert rerun.rerun_name("ecr-push-abc-rerun-1", 2) == "ecr-push-abc-rerun-2"
    long_name = "x" * 80
    assert len(rerun.rerun_name(long_name, 12)) == 80
    assert rerun.rerun_name(long_name, 12).endswith("-rerun-12")


def test_rerun_input_normalises_an_ecr_event() -> None:
    event: dict[str, Any] = {
        "version": "0", "id": "13cde686-328b-6117-af20-0e5566167482", "detail-type": "ECR Image Action",
        "source": "aws.ecr", "account": "123456789012", "time": "2019-11-16T01:54:34Z",
        "region": "us-west-2", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "my-repository-name",
                   "image-digest": "sha256:" + "7f" * 32, "action-type": "PUSH", "image-tag": "latest"},
    }
    assert rerun.rerun_input(event, ["eu-west-1"], default_region="us-west-2") == {
        "repository": "my-repository-name", "tag": "latest", "digest": "sha256:" + "7f" * 32,
        "regions": ["eu-west-1"],
    }
    with pytest.raises(InvalidInputError):
        rerun.rerun_input({"detail-type": "Something else", "detail": {}}, ["eu-west-1"], default_region="x")
