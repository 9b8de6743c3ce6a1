"""The verify report: for every source ``repository:tag``, its state in each target region.

``same`` (the target tag resolves to the source digest), ``missing`` (no such tag),
``different`` (another digest), ``unreachable`` (the target registry could not be asked).
Anything but ``same`` is drift. Built from :mod:`ecr_replicate.inventory` (HEAD only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from ecr_replicate.inventory import SourceImage, TargetState

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

    @property
    def drifted(self) -> list[ImageCheck]:
        return [check for check in self.images if check.drifted]

    def counts(self) -> dict[str, int]:
        totals = {"same": 0, "missing": 0, "different": 0, "unreachable": 0}
        for check in self.images:
            for region in check.regions:
                totals[region.verdict] += 1
        return totals

    def to_json(self) -> dict[str, Any]:
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
                    "regions": {
                        region.region: {
                            "verdict": region.verdict,
                            "digest": region.digest,
                            **({"error": region.error} if region.error else {}),
                        }
                        for region in check.regions
                    },
                }
                for check in self.images
            ],
        }

    def render(self, out: TextIO, *, all_images: bool = False) -> None:
        """Plain text: one line per drifted repository:tag (every one with ``all_images``)."""
        shown = self.images if all_images else self.drifted
        width = max((len(check.image.name) for check in shown), default=10)
        for check in shown:
            cells = "  ".join(
                f"{region.region}={region.verdict}"
                + (f"({region.digest[:19]})" if region.verdict == "different" and region.digest else "")
                for region in check.regions
            )
            print(f"{check.image.name:<{width}}  {check.image.digest[:19]}  {cells}", file=out)
        counts = self.counts()
        summary = ", ".join(f"{count} {name}" for name, count in counts.items() if count or name == "same")
        state = "DRIFT" if self.drifted else "in sync"
        print(
            f"{len(self.images)} image(s) from {self.source_region} checked in "
            f"{', '.join(self.regions)}: {summary} -> {state}",
            file=out,
        )


def build_report(
    source_region: str,
    regions: Sequence[str],
    states: Mapping[SourceImage, Sequence[TargetState]],
) -> DriftReport:
    images = [
        ImageCheck(image, [verdict(image, state) for state in states[image]]) for image in sorted(states)
    ]
    return DriftReport(source_region, tuple(regions), images)
