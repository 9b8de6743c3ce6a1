"""Without ``codebuild:BatchGetBuilds`` the state machine never sees its build end: the CodeBuild
task runs into its timeout (as reported for AWS in aws-cdk#10081), though the build succeeded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ecr_replicate_local.local_aws import LocalAws
from tests.support.template_variants import without_action, write_variant

pytestmark = pytest.mark.xdist_group("statemachine-local-aws-blind")

STACK = Path(__file__).parent / "twin_stack"


def test_a_build_nobody_may_watch_times_out(tmp_path: Path) -> None:
    template = write_variant(
        tmp_path, without_action("codebuild:BatchGetBuilds"), source=STACK / "template.yaml"
    )
    with LocalAws(regions={"us-east-1": "127.0.0.1:1"}, source_region="us-east-1", template=template) as aws:
        assert aws.codebuild is not None
        aws.codebuild.argv = [sys.executable, str(STACK / "src" / "twin_stack_build.py")]
        arn = aws.start_execution({"items": [{"name": "blind"}], "nap": 0})
        done = aws.wait(arn, timeout=60)
        builds = list(aws.codebuild.builds.values())
        history = aws.history(arn)
    assert [b.status for b in builds] == ["SUCCEEDED"]  # the build itself did its work
    timed_out = [e for e in history if e["type"] == "TaskTimedOut"]
    assert [e["taskTimedOutEventDetails"]["error"] for e in timed_out] == ["States.Timeout"], history
    # the iteration fails with it; moto 5.2.5 then ends the execution with States.Runtime
    # ("Custom Error Names MUST NOT begin with the prefix 'States.'"), where AWS reports States.Timeout
    assert done["status"] == "FAILED" and "States.Timeout" in str(done.get("cause")), done
