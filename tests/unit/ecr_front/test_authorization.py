"""Every call is authorised as the IAM action ECR checks for it; the repository must exist."""

from __future__ import annotations

import json
import logging

import pytest

from ecr_replicate_local.ecr_front.routes import ALL_ACTIONS
from tests.unit.ecr_front.calls import BLOB_DIGEST, call, push_manifest, upload_session
from tests.unit.ecr_front.conftest import ACCOUNT, REGION, REPO, ROLE, Rig, basic

ACTIONS = sorted(ALL_ACTIONS)
SESSION_ACTIONS = {"ecr:UploadLayerPart", "ecr:CompleteLayerUpload"}


def _session(rig: Rig, action: str) -> str | None:
    return upload_session(rig, REPO) if action in SESSION_ACTIONS else None


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_is_denied_when_iam_denies_it(rig: Rig, action: str) -> None:
    session = _session(rig, action)
    rig.authorizer.denied = {action}
    response = call(rig, action, REPO, session=session)
    assert response.status == 403
    resource = (
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{'*' if action == 'ecr:DescribeRepositories' else REPO}"
    )
    if action != "ecr:BatchCheckLayerAvailability":  # a HEAD: the answer has no body
        assert json.loads(response.data)["errors"][0] == {
            "code": "DENIED",
            "message": f"User: {ROLE} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action",
        }
    entry = rig.front.journal.denied()[-1]
    assert (entry.principal, entry.action, entry.resource, entry.allowed, entry.status) == (
        ROLE,
        action,
        resource,
        False,
        403,
    )


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_is_asked_for_and_allowed(rig: Rig, action: str) -> None:
    session = _session(rig, action)
    response = call(rig, action, REPO, session=session)
    assert response.status not in (401, 403), response.data
    assert (ROLE, action, rig.front.journal.entries()[-1].resource, REGION) == rig.authorizer.asked[-1]
    assert rig.front.journal.entries()[-1].allowed is True


def test_the_deny_reason_of_the_authorizer_is_in_the_message(rig: Rig) -> None:
    rig.authorizer.denied = {"ecr:PutImage"}
    rig.authorizer.reason = "with an explicit deny in an identity-based policy"
    message = json.loads(call(rig, "ecr:PutImage", REPO).data)["errors"][0]["message"]
    assert message.endswith("because with an explicit deny in an identity-based policy")


def test_a_denied_push_changes_nothing(rig: Rig) -> None:
    rig.authorizer.denied = {"ecr:PutImage"}
    assert call(rig, "ecr:PutImage", REPO).status == 403
    status = rig.registry_status(f"/v2/{REPO}/manifests/latest")
    assert status == 404


def test_manifest_head_and_referrers_are_batch_get_image(rig: Rig) -> None:
    digest, _ = push_manifest(rig, REPO)
    rig.authorizer.denied = {"ecr:BatchGetImage"}
    assert rig.request("HEAD", f"/v2/{REPO}/manifests/latest").status == 403
    assert rig.request("GET", f"/v2/{REPO}/referrers/{digest}").status == 403
    assert [entry.action for entry in rig.front.journal.denied()] == ["ecr:BatchGetImage"] * 2


@pytest.mark.parametrize("action", ACTIONS)
def test_iam_is_asked_before_the_repository_is_looked_up(rig: Rig, action: str) -> None:
    rig.authorizer.denied = {action}
    assert call(rig, action, "no/such-repo").status == 403


@pytest.mark.parametrize("action", sorted(ALL_ACTIONS - {"ecr:DescribeRepositories"}))
def test_a_repository_missing_from_the_control_plane_is_name_unknown(rig: Rig, action: str) -> None:
    response = call(rig, action, "no/such-repo")
    assert response.status == 404
    if action != "ecr:BatchCheckLayerAvailability":
        assert json.loads(response.data)["errors"][0] == {
            "code": "NAME_UNKNOWN",
            "message": "The repository with name 'no/such-repo' does not exist "
            f"in the registry with id '{ACCOUNT}'",
        }
    # docker-registry would have created it on push; the front never let the request through
    assert rig.registry_status("/v2/no/such-repo/tags/list") == 404


def test_a_method_ecr_does_not_offer_is_unsupported_without_asking_iam(rig: Rig) -> None:
    response = rig.request("DELETE", f"/v2/{REPO}/blobs/{BLOB_DIGEST}")
    assert response.status == 405
    assert json.loads(response.data)["errors"][0]["code"] == "UNSUPPORTED"
    assert rig.authorizer.asked == []


def test_log_lines_name_the_denial_but_never_a_secret(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    session = upload_session(rig, REPO)
    for action in ACTIONS:
        rig.authorizer.denied = {action}
        call(rig, action, REPO, session=session)
    rig.authorizer.denied = set()
    push_manifest(rig, REPO)
    blob = rig.request("GET", f"/v2/{REPO}/blobs/{BLOB_DIGEST}")
    presigned = blob.headers["Location"]
    text = "\n".join(record.getMessage() for record in caplog.records)
    text += "\n".join(str(record.exc_info) for record in caplog.records if record.exc_info)
    assert "denied ecr:PutImage" in text
    for secret in (rig.token, basic(rig.token), presigned.split("X-Amz-Signature=")[1]):
        assert secret not in text
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("ecr_replicate_local")]
    assert ours and not any("?" in message for message in ours)  # no query string (upload states)
    for entry in rig.front.journal.entries():
        assert rig.token not in repr(entry) and "?" not in entry.path
