from __future__ import annotations

import json
from typing import Any

import pytest

from ecr_replicate.errors import (
    InvalidInputError,
    InvalidReferenceError,
    RegistryUnavailableError,
    TagImmutableError,
)
from ecr_replicate.handlers import copy_image
from ecr_replicate_local.sample_images import push_image
from tests.unit.handlers.conftest import ACCOUNT, DIGEST, FakeCopier, FakeCopyResult


def item(**overrides: Any) -> dict[str, Any]:
    data = {
        "region": "eu-west-1",
        "repository": "team/app",
        "tag": "v1",
        "digest": DIGEST,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "sizeBytes": 4096,
        "sourceRegion": "us-east-1",
        "sourceRegistry": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com",
        "targetRegistry": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com",
        "runtime": "lambda",
        "executionName": "exec-1",
    }
    data.update(overrides)
    return data


@pytest.fixture
def copier(monkeypatch: pytest.MonkeyPatch) -> FakeCopier:
    fake = FakeCopier()
    monkeypatch.setattr(copy_image, "copier_factory", lambda: fake)
    monkeypatch.setattr(copy_image.credentials, "provider", "creds")
    return fake


def test_tagged_item_is_copied_with_the_newer_push_wins_guard(lambda_env, context, copier, capsys):
    out = copy_image.handler(
        item(
            ensured={
                "region": "eu-west-1",
                "repository": "team/app",
                "created": False,
                "changes": [],
                "warnings": ["kept IMMUTABLE"],
            }
        ),
        context,
    )
    call = copier.calls[0]
    assert call["source"] == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/app:v1"
    assert call["target"] == f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1"
    assert call["digest"] == DIGEST and call["guard_source_tag"] is True and call["credentials"] == "creds"
    assert next(iter(out)) == "region"
    assert out["status"] == "SUCCEEDED"
    assert (out["bytesCopied"], out["blobsCopied"], out["blobsSkipped"], out["seconds"]) == (2048, 2, 1, 0.25)
    assert out["warnings"] == ["kept IMMUTABLE"]
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert metrics, "one EMF metrics blob per invocation"
    blob = metrics[-1]
    assert (
        blob["TargetRegion"] == "eu-west-1"
        and blob["BytesCopied"] in (2048, [2048.0])
        and blob["CopySeconds"] in (0.25, [0.25])
    )


def test_digest_item_copies_by_digest_without_guard(lambda_env, context, copier):
    copy_image.handler(item(tag=None), context)
    call = copier.calls[0]
    assert call["source"].endswith(f"/team/app@{DIGEST}") and call["guard_source_tag"] is False


def test_superseded_is_reported(lambda_env, context, copier):
    copier.result = FakeCopyResult(status="SUPERSEDED")
    assert copy_image.handler(item(), context)["status"] == "SUPERSEDED"


@pytest.mark.parametrize(
    "error", [RegistryUnavailableError("down", status=503), TagImmutableError("immutable")]
)
def test_errors_propagate_by_class_name_for_the_state_machine(lambda_env, context, copier, error):
    copier.error = error
    with pytest.raises(type(error)):
        copy_image.handler(item(), context)


def test_copy_against_real_registries(lambda_env, context, monkeypatch, twin):
    pushed = push_image(twin.push_host(), "team/copied", "v2", seed=5)
    twin.recorded("team/copied", pushed.digest)
    twin.create_repository("eu-west-1", "team/copied")
    monkeypatch.setattr(copy_image.credentials, "provider", None)
    twin.as_function(lambda_env, "CopyImageFunctionRole")  # through the ECR fronts, as its role
    data = item(
        repository="team/copied",
        tag="v2",
        digest=pushed.digest,
        sourceRegistry=twin.front("us-east-1"),
        targetRegistry=twin.front("eu-west-1"),
        mediaType=pushed.media_type,
    )
    out = copy_image.handler(data, context)
    again = copy_image.handler(data, context)
    assert out["status"] == "SUCCEEDED" and out["digest"] == pushed.digest
    assert out["blobsCopied"] == len(pushed.all_blobs())
    assert again["bytesCopied"] == 0 and again["status"] == "SUCCEEDED"


# --- the item is checked against the deployment, never trusted (issue 11 item 8) ---------------

UNTRUSTED_ITEMS = {
    "region not a target": (
        {"region": "sa-east-1", "targetRegistry": f"{ACCOUNT}.dkr.ecr.sa-east-1.amazonaws.com"},
        "not a target region",
    ),
    "the source region as target": (
        {"region": "us-east-1", "targetRegistry": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"},
        "not a target region",
    ),
    "another target host": ({"targetRegistry": "registry.attacker.example"}, "targetRegistry"),
    "another account's target": (
        {"targetRegistry": "999999999999.dkr.ecr.eu-west-1.amazonaws.com"},
        "targetRegistry",
    ),
    "another source host": ({"sourceRegistry": "registry.attacker.example"}, "sourceRegistry"),
    "another source region": ({"sourceRegion": "eu-west-1"}, "sourceRegion"),
}


@pytest.mark.parametrize("overrides, words", UNTRUSTED_ITEMS.values(), ids=list(UNTRUSTED_ITEMS))
def test_an_item_that_disagrees_with_the_deployment_is_refused(lambda_env, context, copier, overrides, words):
    with pytest.raises(InvalidInputError, match=words):
        copy_image.handler(item(**overrides), context)
    assert copier.calls == []


@pytest.mark.parametrize(
    "field, value",
    [("repository", "../etc"), ("repository", "Team/App"), ("tag", "-bad"), ("digest", "sha256:abc")],
)
def test_an_item_with_a_malformed_name_is_refused(lambda_env, context, copier, field, value):
    with pytest.raises(InvalidReferenceError):
        copy_image.handler(item(**{field: value}), context)
    assert copier.calls == []
