"""The copy benchmark's samples and table: medians, ratios, and PASS/MISS against issue 12's targets."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.bench_image import MiB
from bench.raw_copy import Run

TOOLS = ("ours", "skopeo", "raw")
CASES = ("cold", "warm", "one-new-layer")

# issue 12 targets
COLD_VS_SKOPEO = {"http": 0.75, "https": 0.80}
COLD_VS_RAW = {"http": 1.0}
RSS_LIMIT_MB = 32.0
WARM_REQUESTS = 2  # plus one per child manifest (the bench image has none)


@dataclass
class Samples:
    runs: dict[str, dict[str, list[Run]]] = field(
        default_factory=lambda: {case: {tool: [] for tool in TOOLS} for case in CASES}
    )

    def median(self, case: str, tool: str) -> float | None:
        runs = self.runs[case][tool]
        if not runs or not all(r.ok for r in runs):
            return None
        return statistics.median(r.seconds for r in runs)


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}{unit}" if abs(value) < 1 else f"{value:.2f}{unit}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def verdict_of(checks: list[bool | None]) -> str:
    if any(c is None for c in checks):
        return "n/a"
    return "PASS" if all(checks) else "MISS"


def build_table(
    scheme: str,
    samples: Samples,
    extras: dict[str, Any],
    needed: int,
    new_layer: int,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for case in CASES:
        ours, sko, raw = (samples.median(case, t) for t in TOOLS)
        r_s, r_r = ratio(ours, sko), ratio(ours, raw)
        target, verdict = "(no time target)", "-"
        if case == "cold":
            checks: list[bool | None] = [None if r_s is None else r_s <= COLD_VS_SKOPEO[scheme]]
            target = f"<={COLD_VS_SKOPEO[scheme]:.2f}x skopeo"
            if scheme in COLD_VS_RAW:
                checks.append(None if r_r is None else r_r <= COLD_VS_RAW[scheme])
                target += f", <={COLD_VS_RAW[scheme]:.2f}x raw"
            verdict = verdict_of(checks)
        rows.append(
            {
                "case": f"{scheme} {case} (s)",
                "ours": ours,
                "skopeo": sko,
                "raw": raw,
                "oursVsSkopeo": r_s,
                "oursVsRaw": r_r,
                "target": target,
                "verdict": verdict,
            }
        )

    def ok(name: str, tool: str, key: str) -> float | None:
        m = extras.get(name, {}).get(tool)
        return float(m[key]) if m and m["ok"] and m.get(key) is not None else None

    if "bytes" in extras:
        b_ours, b_sko = ok("bytes", "ours", "blobBytes"), ok("bytes", "skopeo", "blobBytes")
        rows.append(
            {
                "case": f"{scheme} one-new-layer source blob bytes (MiB)",
                "ours": b_ours / MiB if b_ours is not None else None,
                "skopeo": b_sko / MiB if b_sko is not None else None,
                "raw": needed / MiB,
                "oursVsSkopeo": ratio(b_ours, b_sko),
                "oursVsRaw": ratio(b_ours, needed),
                "target": f"== new layer {new_layer} B + config {needed - new_layer} B",
                "verdict": verdict_of([None if b_ours is None else b_ours == needed]),
            }
        )
    if "requests" in extras:
        q_ours, q_sko = ok("requests", "ours", "requests"), ok("requests", "skopeo", "requests")
        rows.append(
            {
                "case": f"{scheme} warm copy requests",
                "ours": q_ours,
                "skopeo": q_sko,
                "raw": None,
                "oursVsSkopeo": ratio(q_ours, q_sko),
                "oursVsRaw": None,
                "target": f"<={WARM_REQUESTS} (+1 per child manifest: none here)",
                "verdict": verdict_of([None if q_ours is None else q_ours <= WARM_REQUESTS]),
            }
        )
    rss_ours, rss_sko = ok("rss", "ours", "peakRssMB"), ok("rss", "skopeo", "peakRssMB")
    rows.append(
        {
            "case": f"{scheme} peak RSS, single-layer image (MB)",
            "ours": rss_ours,
            "skopeo": rss_sko,
            "raw": None,
            "oursVsSkopeo": ratio(rss_ours, rss_sko),
            "oursVsRaw": None,
            "target": f"<={RSS_LIMIT_MB:.0f} MB",
            "verdict": verdict_of([None if rss_ours is None else rss_ours <= RSS_LIMIT_MB]),
        }
    )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ["case", "ours", "skopeo", "raw", "ours/skopeo", "ours/raw", "target", "verdict"]
    lines = [head]
    for r in rows:
        lines.append(
            [
                r["case"],
                fmt(r["ours"]),
                fmt(r["skopeo"]),
                fmt(r["raw"]),
                fmt(r["oursVsSkopeo"], "x"),
                fmt(r["oursVsRaw"], "x"),
                r["target"],
                r["verdict"],
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        print(
            "  ".join(
                cell.ljust(w) if i in (0, 6) else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))
