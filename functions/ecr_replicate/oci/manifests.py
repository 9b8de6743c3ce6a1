"""Manifest media types, what each kind references, and the limits we enforce.

A manifest comes from a registry, so every part of it that the copier acts on is checked here,
where it is read: each descriptor's digest (OCI grammar), its size (an integer no registry could
exceed), the number of layers and children, the subject's digest. Anything else is a typed
UnsupportedManifestError before a single request is built from it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ecr_replicate.errors import BlobIntegrityError, UnsupportedManifestError
from ecr_replicate.oci.reference import digest_algorithm, is_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
MANIFEST_TYPES = INDEX_TYPES | IMAGE_TYPES
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # ECR refuses larger manifests
MAX_BLOBS_PER_MANIFEST = 10_000
MAX_INDEX_CHILDREN = 1_000
MAX_INDEX_DEPTH = 4
MAX_MANIFESTS = 5_000
#: all the manifests of one image held at once by a copy (the walk keeps every body until its PUT):
#: 16 manifests at ECR's 4 MiB limit; a real multi-platform index with attestations is well under 1 MiB
MAX_IMAGE_MANIFEST_BYTES = 64 * 1024 * 1024
#: distinct blobs of one image (each gets a HEAD, a future and a descriptor in memory): ECR takes
#: at most 127 layers per image manifest, so this is ~780 platforms at ECR's layer limit; over it,
#: a source is listing blobs to keep the copier busy, not describing an image
MAX_IMAGE_BLOBS = 100_000
MAX_BLOB_BYTES = 64 * 1024**3  # ECR's largest layer is 52,000 MiB
MAX_TEXT = 256  # media types and platform names kept from a manifest


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A content descriptor: what a manifest says of a blob or child manifest (validated)."""

    media_type: str
    digest: str
    size: int
    platform: str | None = None


@dataclass(slots=True)
class Manifest:
    """A manifest exactly as served, plus what it references."""

    digest: str
    media_type: str
    body: bytes = field(repr=False)
    blobs: list[Descriptor] = field(default_factory=list)
    children: list[Descriptor] = field(default_factory=list)
    subject: str | None = None

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def hasher(digest: str) -> Any:
    """A fresh hashlib object of ``digest``'s algorithm (sha256 or sha512)."""
    return hashlib.new(digest_algorithm(digest))


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify_digest(data: bytes, expected: str) -> None:
    digest = hasher(expected)
    digest.update(data)
    actual = f"{digest.name}:{digest.hexdigest()}"
    if actual != expected:
        raise BlobIntegrityError(f"manifest bytes hash to {actual}, expected {expected}")


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def _descriptor(item: Any, where: str) -> Descriptor:
    if not isinstance(item, dict):
        raise UnsupportedManifestError(f"{where}: descriptor is not an object")
    digest, size = item.get("digest"), item.get("size")
    if not is_digest(digest):
        shown = repr(digest)[:80] if isinstance(digest, str) else type(digest).__name__
        raise UnsupportedManifestError(
            f"{where}: descriptor digest {shown} is not a valid digest (sha256:<64 hex> or sha512:<128 hex>)"
        )
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_BLOB_BYTES:
        raise UnsupportedManifestError(
            f"{where}: descriptor {digest} has no valid size (0..{MAX_BLOB_BYTES})"
        )
    platform = item.get("platform")
    platform_text = None
    if isinstance(platform, dict):
        parts = [_text(platform.get(key)) for key in ("os", "architecture", "variant")]
        platform_text = "/".join(part for part in parts if part) or None
    return Descriptor(_text(item.get("mediaType")), digest, size, platform_text)


def _media_type(data: dict[str, Any], content_type: str | None, digest: str) -> str:
    """The manifest's media type: its ``mediaType`` field, the Content-Type, or its shape."""
    header_type = (content_type or "").split(";", 1)[0].strip()
    body_type = data.get("mediaType") if isinstance(data.get("mediaType"), str) else ""
    media_type = str(body_type or header_type)
    if media_type in MANIFEST_TYPES:
        return media_type
    # OCI manifests may omit mediaType: infer from the shape.
    if "manifests" in data:
        return OCI_INDEX
    if "config" in data and "layers" in data and data.get("schemaVersion") == 2:
        return OCI_MANIFEST
    if header_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) or data.get("schemaVersion") == 1:
        raise UnsupportedManifestError(f"manifest {digest} is Docker schema 1, which is not supported")
    raise UnsupportedManifestError(f"manifest {digest} has unknown media type {media_type[:80]!r}")


def parse_json(body: bytes, what: str) -> Any:
    """JSON from a registry; anything that is not (nesting too deep included) is a typed error."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise UnsupportedManifestError(f"{what} is not JSON") from None


def parse_manifest(body: bytes, digest: str, content_type: str | None) -> Manifest:
    """Parse a manifest's references; the bytes are kept untouched."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise UnsupportedManifestError(f"manifest {digest} is {len(body)} bytes; limit {MAX_MANIFEST_BYTES}")
    data = parse_json(body, f"manifest {digest}")
    if not isinstance(data, dict):
        raise UnsupportedManifestError(f"manifest {digest} is not a JSON object")
    media_type = _media_type(data, content_type, digest)
    manifest = Manifest(digest=digest, media_type=media_type, body=body)
    where = f"manifest {digest}"
    if media_type in INDEX_TYPES:
        items = data.get("manifests")
        if not isinstance(items, list):
            raise UnsupportedManifestError(f"{where}: index without a 'manifests' list")
        if len(items) > MAX_INDEX_CHILDREN:
            raise UnsupportedManifestError(f"{where}: {len(items)} children; limit {MAX_INDEX_CHILDREN}")
        manifest.children = [_descriptor(item, where) for item in items]
    else:
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise UnsupportedManifestError(f"{where}: image manifest without a 'layers' list")
        if len(layers) + 1 > MAX_BLOBS_PER_MANIFEST:
            raise UnsupportedManifestError(f"{where}: {len(layers)} layers; limit {MAX_BLOBS_PER_MANIFEST}")
        manifest.blobs = [_descriptor(data.get("config"), where)]
        manifest.blobs += [_descriptor(item, where) for item in layers]
    subject = data.get("subject")
    if subject is not None:
        manifest.subject = _descriptor(subject, f"{where} subject").digest
    return manifest
