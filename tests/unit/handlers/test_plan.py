from __future__ import annotations

from typing import Any

import pytest

from ecr_replicate.errors import InvalidInputError, InvalidReferenceError
from ecr_replicate.handlers import plan
from ecr_replicate.workflow import UNTAGGED_PUSH_REASON
from ecr_replicate_local.sample_images import push_index
from tests.unit.handlers.conftest import ACCOUNT, DIGEST, FakeDescribe, FakeDescription, load_event


@pytest.fixture
def describe(monkeypatch: pytest.MonkeyPatch) -> FakeDescribe:
    fake = FakeDescribe()
    monkeypatch.setattr(plan, "describe_factory", lambda: fake)
    monkeypatch.setattr(plan.credentials, "provider", None)
    monkeypatch.setattr(plan, "ecr_clients", lambda region: None)
    return fake


def run(event: Any, context: Any) -> dict[str, Any]:
    out: dict[str, Any] = plan.handler(event, context)
    return out


def test_tagged_push_plans_one_item_per_target_region_source_dropped(lambda_env, context, describe):
    event = load_event("ecr_push_tag.json")
    out = run({"event": event, "executionName": "exec-1", "executionArn": "arn:x"}, context)
    assert out["status"] == "PLANNED"
    assert out["executionName"] == "exec-1"
    assert [item["region"] for item in out["items"]] == ["eu-west-1", "ap-southeast-1"]
    item = out["items"][0]
    assert next(iter(item)) == "region"
    assert item["repository"] == "team/app" and item["tag"] == "v1"
    assert item["sourceRegistry"] == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
    assert item["targetRegistry"] == f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
    assert item["runtime"] == "lambda"
    assert out["maxConcurrency"] == 10
    # Described by the pushed digest, not by the tag (which may have moved on since).
    assert (
        describe.calls[0][0]
        == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/app@{event['detail']['image-digest']}"
    )


def test_untagged_push_is_skipped_after_reading_its_manifest_only(lambda_env, context, describe):
    """A push by digest may be a referrer (OCI 1.1 subject): its manifest is read to tell; a
    platform manifest (no subject) is skipped, copied with its index's tag."""
    event = load_event("ecr_push_untagged.json")
    out = run(event, context)
    assert out["status"] == "SKIPPED"
    assert out["reason"] == UNTAGGED_PUSH_REASON
    assert out["items"] == []
    assert [call[0] for call in describe.calls] == [
        f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/app@{event['detail']['image-digest']}"
    ]


def test_failed_push_event_is_skipped(lambda_env, context, describe):
    out = run(load_event("ecr_push_failed.json"), context)
    assert out["status"] == "SKIPPED" and "not a successful push" in out["reason"]


def test_cloudtrail_put_image_is_planned_like_the_native_event(lambda_env, context, describe):
    out = run(load_event("cloudtrail_put_image.json"), context)
    assert out["status"] == "PLANNED"
    assert out["request"]["trigger"] == "cloudtrail"
    assert out["request"]["tag"] == "v1"
    assert len(out["items"]) == 2


def test_manual_input_and_restricted_regions(lambda_env, context, describe):
    out = run(load_event("manual.json"), context)
    assert out["request"]["trigger"] == "manual" and len(out["items"]) == 2
    # manual by tag: described by tag
    assert describe.calls[-1][0].endswith("/team/app:v1")
    out = run(load_event("manual_regions.json"), context)
    assert [item["region"] for item in out["items"]] == ["eu-west-1"]


def test_manual_digest_without_tag_is_copied_by_digest(lambda_env, context, describe):
    out = run(load_event("manual_digest.json"), context)
    assert out["status"] == "PLANNED"
    assert all(item["tag"] is None for item in out["items"])


def test_manual_region_outside_the_deployment_is_refused(lambda_env, context, describe):
    with pytest.raises(InvalidInputError, match="not target regions"):
        run({"repository": "team/app", "tag": "v1", "regions": ["us-east-1"]}, context)
    with pytest.raises(InvalidInputError, match="not target regions"):
        run({"repository": "team/app", "tag": "v1", "regions": ["sa-east-1"]}, context)


@pytest.mark.parametrize(
    ("env", "value", "reason"),
    [
        ("REPOSITORY_EXCLUDE", "team/*", "exclude pattern"),
        ("REPOSITORY_INCLUDE", "other/*,base", "no include pattern"),
        ("TAG_EXCLUDE", "v*", "tag 'v1'"),
        ("TAG_INCLUDE", "release-*", "tag 'v1'"),
    ],
)
def test_filtered_out_images_are_skipped(lambda_env, context, describe, env, value, reason):
    lambda_env.setenv(env, value)
    out = run(load_event("ecr_push_tag.json"), context)
    assert out["status"] == "SKIPPED"
    assert reason in out["reason"]
    assert describe.calls == []


def test_auto_runtime_sends_large_images_to_codebuild(lambda_env, context, describe):
    lambda_env.setenv("LAMBDA_MAX_IMAGE_BYTES", "1000")
    describe.description = FakeDescription(size_bytes=1001)
    out = run(load_event("ecr_push_tag.json"), context)
    assert {item["runtime"] for item in out["items"]} == {"codebuild"}
    lambda_env.setenv("COPY_RUNTIME", "lambda")
    out = run(load_event("ecr_push_tag.json"), context)
    assert {item["runtime"] for item in out["items"]} == {"lambda"}


def test_registry_endpoints_replace_ecr_hosts(lambda_env, context, describe):
    lambda_env.setenv(
        "REGISTRY_ENDPOINTS",
        '{"us-east-1": "127.0.0.1:5001", "eu-west-1": "127.0.0.1:5002", "ap-southeast-1": "127.0.0.1:5003"}',
    )
    out = run(load_event("manual.json"), context)
    assert [(i["sourceRegistry"], i["targetRegistry"]) for i in out["items"]] == [
        ("127.0.0.1:5001", "127.0.0.1:5002"),
        ("127.0.0.1:5001", "127.0.0.1:5003"),
    ]


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("malformed_missing_repository.json", InvalidInputError, "repository-name"),
        ("malformed_repository_name.json", InvalidReferenceError, "invalid repository name"),
        ("malformed_digest.json", InvalidReferenceError, "invalid digest"),
        ("malformed_tag_too_long.json", InvalidReferenceError, "129 characters"),
        ("malformed_manual_unknown_field.json", InvalidInputError, "region"),
        ("malformed_manual_no_tag.json", InvalidInputError, "tag or a digest"),
        ("malformed_wrong_types.json", InvalidInputError, "repository"),
        ("malformed_detail_type.json", InvalidInputError, "unsupported event detail-type"),
    ],
)
def test_malformed_input_gets_a_clear_typed_error(lambda_env, context, describe, name, error, words):
    with pytest.raises(error) as caught:
        run(load_event(name), context)
    message = str(caught.value)
    assert words in message
    assert "pydantic" not in message and "For further information" not in message
    assert len(message) < 600
    assert describe.calls == []


def test_not_an_object_is_refused(lambda_env, context, describe):
    with pytest.raises(InvalidInputError, match="JSON object"):
        run(["team/app"], context)


def test_plan_against_a_real_registry(lambda_env, context, monkeypatch, twin):
    """The real describe_image against a real registry (through its ECR front, as the plan
    function's role): digest, media type and size of an index."""
    pushed = push_index(twin.push_host(), "team/planned", "v1", seed=3)
    twin.recorded("team/planned", pushed.digest)
    twin.as_function(lambda_env, "PlanFunctionRole")
    monkeypatch.setattr(plan.credentials, "provider", None)
    out = run({"repository": "team/planned", "tag": "v1"}, context)
    assert out["image"]["digest"] == pushed.digest
    assert out["image"]["mediaType"] == pushed.media_type
    assert out["image"]["sizeBytes"] >= sum(pushed.all_blobs().values())
    assert out["items"][0]["digest"] == pushed.digest
    assert pushed.digest != DIGEST
