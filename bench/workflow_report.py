"""The workflow benchmark's records (a case, a workflow run, a raw run) and its report: medians,
ratios against the raw copy measured in the same run, the CPU each role spent."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench import copy_bench_table as table
from bench.bench_image import Image

TARGET_RATIO = 1.5  # issue #4: push -> all regions replicated <= 1.5x the raw copy


@dataclass(frozen=True)
class Case:
    name: str
    layers: int
    layer_mib: int


FULL_CASES = (Case("100 MiB", 1, 100), Case("1 GiB", 8, 128))
QUICK_CASES = (Case("16 MiB", 1, 16), Case("128 MiB", 8, 16))


@dataclass
class WorkflowRun:
    tag: str
    seconds: float  # manifest PUT returned -> every target HEAD answers the source digest
    ok: bool
    error: str = ""
    region_seconds: dict[str, float] = field(default_factory=dict)  # when each target matched
    event_seconds: float | None = None  # when the webhook's event had started the execution
    execution_end_seconds: float | None = None  # when DescribeExecution first showed it ended
    execution_arn: str = ""
    execution_status: str = ""
    execution_regions: list[dict[str, Any]] = field(default_factory=list)  # RegionResult excerpt
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per role (cpu_by_role)


@dataclass
class RawRun:
    seconds: float  # first blob POST -> manifest PUT returned on every target
    ok: bool
    error: str = ""
    per_target: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)


CPU_ROLES = ("twin", "copy workers", "source registry", "target registries", "curl", "other")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def case_row(
    case: Case, image: Image, wf: list[WorkflowRun], raw: list[RawRun], fronts: list[RawRun]
) -> dict[str, Any]:
    oks = [r.ok for r in wf] + [r.ok for r in raw] + [r.ok for r in fronts]
    all_ok = bool(wf) and bool(raw) and bool(fronts) and all(oks)
    wf_s = _median([r.seconds for r in wf]) if all_ok else None
    raw_s = _median([r.seconds for r in raw]) if all_ok else None
    fronts_s = _median([r.seconds for r in fronts]) if all_ok else None
    ratio_fronts = table.ratio(wf_s, fronts_s)
    events = [r.event_seconds for r in wf if r.event_seconds is not None]
    ends = [r.execution_end_seconds for r in wf if r.execution_end_seconds is not None]
    ratio = table.ratio(wf_s, raw_s)
    cpu = {
        kind: _median_cpu([r.cpu for r in runs]) if all_ok else None
        for kind, runs in (("workflow", wf), ("raw", raw), ("rawFronts", fronts))
    }
    return {
        "image": case.name,
        "layers": f"{case.layers}x{case.layer_mib} MiB",
        "sizeBytes": image.size,
        "digest": image.digest,
        "workflow": wf_s,
        "raw": raw_s,
        "ratio": ratio,
        "rawFronts": fronts_s,
        "ratioFronts": ratio_fronts,
        "eventStarted": _median(events) if all_ok else None,
        "executionEnded": _median(ends) if all_ok else None,
        "target": f"<={TARGET_RATIO:.1f}x raw",
        "verdict": "n/a" if ratio is None else ("PASS" if ratio <= TARGET_RATIO else "MISS"),
        "verdictFronts": "n/a"
        if ratio_fronts is None
        else ("PASS" if ratio_fronts <= TARGET_RATIO else "MISS"),
        "cpuSeconds": cpu,
    }


def _median_cpu(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median CPU seconds per role, and of the runs' totals."""
    medians = {role: round(statistics.median(run.get(role, 0.0) for run in runs), 2) for role in CPU_ROLES}
    medians["total"] = round(statistics.median(sum(run.values()) for run in runs), 2)
    return medians


def print_cpu(rows: list[dict[str, Any]]) -> None:
    """Where the CPU of each kind of run went (medians, CPU seconds per GiB of image)."""
    print("\nCPU seconds per GiB of image (medians; per role, then the total):")
    print("  " + " ".join(f"{name:>17}" for name in ("image / run", *CPU_ROLES, "total")))
    for row in rows:
        gib = row["sizeBytes"] / (1 << 30)
        for kind, label in (("workflow", "workflow"), ("raw", "raw"), ("rawFronts", "raw via fronts")):
            cpu = row["cpuSeconds"].get(kind)
            if cpu is None:
                continue
            cells = [f"{cpu[role] / gib:17.2f}" for role in (*CPU_ROLES, "total")]
            print("  " + f"{row['image'] + ' ' + label:>17} " + " ".join(cells))


def print_table(rows: list[dict[str, Any]]) -> None:
    head = [
        "image",
        "layers",
        "workflow (s)",
        "raw (s)",
        "workflow/raw",
        "target",
        "verdict",
        "raw via fronts (s)",
        "workflow/that",
        "verdict",
        "event at (s)",
        "execution end (s)",
    ]
    lines = [head] + [
        [
            r["image"],
            r["layers"],
            table.fmt(r["workflow"]),
            table.fmt(r["raw"]),
            table.fmt(r["ratio"], "x"),
            r["target"],
            r["verdict"],
            table.fmt(r["rawFronts"]),
            table.fmt(r["ratioFronts"], "x"),
            r["verdictFronts"],
            table.fmt(r["eventStarted"]),
            table.fmt(r["executionEnded"]),
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        print(
            "  ".join(
                c.ljust(w) if i in (0, 1, 5) else c.rjust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))
