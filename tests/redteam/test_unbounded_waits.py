"""Red team: waits that only an outer timeout ends (each test FAILS today; strict xfail).

The CodeBuild copy step runs the copier with no overall budget: a source that drips a byte within
every 60 s read timeout holds the build until the state machine's Task gives up after 7200 s with
States.Timeout (not retried, no typed error), instead of a DeadlineExceededError at the budget.
"""

from __future__ import annotations

import json

import pytest

from ecr_replicate import codebuild_step, workflow
from tests.unit.handlers.conftest import FakeCopier, lambda_env  # noqa: F401 - fixture
from tests.unit.handlers.test_copy_image import item

pytestmark = pytest.mark.timeout(60)


@pytest.mark.xfail(
    strict=True,
    reason="red team: codebuild_step.copy calls workflow.copy_region without a timeout: the copy "
    "has no deadline in CodeBuild; a slow-loris registry ends only by States.Timeout after 2 h",
)
def test_the_codebuild_copy_has_a_time_budget(lambda_env, monkeypatch, capsys) -> None:  # noqa: F811
    fake = FakeCopier()
    monkeypatch.setattr(workflow, "real_copier", lambda: fake)
    lambda_env.setenv("REPLICATION_ITEM", json.dumps(item()))
    assert codebuild_step.main([]) == 0
    capsys.readouterr()
    assert fake.calls, "the copier was called"
    budget = fake.calls[0].get("timeout")
    assert budget is not None and 0 < budget < 7200, f"copy budget in CodeBuild: {budget!r}"
