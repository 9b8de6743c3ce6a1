"""Dry runs: what would be copied where, with byte counts, changing nothing.

Dry runs take the decisions of a real run, in its order, with the functions it uses: per target
region, ``HEAD`` the manifest (tag, else digest); the same digest there -> nothing to copy (the
copier's warm path). Else, for a tagged image, the newer-push-wins guard
(:func:`ecr_replicate.oci.copy.newer_push`): when the source tag has moved on since the push being
replayed, a real run is ``superseded`` and tags nothing. Otherwise the source's manifests are read
(never its blobs), subtrees the target already holds are skipped, and every blob is checked in
the target by ``HEAD``: the bytes to copy are the sizes of the blobs it lacks plus the manifests
it lacks. Only GET/HEAD requests are sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from ecr_replicate.errors import ReplicationError
from ecr_replicate.oci.blobs import blob_exists
from ecr_replicate.oci.copy import newer_push, walk
from ecr_replicate.oci.manifest_calls import fetch_manifest, head_manifest
from ecr_replicate.oci.reference import parse_reference
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate.oci.transport import RetryPolicy, Transport
from ecr_replicate.units import human_bytes

Action = Literal["present", "superseded", "copy", "replace", "unreachable"]
JOBS = 8


@dataclass(frozen=True)
class RegionPlan:
    region: str
    action: Action  # present: same digest already; superseded: a newer push owns the source tag;
    # copy: tag missing; replace: tag on another digest
    target_digest: str | None = None
    newer_digest: str | None = None  # superseded: what the source tag names now ("" if it is gone)
    bytes_to_copy: int = 0
    blobs_to_copy: int = 0
    blobs_present: int = 0
    manifests_to_copy: int = 0
    error: str | None = None


@dataclass(frozen=True)
class ImagePlan:
    repository: str
    tag: str | None
    digest: str
    regions: list[RegionPlan] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest[:19]}"

    @property
    def bytes_to_copy(self) -> int:
        return sum(region.bytes_to_copy for region in self.regions)

    @property
    def needs_copy(self) -> bool:
        return any(region.action not in ("present", "superseded") for region in self.regions)

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "bytesToCopy": self.bytes_to_copy,
            "regions": [
                {
                    "region": r.region,
                    "action": r.action,
                    "targetDigest": r.target_digest,
                    "bytesToCopy": r.bytes_to_copy,
                    "blobsToCopy": r.blobs_to_copy,
                    "blobsPresent": r.blobs_present,
                    "manifestsToCopy": r.manifests_to_copy,
                    **({"newerDigest": r.newer_digest} if r.newer_digest is not None else {}),
                    **({"error": r.error} if r.error else {}),
                }
                for r in self.regions
            ],
        }


def plan_image(
    source_host: str,
    repository: str,
    tag: str | None,
    digest: str | None,
    targets: Sequence[tuple[str, str]],
    *,
    registry_config: Callable[[str], RegistryConfig],
    credentials: Any = None,
) -> ImagePlan:
    """What copying ``repository:tag`` (or ``@digest``) to each ``(region, host)`` would move.

    ``registry_config(host)``: how to reach each registry (``Settings.registry_config``).
    """
    name = f"{source_host}/{repository}" + (f"@{digest}" if digest else f":{tag}")
    source = parse_reference(name)
    hosts = [source_host, *(host for _, host in targets)]
    transport = Transport(
        credentials=credentials,
        registries={host: registry_config(host) for host in hosts},
        retry=RetryPolicy(attempts=3),
    )
    try:
        root = fetch_manifest(transport, source)
        # the guard a real run applies before tagging (tagged images only): asked once, of the source
        newer = newer_push(transport, source, tag, root.digest) if tag else None
        regions: list[RegionPlan] = []
        for region, host in targets:
            target = parse_reference(
                f"{host}/{repository}:{tag}" if tag else f"{host}/{repository}@{root.digest}"
            )
            try:
                found = head_manifest(transport, target, target.reference)
                if found == root.digest:
                    regions.append(RegionPlan(region, "present", found))
                    continue
                if newer is not None:
                    regions.append(RegionPlan(region, "superseded", found, newer_digest=newer))
                    continue
                tree = walk(transport, source, root, target)
                blobs: dict[str, int] = {}
                for manifest in tree:
                    for desc in manifest.blobs:
                        blobs.setdefault(desc.digest, desc.size)
                missing = {d: s for d, s in blobs.items() if not blob_exists(transport, target, d)}
                manifest_bytes = sum(len(m.body) for m in tree)
                regions.append(
                    RegionPlan(
                        region,
                        "copy" if found is None else "replace",
                        found,
                        bytes_to_copy=sum(missing.values()) + manifest_bytes,
                        blobs_to_copy=len(missing),
                        blobs_present=len(blobs) - len(missing),
                        manifests_to_copy=len(tree),
                    )
                )
            except ReplicationError as exc:
                regions.append(RegionPlan(region, "unreachable", error=f"{type(exc).__name__}: {exc}"[:200]))
    finally:
        transport.close()
    return ImagePlan(repository, tag, root.digest, regions)


def plan_images(
    source_host: str,
    images: Sequence[tuple[str, str | None, str | None]],
    targets: Sequence[tuple[str, str]],
    *,
    registry_config: Callable[[str], RegistryConfig],
    credentials: Any = None,
    jobs: int = JOBS,
) -> list[ImagePlan]:
    """:func:`plan_image` for many ``(repository, tag, digest)``, a few at a time."""

    def one(image: tuple[str, str | None, str | None]) -> ImagePlan:
        return plan_image(
            source_host, *image, targets, registry_config=registry_config, credentials=credentials
        )

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, images))




def render(plans: Sequence[ImagePlan], out: TextIO) -> None:
    """One line per image and region, then the total: what a real run would copy."""
    for plan in plans:
        for r in plan.regions:
            if r.action == "present":
                what = f"already there ({r.target_digest[:19] if r.target_digest else ''}), nothing to copy"
            elif r.action == "superseded":
                now = f"names {r.newer_digest[:19]}" if r.newer_digest else "is gone"
                what = (
                    f"superseded: the source tag now {now} (a newer push); "
                    f"a run would not tag {plan.digest[:19]}"
                )
            elif r.action == "unreachable":
                what = f"cannot check: {r.error}"
            else:
                verb = (
                    "copy"
                    if r.action == "copy"
                    else f"replace {r.target_digest[:19] if r.target_digest else ''} with"
                )
                what = (
                    f"would {verb} {plan.digest[:19]}: "
                    f"{human_bytes(r.bytes_to_copy)} = {r.bytes_to_copy} bytes "
                    f"({r.blobs_to_copy} blob(s), {r.manifests_to_copy} manifest(s); "
                    f"{r.blobs_present} blob(s) already there)"
                )
            print(f"{plan.name}  {r.region:<16} {what}", file=out)
    total = sum(plan.bytes_to_copy for plan in plans)
    copies = sum(1 for plan in plans for r in plan.regions if r.action in ("copy", "replace"))
    print(f"dry run: {copies} copy(ies), {human_bytes(total)} in total; nothing was changed", file=out)
