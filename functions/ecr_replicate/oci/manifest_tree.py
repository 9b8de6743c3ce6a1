"""The manifest tree of an image: an index's children, walked with bounds on depth and count."""

from __future__ import annotations

from ecr_replicate.errors import UnsupportedManifestError
from ecr_replicate.oci.manifest_calls import fetch_manifest, head_manifest
from ecr_replicate.oci.manifests import MAX_INDEX_DEPTH, MAX_MANIFESTS, Manifest
from ecr_replicate.oci.reference import Reference
from ecr_replicate.oci.transport import Transport


def walk(
    transport: Transport, source: Reference, root: Manifest, target: Reference | None = None
) -> list[Manifest]:
    """Manifests of the tree, children before parents (root last), each digest once.

    With ``target``, subtrees whose manifest the target already has are not descended into.
    """
    ordered: list[Manifest] = []
    seen: set[str] = {root.digest}

    def visit(manifest: Manifest, path: tuple[str, ...]) -> None:
        if len(path) > MAX_INDEX_DEPTH:
            raise UnsupportedManifestError(
                f"index nesting deeper than {MAX_INDEX_DEPTH} at {manifest.digest}"
            )
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
            visit(fetch_manifest(transport, source, child.digest), (*path, child.digest))
        ordered.append(manifest)

    visit(root, (root.digest,))
    return ordered
