"""The registry API through the front: digest-exact copies, and ECR's differences from
docker-registry (immutable tags, manifest size, PATCH answers, pagination, mounting)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ecr_replicate_local.ecr_front import TagMutability
from ecr_replicate_local.registry import LocalRegistry
from ecr_replicate_local.sample_images import push_image
from tests.unit.ecr_front.calls import (
    BLOB,
    BLOB_DIGEST,
    manifest_for,
    push_blob,
    push_manifest,
    upload_session,
)
from tests.unit.ecr_front.conftest import REGION, REPO, Rig, skopeo

MANIFEST_TYPE = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}


def _error(response: object) -> dict[str, str]:
    return dict(json.loads(response.data)["errors"][0])  # type: ignore[attr-defined]


def test_skopeo_copies_through_the_front_digest_exactly(
    rig: Rig, registry_factory: Callable[..., LocalRegistry], cert_dir: Path
) -> None:
    source = registry_factory("source")
    pushed = push_image(source.host, REPO, "v1", layer_count=3, layer_size=300_000, seed=7)
    creds = f"AWS:{rig.token}"
    into = skopeo(
        "copy", "--preserve-digests", "--src-tls-verify=false",
        "--dest-creds", creds, "--dest-cert-dir", str(cert_dir),
        f"docker://{source.host}/{REPO}:v1", f"docker://{rig.front.host}/{REPO}:v1",
    )  # fmt: skip
    assert into.returncode == 0, into.stderr
    raw = skopeo(
        "inspect",
        "--raw",
        "--creds",
        creds,
        "--cert-dir",
        str(cert_dir),
        f"docker://{rig.front.host}/{REPO}:v1",
    )
    assert raw.returncode == 0, raw.stderr
    assert "sha256:" + hashlib.sha256(raw.stdout.encode()).hexdigest() == pushed.digest

    # and back out: every layer through the 307 to the layer host (which refuses credentials)
    target = registry_factory("target")
    out = skopeo(
        "copy", "--preserve-digests", "--dest-tls-verify=false",
        "--src-creds", creds, "--src-cert-dir", str(cert_dir),
        f"docker://{rig.front.host}/{REPO}:v1", f"docker://{target.host}/{REPO}:v1",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    copied = rig.http.request(
        "GET", f"{target.url}/v2/{REPO}/manifests/v1", headers={"Accept": pushed.media_type}
    )
    assert "sha256:" + hashlib.sha256(copied.data).hexdigest() == pushed.digest
    actions = rig.front.journal.actions()
    assert {"ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:GetDownloadUrlForLayer"} <= actions
    redirects = [e for e in rig.front.journal.entries() if e.action == "ecr:GetDownloadUrlForLayer"]
    assert redirects and all(entry.status == 307 for entry in redirects)


def test_skopeo_with_a_wrong_token_is_refused(rig: Rig, cert_dir: Path) -> None:
    done = skopeo(
        "inspect", "--creds", "AWS:wrong", "--cert-dir", str(cert_dir), f"docker://{rig.front.host}/{REPO}:v1"
    )
    assert done.returncode != 0
    assert "unauthorized" in done.stderr.lower() or "401" in done.stderr


@pytest.mark.parametrize(
    ("mutability", "filters", "tag", "refused"),
    [
        (TagMutability.IMMUTABLE, (), "v1", True),
        (TagMutability.MUTABLE, (), "v1", False),
        (TagMutability.IMMUTABLE_WITH_EXCLUSION, ("dev-*", "latest"), "dev-42", False),
        (TagMutability.IMMUTABLE_WITH_EXCLUSION, ("dev-*", "latest"), "v1", True),
        (TagMutability.MUTABLE_WITH_EXCLUSION, ("release-*",), "release-1.0", True),
        (TagMutability.MUTABLE_WITH_EXCLUSION, ("release-*",), "nightly", False),
    ],
)
def test_an_existing_tag_of_an_immutable_repository_cannot_be_pushed_again(
    rig: Rig, mutability: TagMutability, filters: tuple[str, ...], tag: str, refused: bool
) -> None:
    rig.catalog.create(REGION, "locked/app", mutability, filters)
    digest, manifest = push_manifest(rig, "locked/app", tag)
    again = rig.request("PUT", f"/v2/locked/app/manifests/{tag}", body=manifest, headers=MANIFEST_TYPE)
    if not refused:
        assert again.status == 201
        return
    assert again.status == 400  # even with the very same digest, as ECR does
    assert _error(again) == {
        "code": "TAG_INVALID",
        "message": f"The image tag '{tag}' already exists in the 'locked/app' repository and cannot be "
        "overwritten because the repository is immutable.",
    }
    by_digest = rig.request("PUT", f"/v2/locked/app/manifests/{digest}", body=manifest, headers=MANIFEST_TYPE)
    assert by_digest.status == 201
    assert (
        rig.request("PUT", "/v2/locked/app/manifests/new-tag", body=manifest, headers=MANIFEST_TYPE).status
        == 201
    )


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_manifest_over_4_mib_is_refused(rig: Rig, chunked: bool) -> None:
    padding = "x" * (4 * 1024 * 1024)
    body = json.dumps({"schemaVersion": 2, "annotations": {"pad": padding}}).encode()
    source = iter([body[i : i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    response = rig.request(
        "PUT", f"/v2/{REPO}/manifests/big", body=source, headers=MANIFEST_TYPE, chunked=chunked
    )
    assert response.status == 405
    assert _error(response) == {
        "code": "UNSUPPORTED",
        "message": "Invalid parameter at 'ImageManifest' failed to satisfy constraint: "
        "'Member must have length less than or equal to 4194304'",
    }
    assert rig.registry_status(f"/v2/{REPO}/manifests/big") == 404


def test_a_manifest_that_is_not_json_is_refused_as_ecr_does(rig: Rig) -> None:
    response = rig.request("PUT", f"/v2/{REPO}/manifests/bad", body=b"{not json", headers=MANIFEST_TYPE)
    assert response.status == 405
    assert _error(response)["message"].endswith("'Invalid JSON syntax'")


def test_answers_carry_docker_content_digest(rig: Rig) -> None:
    digest, _ = push_manifest(rig, REPO)
    head = rig.request(
        "HEAD", f"/v2/{REPO}/manifests/latest", headers={"Accept": MANIFEST_TYPE["Content-Type"]}
    )
    assert head.status == 200 and head.headers["Docker-Content-Digest"] == digest
    blob = rig.request("HEAD", f"/v2/{REPO}/blobs/{BLOB_DIGEST}")
    assert blob.headers["Docker-Content-Digest"] == BLOB_DIGEST
    assert int(blob.headers["Content-Length"]) == len(BLOB)


def test_patch_answers_201_and_a_range_stuck_at_the_first_part(rig: Rig) -> None:
    session = upload_session(rig, REPO)
    first, second = BLOB[:1000], BLOB[1000:]
    one = rig.request("PATCH", session, body=first, headers={"Content-Type": "application/octet-stream"})
    assert one.status == 201 and one.headers["Range"] == "0-999"
    assert one.headers["Location"].startswith(f"https://{rig.front.host}/v2/{REPO}/blobs/uploads/")
    session = one.headers["Location"].split(rig.front.host, 1)[1]
    two = rig.request("PATCH", session, body=second)
    assert two.status == 201 and two.headers["Range"] == "0-999"  # aws/containers-roadmap#2831
    session = two.headers["Location"].split(rig.front.host, 1)[1]
    done = rig.request("PUT", f"{session}&digest={BLOB_DIGEST}")
    assert done.status == 201 and done.headers["Docker-Content-Digest"] == BLOB_DIGEST  # every byte kept


def test_mounting_is_off_unless_enabled(make_rig: Callable[..., Rig]) -> None:
    for enabled, expected in ((False, 202), (True, 201)):
        rig = make_rig(blob_mounting=enabled)
        rig.catalog.create(REGION, "other/app")
        push_blob(rig, "other/app")
        mount = rig.request("POST", f"/v2/{REPO}/blobs/uploads/?mount={BLOB_DIGEST}&from=other/app")
        assert mount.status == expected


def _tag_many(rig: Rig, count: int) -> list[str]:
    """Tags pushed straight into the registry behind the front (fast, plain http)."""
    digest = push_blob(rig, REPO)
    manifest = manifest_for(digest, len(BLOB))
    tags = [f"t{i:04d}" for i in range(count)]
    for tag in tags:
        response = rig.http.request(
            "PUT", f"{rig.registry.url}/v2/{REPO}/manifests/{tag}", body=manifest, headers=MANIFEST_TYPE
        )
        assert response.status == 201
    return tags


def test_tags_are_listed_in_pages_of_100_with_opaque_next_links(rig: Rig) -> None:
    tags = _tag_many(rig, 150)
    first = rig.request("GET", f"/v2/{REPO}/tags/list")
    assert first.status == 200 and first.headers["Content-Type"].startswith("text/plain")
    page = json.loads(first.data)
    assert page["name"] == REPO and len(page["tags"]) == 100
    assert page["tags"] != sorted(page["tags"])  # ECR's order is not lexical
    link = first.headers["Link"]
    assert link.startswith(f"<https://{rig.front.host}/v2/{REPO}/tags/list?last=") and link.endswith(
        '>; rel="next"'
    )
    assert page["tags"][-1] not in link  # the token is not the last tag
    second = rig.request("GET", link[1:].split(">", 1)[0].split(rig.front.host, 1)[1])
    rest = json.loads(second.data)["tags"]
    assert "Link" not in second.headers
    assert sorted(page["tags"] + rest) == tags


def test_tags_list_refuses_pages_over_1000_and_made_up_tokens(rig: Rig) -> None:
    too_big = rig.request("GET", f"/v2/{REPO}/tags/list?n=1001")
    assert too_big.status == 405
    assert _error(too_big)["message"] == (
        "Invalid parameter at 'maxResults' failed to satisfy constraint: "
        "'Member must have value less than or equal to 1000'"
    )
    made_up = rig.request("GET", f"/v2/{REPO}/tags/list?n=10&last=t0005")
    assert made_up.status == 405 and "nextToken" in _error(made_up)["message"]


def test_an_empty_repository_lists_no_tags(rig: Rig) -> None:
    response = rig.request("GET", f"/v2/{REPO}/tags/list?n=1000")
    assert response.status == 200 and json.loads(response.data) == {"name": REPO, "tags": []}


def test_catalog_lists_the_control_planes_repositories(rig: Rig) -> None:
    rig.catalog.create(REGION, "b/two")
    rig.catalog.create("us-east-1", "elsewhere")
    response = rig.request("GET", "/v2/_catalog")
    assert response.status == 200
    assert sorted(json.loads(response.data)["repositories"]) == sorted([REPO, "b/two"])
