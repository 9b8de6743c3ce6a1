"""Red team, operator commands given input no deployment can have (fixed; kept as regressions).

``verify``/``backfill --repository 'BAD NAME'`` said "0 image(s) ... in sync" and exited 0: a glob
with a character no repository name holds is a typing error, refused (exit 2, one line) before
the deployment is even looked up. ``status`` with something that is neither an execution ARN nor
a name Step Functions allows says so before any call. (A valid glob that matches no repository
is said plainly: tests/operator/test_operator_commands.py.)
"""

from __future__ import annotations

from typing import Any

import pytest

from ecr_replicate.errors import InvalidInputError
from ecr_replicate_cli import deployment, patterns, status
from ecr_replicate_cli.main import main


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any look-up of a deployment or a state machine fails the test: refusals come first."""

    def called(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an AWS look-up ran before the input was checked")

    monkeypatch.setattr(deployment, "resolve", called)
    monkeypatch.setattr(status, "cloudformation_client", called)
    monkeypatch.setattr(status, "stepfunctions_client", called)


@pytest.mark.parametrize("command", ["verify", "backfill"])
@pytest.mark.parametrize(
    "option, value",
    [("--repository", "BAD NAME"), ("--repository", "Team/App"), ("--repository", ""), ("--tag", "v 1")],
)
def test_a_glob_no_name_can_match_is_a_usage_error(
    no_aws: None, capsys: pytest.CaptureFixture[str], command: str, option: str, value: str
) -> None:
    assert main([command, option, value]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and f"{option} {value!r}" in lines[0], captured.err


@pytest.mark.parametrize("value", ["team/app", "team/*", "team/svc-[01]", "[!A-Z]*", "a?c", "x.y_z-1/w"])
def test_globs_a_repository_name_can_match_pass(value: str) -> None:
    assert patterns.repository_patterns([value]) == [value]
    assert patterns.tag_patterns(["v1.*", "Latest_[0-9]"]) == ["v1.*", "Latest_[0-9]"]
    with pytest.raises(InvalidInputError):
        patterns.tag_patterns(["v1/x"])


@pytest.mark.parametrize("value", ["garbage", "BAD NAME", "a/b", "x" * 81])
def test_status_of_no_execution_says_so_without_calling_aws(
    no_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.delenv("ECR_REPLICATE_STATE_MACHINE_ARN", raising=False)
    assert main(["status", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an execution ARN or name" in err[0], err


def test_status_with_a_stack_refuses_a_bad_name_before_looking_the_stack_up(
    no_aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "BAD NAME", "--stack", "ecr-replicate"]) == 2
    assert "not an execution ARN or name" in capsys.readouterr().err
