"""A repository the deployment's filters exclude: the execution succeeds as SKIPPED, no region runs."""

from __future__ import annotations

import json

import pytest

from ecr_replicate_local.sample_images import push_image

pytestmark = pytest.mark.xdist_group("statemachine-skipped")


@pytest.fixture(scope="module")
def engine_parameters() -> dict[str, str]:
    return {"RepositoryExclude": "internal/*"}


def test_filtered_out_repository_is_skipped(workflow, oracle):
    image = push_image(workflow.host(workflow.source), "internal/tool", "v1", seed=21)
    done = workflow.run(workflow.push_event("internal/tool", "v1", image.digest))
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["status"] == "SKIPPED"
    history = workflow.aws.history(done["executionArn"])
    assert not [e for e in history if e["type"] == "MapIterationStarted"]
    assert workflow.rows(done) == {}
    for region in workflow.targets:
        assert oracle(f"{workflow.host(region)}/internal/tool:v1") is None
