"""One request per IAM action the front checks (shared by the IAM, catalog and log tests)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ecr_replicate_local.ecr_front.routes import ALL_ACTIONS
from tests.unit.ecr_front.conftest import Rig

BLOB = b"layer bytes for the front's tests\n" * 64
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def manifest_for(config_digest: str, size: int) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": size,
            },
            "layers": [],
        }
    ).encode()


def push_blob(rig: Rig, repo: str, data: bytes = BLOB) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    session = upload_session(rig, repo)
    done = rig.request("PUT", f"{session}&digest={digest}", body=data)
    assert done.status == 201, done.data
    return digest


def push_manifest(rig: Rig, repo: str, tag: str = "latest") -> tuple[str, bytes]:
    digest = push_blob(rig, repo)
    manifest = manifest_for(digest, len(BLOB))
    response = rig.request(
        "PUT",
        f"/v2/{repo}/manifests/{tag}",
        body=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert response.status == 201, response.data
    return "sha256:" + hashlib.sha256(manifest).hexdigest(), manifest


def upload_session(rig: Rig, repo: str) -> str:
    start = rig.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert start.status == 202, start.data
    location: str = start.headers["Location"]
    return location.split(rig.front.host, 1)[1]


def call(rig: Rig, action: str, repo: str, *, session: str | None = None) -> Any:
    """Make the request that ECR authorises as ``action`` (``session``: an upload path)."""
    manifest_type = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
    requests: dict[str, tuple[str, str, dict[str, Any]]] = {
        "ecr:BatchGetImage": ("GET", f"/v2/{repo}/manifests/latest", {}),
        "ecr:BatchCheckLayerAvailability": ("HEAD", f"/v2/{repo}/blobs/{BLOB_DIGEST}", {}),
        "ecr:GetDownloadUrlForLayer": ("GET", f"/v2/{repo}/blobs/{BLOB_DIGEST}", {}),
        "ecr:InitiateLayerUpload": ("POST", f"/v2/{repo}/blobs/uploads/", {}),
        "ecr:UploadLayerPart": ("PATCH", session or f"/v2/{repo}/blobs/uploads/abc", {"body": BLOB}),
        "ecr:CompleteLayerUpload": (
            "PUT",
            (session or f"/v2/{repo}/blobs/uploads/abc?x=1") + f"&digest={BLOB_DIGEST}",
            {"body": BLOB},
        ),
        "ecr:PutImage": (
            "PUT",
            f"/v2/{repo}/manifests/latest",
            {"body": manifest_for(BLOB_DIGEST, len(BLOB)), "headers": manifest_type},
        ),
        "ecr:ListImages": ("GET", f"/v2/{repo}/tags/list", {}),
        "ecr:BatchDeleteImage": ("DELETE", f"/v2/{repo}/manifests/{BLOB_DIGEST}", {}),
        "ecr:DescribeRepositories": ("GET", "/v2/_catalog", {}),
    }
    assert set(requests) == ALL_ACTIONS
    method, path, options = requests[action]
    return rig.request(method, path, **options)
