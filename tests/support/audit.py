"""Audit a local registry's contents: every stored manifest complete, every tag on a whole image.

Independent of the copier (plain ``http.client`` and the registry's storage layout), so a copy
is judged by a reader it did not write. For each repository of a
:class:`~ecr_replicate_local.registry.LocalRegistry`:

* every manifest revision the registry stores (``_manifests/revisions``, tagged or not) is read
  by digest over HTTP; its bytes must hash to that digest; every blob it references must answer
  ``HEAD`` 200 with the descriptor's size; every child manifest of an index must be served;
* every tag (``/tags/list``) must resolve to a manifest whose whole tree is present.

Used by ``tests/reliability`` and ``bench/reliability_report.py``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecr_replicate_local.registry import LocalRegistry

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


@dataclass
class Audit:
    """What an audit looked at and every problem it found (empty ``problems`` = consistent)."""

    repositories: int = 0
    manifests: int = 0
    blobs: int = 0
    tags: dict[str, str] = field(default_factory=dict)  # "repo:tag" -> digest
    problems: list[str] = field(default_factory=list)

    def merge(self, other: Audit) -> None:
        self.repositories += other.repositories
        self.manifests += other.manifests
        self.blobs += other.blobs
        self.tags.update(other.tags)
        self.problems += other.problems


def _request(host: str, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.request(method, path, headers={"Accept": ACCEPT})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def repositories(registry: LocalRegistry) -> list[str]:
    """Repository names found in the registry's storage (including ones with no tag)."""
    base = registry.root / "data" / "docker" / "registry" / "v2" / "repositories"
    if not base.is_dir():
        return []
    return sorted(str(path.parent.relative_to(base)) for path in base.rglob("_manifests"))


def stored_manifest_digests(registry: LocalRegistry, repository: str) -> list[str]:
    """Digests of every manifest revision stored in ``repository`` (tagged or not)."""
    base = registry.root / "data" / "docker" / "registry" / "v2" / "repositories"
    revisions = base / repository / "_manifests" / "revisions"
    found = []
    for link in sorted(revisions.glob("*/*/link")) if revisions.is_dir() else []:
        found.append(Path(link).read_text().strip())
    return found


def tag_digest(host: str, repository: str, tag: str) -> str | None:
    """The digest ``repository:tag`` resolves to, None when the tag does not exist (404)."""
    status, headers, _ = _request(host, "HEAD", f"/v2/{repository}/manifests/{tag}")
    if status == 404:
        return None
    if status != 200:
        raise RuntimeError(f"HEAD {repository}:{tag} answered {status}")
    return headers.get("docker-content-digest")


def _descriptors(data: Any, key: str) -> list[dict[str, Any]]:
    items = data.get(key) if isinstance(data, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _check_manifest(host: str, repository: str, digest: str, audit: Audit, seen: set[str]) -> bool:
    """Check one manifest and (for an index) its children; True when the tree is whole."""
    if digest in seen:
        return True
    seen.add(digest)
    status, _, body = _request(host, "GET", f"/v2/{repository}/manifests/{digest}")
    audit.manifests += 1
    where = f"{repository}@{digest[:19]}"
    if status != 200:
        audit.problems.append(f"{where}: manifest not served (HTTP {status})")
        return False
    if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
        audit.problems.append(f"{where}: bytes do not hash to the digest")
        return False
    data = json.loads(body)
    whole = True
    for child in _descriptors(data, "manifests"):
        whole = _check_manifest(host, repository, str(child.get("digest")), audit, seen) and whole
    blobs = _descriptors(data, "layers")
    if isinstance(data.get("config"), dict):
        blobs.append(data["config"])
    for blob in blobs:
        audit.blobs += 1
        blob_status, headers, _ = _request(host, "HEAD", f"/v2/{repository}/blobs/{blob.get('digest')}")
        if blob_status != 200:
            audit.problems.append(f"{where}: references missing blob {str(blob.get('digest'))[:19]}")
            whole = False
        elif int(headers.get("content-length", -1)) != blob.get("size"):
            audit.problems.append(f"{where}: blob {str(blob.get('digest'))[:19]} has the wrong size")
            whole = False
    return whole


def audit_repository(registry: LocalRegistry, repository: str) -> Audit:
    audit = Audit(repositories=1)
    host = registry.host
    seen: set[str] = set()
    for digest in stored_manifest_digests(registry, repository):
        _check_manifest(host, repository, digest, audit, seen)
    status, _, body = _request(host, "GET", f"/v2/{repository}/tags/list")
    tags = (json.loads(body).get("tags") or []) if status == 200 else []
    for tag in tags:
        tagged = tag_digest(host, repository, tag)
        if tagged is None:
            audit.problems.append(f"{repository}:{tag}: listed but not served")
            continue
        audit.tags[f"{repository}:{tag}"] = tagged
        if not _check_manifest(host, repository, tagged, audit, set()):
            audit.problems.append(f"{repository}:{tag}: points at a partial image {tagged[:19]}")
    return audit


def audit_registry(registry: LocalRegistry) -> Audit:
    """Audit every repository of ``registry``."""
    audit = Audit()
    for repository in repositories(registry):
        audit.merge(audit_repository(registry, repository))
    return audit
