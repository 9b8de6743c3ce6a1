"""The manifest tree of an image: an index's children, walked with bounds on depth, count, the
bytes of manifests held and the distinct blobs they name (each a typed UnsupportedManifestError,
raised before the first blob is scheduled)."""

from __future__ import annotations

from ecr_replicate.errors import UnsupportedManifestError
from ecr_replicate.oci.manifest_calls import fetch_manifest, head_manifest
from ecr_replicate.oci.manifests import (
    MAX_IMAGE_BLOBS,
    MAX_IMAGE_MANIFEST_BYTES,
    MAX_INDEX_DEPTH,
    MAX_MANIFESTS,
    Manifest,
)
from ecr_replicate.oci.reference import Reference
from ecr_replicate.oci.transport import Transport


class _Totals:
    """What the walk holds so far: manifest bytes (read, plus declared of those still to read) and
    distinct blob digests. A declared size is checked before the GET; the bytes read after it
    (a descriptor may understate them)."""

    def __init__(self, root: Manifest) -> None:
        self.held = 0
        self.blobs: set[str] = set()
        self.add(root)

    def add(self, manifest: Manifest) -> None:
        self.held += len(manifest.body)
        self.check(0, manifest.digest)
        self.blobs.update(desc.digest for desc in manifest.blobs)
        if len(self.blobs) > MAX_IMAGE_BLOBS:
            raise UnsupportedManifestError(
                f"more than {MAX_IMAGE_BLOBS} distinct blobs in one image (at {manifest.digest})"
            )

    def check(self, declared: int, where: str) -> None:
        if self.held + declared > MAX_IMAGE_MANIFEST_BYTES:
            raise UnsupportedManifestError(
                f"the manifests of one image exceed {MAX_IMAGE_MANIFEST_BYTES} bytes (at {where})"
            )


def walk(
    transport: Transport, source: Reference, root: Manifest, target: Reference | None = None
) -> list[Manifest]:
    """Manifests of the tree, children before parents (root last), each digest once.

    With ``target``, subtrees whose manifest the target already has are not descended into.
    """
    ordered: list[Manifest] = []
    seen: set[str] = {root.digest}
    totals = _Totals(root)

    def visit(manifest: Manifest, path: tuple[str, ...]) -> None:
        if len(path) > MAX_INDEX_DEPTH:
            raise UnsupportedManifestError(
                f"index nesting deeper than {MAX_INDEX_DEPTH} at {manifest.digest}"
            )
        unread = {child.digest: child.size for child in manifest.children if child.digest not in seen}
        totals.check(sum(unread.values()), manifest.digest)
        for child in manifest.children:
            if child.digest in path:
                raise UnsupportedManifestError(f"manifest cycle through {child.digest}")
            if child.digest in seen:
                continue
            seen.add(child.digest)
            if len(seen) > MAX_MANIFESTS:
                raise UnsupportedManifestError(f"more than {MAX_MANIFESTS} manifests in one image")
            if (
                target is not None
                and head_manifest(transport, target, child.digest, push=True) == child.digest
            ):
                continue
            fetched = fetch_manifest(transport, source, child.digest)
            totals.add(fetched)
            visit(fetched, (*path, child.digest))
        ordered.append(manifest)

    visit(root, (root.digest,))
    return ordered
