"""Keep the local ECR control plane (moto) in step with what the local registries hold.

On AWS a registry push *is* an ECR ``PutImage``: ``DescribeImages`` lists the image with its tags.
Locally the data plane is one ``docker-registry`` per region and the control plane is moto, so:

* at start, :func:`seed_from_registry` reads each region's registry (catalog, tags, manifests)
  and records every tagged image in that region's ECR -- after a restart with ``--data`` the
  control plane knows what the registries kept, and no more (a deleted region is empty);
* afterwards every registry notifies the twin of its pushes and deletions, and
  :func:`record_push` / :func:`record_delete` apply them to the region's ECR.

The reader talks plain http (urllib3) to the bare docker-registry behind the region's ECR front
(it is the twin's own bookkeeping, not a client of the registry API), with bounded sizes and counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse

import urllib3
from botocore.exceptions import ClientError

from ecr_replicate.ecr import aws_call
from ecr_replicate.errors import RegistryError

logger = logging.getLogger(__name__)

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # ECR's own limit
MAX_PAGE_BYTES = 8 * 1024 * 1024
MAX_PAGES = 1000
PAGE_SIZE = 1000


@dataclass(frozen=True)
class StoredManifest:
    body: bytes
    media_type: str
    digest: str


class RegistryReader:
    """What a local docker-registry holds, read over plain http (catalog, tags, manifests)."""

    def __init__(self, host: str, *, timeout: float = 10.0) -> None:
        self.base = f"http://{host}"
        hostname, _, port = host.rpartition(":")
        self._pool = urllib3.HTTPConnectionPool(
            hostname, int(port), timeout=timeout, retries=False, maxsize=1
        )

    def close(self) -> None:
        self._pool.close()

    def _get(
        self, path: str, accept: str = "application/json", limit: int = MAX_PAGE_BYTES
    ) -> tuple[urllib3.HTTPResponse, bytes]:
        try:
            response = self._pool.request(
                "GET", path, headers={"Accept": accept}, preload_content=False, redirect=False
            )
            try:
                body = response.read(limit + 1)
                if len(body) > limit:
                    raise RegistryError(f"{self.base}{urlparse(path).path}: answer over {limit} bytes")
                response.drain_conn()
            except BaseException:
                response.close()  # the rest is unread: this connection is done
                raise
            response.release_conn()
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise RegistryError(f"{self.base}: {type(exc).__name__}: {exc}") from None
        return response, body

    def _pages(self, path: str, key: str) -> list[str]:
        found: list[str] = []
        next_path: str | None = f"{path}?n={PAGE_SIZE}"
        for _ in range(MAX_PAGES):
            if next_path is None:
                return found
            response, body = self._get(next_path)
            if response.status == 404:
                return found
            if response.status != 200:
                raise RegistryError(f"{self.base}{path}: HTTP {response.status}", status=response.status)
            items = (json.loads(body) or {}).get(key) or []
            found.extend(str(item) for item in items if isinstance(item, str))
            link = response.headers.get("Link", "")
            next_path = link.split(";", 1)[0].strip().strip("<>") if 'rel="next"' in link else None
        raise RegistryError(f"{self.base}{path}: more than {MAX_PAGES} pages")

    def repositories(self) -> list[str]:
        return self._pages("/v2/_catalog", "repositories")

    def tags(self, repository: str) -> list[str]:
        return self._pages(f"/v2/{quote(repository)}/tags/list", "tags")

    def manifest(self, repository: str, reference: str) -> StoredManifest | None:
        response, body = self._get(
            f"/v2/{quote(repository)}/manifests/{quote(reference)}", MANIFEST_TYPES, MAX_MANIFEST_BYTES
        )
        if response.status == 404:
            return None
        if response.status != 200:
            raise RegistryError(f"{self.base} {repository}:{reference}: HTTP {response.status}")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(f"{self.base} {repository}@{reference}: the manifest has digest {digest}")
        media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
        return StoredManifest(bytes(body), media_type, digest)


def record_image(ecr: Any, repository: str, manifest: StoredManifest, tag: str | None) -> None:
    """PutImage ``manifest`` (and ``tag``) into the region of ``ecr``, creating the repository."""
    with aws_call("ecr:CreateRepository (local mirror)"):
        try:
            ecr.create_repository(repositoryName=repository)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RepositoryAlreadyExistsException":
                raise
    args: dict[str, Any] = {
        "repositoryName": repository,
        "imageManifest": manifest.body.decode(),
        "imageManifestMediaType": manifest.media_type,
        "imageDigest": manifest.digest,
    }
    if tag:
        args["imageTag"] = tag
    with aws_call("ecr:PutImage (local mirror)"):
        try:
            ecr.put_image(**args)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ImageAlreadyExistsException":
                raise


def record_push(ecr: Any, registry_host: str, event: dict[str, Any]) -> None:
    """Record the push an ``ECR Image Action`` event describes (``ecr``: a client of its region)."""
    detail = event["detail"]
    repository = str(detail["repository-name"])
    digest = str(detail["image-digest"])
    tag = detail.get("image-tag")
    reader = RegistryReader(registry_host)
    try:
        manifest = reader.manifest(repository, digest)
    finally:
        reader.close()
    if manifest is None:
        logger.info("push of %s@%s: gone from the registry before it was recorded", repository, digest)
        return
    record_image(ecr, repository, manifest, str(tag) if tag else None)
    logger.debug("recorded push %s:%s@%s in the local ECR", repository, tag, digest)


def record_delete(ecr: Any, event: dict[str, Any]) -> None:
    """Record a manifest deletion (``action-type: DELETE``) in the region of ``ecr``."""
    detail = event["detail"]
    with aws_call("ecr:BatchDeleteImage (local mirror)"):
        try:
            ecr.batch_delete_image(
                repositoryName=str(detail["repository-name"]),
                imageIds=[{"imageDigest": str(detail["image-digest"])}],
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
                raise


def seed_from_registry(ecr: Any, registry_host: str) -> int:
    """Record every tagged image of the registry at ``registry_host`` in the region of ``ecr``;
    returns how many tags were recorded."""
    reader = RegistryReader(registry_host)
    recorded = 0
    try:
        for repository in reader.repositories():
            for tag in reader.tags(repository):
                manifest = reader.manifest(repository, tag)
                if manifest is not None:
                    record_image(ecr, repository, manifest, tag)
                    recorded += 1
    finally:
        reader.close()
    logger.debug("seeded %d tag(s) of %s into the local ECR", recorded, registry_host)
    return recorded
