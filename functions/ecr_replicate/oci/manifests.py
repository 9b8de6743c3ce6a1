"""Manifest media types, what each kind references, and the limits we enforce."""

from __future__ import annotations

import importlib
import json

from ecr_replicate.errors import BlobIntegrityError, UnsupportedManifestError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

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

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_BLOBS_PER_MANIFEST = 10_000
MAX_INDEX_CHILDREN = 1_000
MAX_INDEX_DEPTH = 4
MAX_MANIFESTS = 5_000


class Descriptor:
    """A content descriptor: what a manifest says of a blob or child manifest."""

    __slots__ = ("digest", "media_type", "platform", "size")

    def __init__(self, media_type: str, digest: str, size: int, platform: str | None = None) -> None:
        self.media_type = media_type
        self.digest = digest
        self.size = size
        self.platform = platform

    def _key(self) -> tuple[str, str, int, str | None]:
        return (self.media_type, self.digest, self.size, self.platform)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Descriptor) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Descriptor{self._key()!r}"


class Manifest:
    """A manifest exactly as served, plus what it references."""

    __slots__ = ("blobs", "body", "children", "digest", "media_type", "subject")

    def __init__(self, digest: str, media_type: str, body: bytes) -> None:
        self.digest = digest
        self.media_type = media_type
        self.body = body
        self.blobs: list[Descriptor] = []
        self.children: list[Descriptor] = []
        self.subject: str | None = None

    def __repr__(self) -> str:
        return f"Manifest({self.digest}, {self.media_type}, {len(self.body)} bytes)"

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def _hexdigest(algorithm: str, data: bytes) -> str:
    """Hex sha256/sha512 of ``data``.

    CPython's own C implementations (``_sha2`` from 3.12, ``_sha256``/``_sha512`` before) load in
    microseconds, where ``hashlib`` loads OpenSSL: a tenth of a warm copy's start-up. Manifests are
    a few KiB, so either hashes them as fast; other interpreters fall back to hashlib.
    """
    for module in ("_sha2", "_" + algorithm):
        try:
            return str(getattr(importlib.import_module(module), algorithm)(data).hexdigest())
        except ImportError:
            continue
    import hashlib  # noqa: PLC0415

    return hashlib.new(algorithm, data).hexdigest()


def digest_of(data: bytes) -> str:
    return "sha256:" + _hexdigest("sha256", data)


def verify_digest(data: bytes, expected: str) -> None:
    algorithm, _, _ = expected.partition(":")
    if algorithm not in ("sha256", "sha512"):
        raise UnsupportedManifestError(f"unsupported digest algorithm in {expected}")
    actual = f"{algorithm}:" + _hexdigest(algorithm, data)
    if actual != expected:
        raise BlobIntegrityError(f"manifest bytes hash to {actual}, expected {expected}")


def _descriptor(item: Any, where: str) -> Descriptor:
    if not isinstance(item, dict):
        raise UnsupportedManifestError(f"{where}: descriptor is not an object")
    digest, size = item.get("digest"), item.get("size")
    media_type = item.get("mediaType", "")
    if not isinstance(digest, str) or ":" not in digest:
        raise UnsupportedManifestError(f"{where}: descriptor without a valid digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UnsupportedManifestError(f"{where}: descriptor {digest} without a valid size")
    platform = item.get("platform")
    platform_text = None
    if isinstance(platform, dict):
        parts = [str(platform.get(key)) for key in ("os", "architecture", "variant") if platform.get(key)]
        platform_text = "/".join(parts) or None
    return Descriptor(str(media_type), digest, size, platform_text)


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
    raise UnsupportedManifestError(f"manifest {digest} has unknown media type {media_type!r}")


def parse_manifest(body: bytes, digest: str, content_type: str | None) -> Manifest:
    """Parse a manifest's references; the bytes are kept untouched."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise UnsupportedManifestError(f"manifest {digest} is {len(body)} bytes; limit {MAX_MANIFEST_BYTES}")
    try:
        data = json.loads(body)
    except ValueError:
        raise UnsupportedManifestError(f"manifest {digest} is not JSON") from None
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
    if isinstance(subject, dict) and isinstance(subject.get("digest"), str):
        manifest.subject = subject["digest"]
    return manifest
