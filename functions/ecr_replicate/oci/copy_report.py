"""What a copy reports: progress events while it runs, and its result.

:class:`CopyResult` is the one typed answer of ``copy_image`` (the workflow and the CLI read its
fields; ``to_dict()`` is the camelCase form the CLI prints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ecr_replicate.oci.reference import Reference

COPIED = "COPIED"
SUPERSEDED = "SUPERSEDED"


@dataclass(frozen=True, slots=True)
class CopyProgress:
    """One progress event.

    ``event``: blob-started | blob-progress | blob-done | blob-skipped | blob-mounted |
    manifest-put | tagged | superseded. ``bytes`` is the delta moved by this event.
    """

    event: str
    digest: str
    size: int = 0
    bytes: int = 0
    repository: str = ""


@dataclass
class CopyResult:
    """What one copy_image() call did (``to_dict()`` is the camelCase form the CLI prints)."""

    status: str
    source: Reference
    target: Reference
    digest: str
    media_type: str
    tagged: bool = False
    manifests_copied: int = 0
    blobs_copied: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    bytes_copied: int = 0
    referrers_copied: int = 0
    seconds: float = 0.0
    platforms: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "source": str(self.source),
            "target": str(self.target),
            "digest": self.digest,
            "mediaType": self.media_type,
            "tagged": self.tagged,
            "manifestsCopied": self.manifests_copied,
            "blobsCopied": self.blobs_copied,
            "blobsSkipped": self.blobs_skipped,
            "blobsMounted": self.blobs_mounted,
            "bytesCopied": self.bytes_copied,
            "referrersCopied": self.referrers_copied,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
        }


ProgressCallback = Callable[[CopyProgress], None]
