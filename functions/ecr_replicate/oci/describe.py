"""describe_image() and head_digest(): what an image is, without copying it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecr_replicate.oci.auth import CredentialProvider
from ecr_replicate.oci.copy import walk
from ecr_replicate.oci.deadline import Deadline
from ecr_replicate.oci.manifest_calls import fetch_manifest, head_manifest
from ecr_replicate.oci.reference import Reference, parse_reference
from ecr_replicate.oci.registry_config import HTTPS, RegistryConfig
from ecr_replicate.oci.transport import RetryPolicy, Transport

#: the time budget of one describe or head (a few small requests), unless the caller gives one
DEFAULT_TIMEOUT = 300.0


@dataclass
class ImageDescription:
    digest: str
    media_type: str
    size_bytes: int
    platforms: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    subject: str | None = None  # OCI 1.1 ``subject`` digest: the image is a referrer of it

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "mediaType": self.media_type,
            "sizeBytes": self.size_bytes,
            "platforms": list(self.platforms),
            "children": list(self.children),
            "subject": self.subject,
        }


def _transport(
    host: str,
    credentials: CredentialProvider | None,
    config: RegistryConfig,
    retry: RetryPolicy | None,
    timeout: float | None,
) -> Transport:
    return Transport(
        credentials=credentials, registries={host: config}, retry=retry, deadline=Deadline(timeout)
    )


def describe_image(
    ref: str | Reference,
    credentials: CredentialProvider | None = None,
    *,
    config: RegistryConfig = HTTPS,
    retry: RetryPolicy | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> ImageDescription:
    """Digest, media type, platforms, subject and total size (every blob once, plus the manifests)."""
    reference = parse_reference(ref)
    with _transport(reference.host, credentials, config, retry, timeout) as transport:
        root = fetch_manifest(transport, reference)
        tree = walk(transport, reference, root)
    blobs: dict[str, int] = {}
    for manifest in tree:
        for desc in manifest.blobs:
            blobs.setdefault(desc.digest, desc.size)
    size = sum(blobs.values()) + sum(len(manifest.body) for manifest in tree)
    return ImageDescription(
        digest=root.digest,
        media_type=root.media_type,
        size_bytes=size,
        platforms=[child.platform for child in root.children if child.platform],
        children=[child.digest for child in root.children],
        subject=root.subject,
    )


def head_digest(
    ref: str | Reference,
    credentials: CredentialProvider | None = None,
    *,
    config: RegistryConfig = HTTPS,
    retry: RetryPolicy | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> str | None:
    """The digest ``ref`` (tag or digest) resolves to, or None when it does not exist."""
    reference = parse_reference(ref)
    with _transport(reference.host, credentials, config, retry, timeout) as transport:
        return head_manifest(transport, reference, reference.reference)
