"""Drift: for every source ``repository:tag`` (and untagged referrer), its state in each target.

``same`` (the target resolves it to the source digest), ``missing`` (no such tag / digest),
``different`` (another digest), ``unreachable`` (the target registry could not be asked).
Anything but ``same`` is drift. Tags a target holds that the source does not (deleted in the
source) are listed apart: reported, never deleted, not drift.

:func:`check_deployment` is the one drift check: ``ecr-replicate verify`` prints it, the reconcile
workflow replicates what it finds. Built from :mod:`ecr_replicate.inventory` (HEAD only, no blob).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO, cast

from ecr_replicate.config import Settings
from ecr_replicate.filters import filter_reason
from ecr_replicate.inventory import (
    HEAD_JOBS,
    HeadFunction,
    SourceImage,
    TargetState,
    TargetTag,
    list_images,
    target_only,
    target_states,
)

Verdict = Literal["same", "missing", "different", "unreachable"]
DRIFT: frozenset[str] = frozenset({"missing", "different", "unreachable"})


@dataclass(frozen=True)
class RegionCheck:
    region: str
    verdict: Verdict
    digest: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ImageCheck:
    image: SourceImage
    regions: list[RegionCheck] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return any(check.verdict in DRIFT for check in self.regions)

    @property
    def drifted_regions(self) -> list[str]:
        return [check.region for check in self.regions if check.verdict in DRIFT]


def verdict(image: SourceImage, state: TargetState) -> RegionCheck:
    if state.error is not None:
        return RegionCheck(state.region, "unreachable", None, state.error)
    if state.digest is None:
        return RegionCheck(state.region, "missing")
    if state.digest == image.digest:
        return RegionCheck(state.region, "same", state.digest)
    return RegionCheck(state.region, "different", state.digest)


@dataclass(frozen=True)
class DriftReport:
    source_region: str
    regions: tuple[str, ...]
    images: list[ImageCheck]
    only_in_target: list[TargetTag] = field(default_factory=list)

    @property
    def drifted(self) -> list[ImageCheck]:
        return [check for check in self.images if check.drifted]

    def counts(self) -> dict[str, int]:
        totals = {"same": 0, "missing": 0, "different": 0, "unreachable": 0}
        for check in self.images:
            for region in check.regions:
                totals[region.verdict] += 1
        return totals

    def drift_by_region(self) -> dict[str, int]:
        """Region -> how many images drifted there."""
        found = dict.fromkeys(self.regions, 0)
        for check in self.images:
            for region in check.drifted_regions:
                found[region] = found.get(region, 0) + 1
        return found

    def to_json(self, *, all_images: bool = True) -> dict[str, Any]:
        shown = self.images if all_images else self.drifted
        return {
            "sourceRegion": self.source_region,
            "regions": list(self.regions),
            "drift": bool(self.drifted),
            "counts": self.counts(),
            "images": [
                {
                    "repository": check.image.repository,
                    "tag": check.image.tag,
                    "digest": check.image.digest,
                    **({"subject": check.image.subject} if check.image.subject else {}),
                    "regions": {
                        region.region: {
                            "verdict": region.verdict,
                            "digest": region.digest,
                            **({"error": region.error} if region.error else {}),
                        }
                        for region in check.regions
                    },
                }
                for check in shown
            ],
            "deletedInSource": [
                {"region": t.region, "repository": t.repository, "tag": t.tag, "digest": t.digest}
                for t in self.only_in_target
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DriftReport:
        """The report :meth:`to_json` wrote (the reconcile workflow keeps it in S3 between steps)."""
        images = [
            ImageCheck(
                SourceImage(
                    str(entry["repository"]),
                    entry.get("tag"),
                    str(entry["digest"]),
                    subject=entry.get("subject"),
                ),
                [
                    RegionCheck(
                        str(region), cast(Verdict, state["verdict"]), state.get("digest"), state.get("error")
                    )
                    for region, state in dict(entry["regions"]).items()
                ],
            )
            for entry in data.get("images", [])
        ]
        extra = [
            TargetTag(str(t["region"]), str(t["repository"]), str(t["tag"]), str(t["digest"]))
            for t in data.get("deletedInSource", [])
        ]
        return cls(str(data["sourceRegion"]), tuple(data["regions"]), images, extra)

    def render(self, out: TextIO, *, all_images: bool = False, totals: bool = True) -> None:
        """Plain text: one line per drifted image (every one with ``all_images``), then the tags
        only the targets hold, then (``totals``) the counts."""
        shown = self.images if all_images else self.drifted
        width = max((len(check.image.name) for check in shown), default=10)
        for check in shown:
            cells = "  ".join(
                f"{region.region}={region.verdict}"
                + (f"({region.digest[:19]})" if region.verdict == "different" and region.digest else "")
                for region in check.regions
            )
            kind = f"  referrer of {check.image.subject[:19]}" if check.image.subject else ""
            print(f"{check.image.name:<{width}}  {check.image.digest[:19]}  {cells}{kind}", file=out)
        for extra in self.only_in_target:
            print(
                f"{extra.name}  {extra.digest[:19]}  {extra.region}: not in the source (deleted?): kept",
                file=out,
            )
        if not totals:
            return
        counts = self.counts()
        summary = ", ".join(f"{count} {name}" for name, count in counts.items() if count or name == "same")
        state = "DRIFT" if self.drifted else "in sync"
        extras = f"; {len(self.only_in_target)} tag(s) only in targets" if self.only_in_target else ""
        print(
            f"{len(self.images)} image(s) from {self.source_region} checked in "
            f"{', '.join(self.regions)}: {summary}{extras} -> {state}",
            file=out,
        )


def build_report(
    source_region: str,
    regions: Sequence[str],
    states: Mapping[SourceImage, Sequence[TargetState]],
    only_in_target: Sequence[TargetTag] = (),
) -> DriftReport:
    images = [
        ImageCheck(image, [verdict(image, state) for state in states[image]])
        for image in sorted(states, key=SourceImage.sort_key)
    ]
    return DriftReport(source_region, tuple(regions), images, list(only_in_target))


def check_deployment(
    settings: Settings,
    *,
    source_ecr: Any,
    ecr_of: Callable[[str], Any],
    head: HeadFunction,
    regions: Sequence[str] | None = None,
    repositories: Sequence[str] = (),
    tags: Sequence[str] = (),
    jobs: int = HEAD_JOBS,
) -> DriftReport:
    """Every target region of ``settings`` (or ``regions``) against the source, as the deployment
    replicates it: the source listed through ECR (``source_ecr``), its repository/tag filters
    applied (and ``repositories``/``tags`` globs), one manifest HEAD per image and region
    (``head``), the tags only a target holds read from that region's ECR (``ecr_of(region)``)."""
    targets = tuple(regions or settings.target_regions)

    def keep(repository: str, tag: str | None) -> bool:
        return filter_reason(settings, repository, tag) is None

    images = [
        image
        for image in list_images(source_ecr, repositories, tags, referrers=True)
        if keep(image.repository, image.tag)
    ]
    states = target_states(images, targets, settings.registry_host, head, jobs=jobs)
    extra = target_only(images, targets, ecr_of, keep=keep, repositories=repositories, tags=tags)
    return build_report(settings.source_region, targets, states, extra)
