"""Human-readable sizes, shared by every view (copy progress, status, dry runs). Stdlib only."""

from __future__ import annotations


def human_bytes(count: int) -> str:
    """``5`` -> ``"5 B"``, ``1536`` -> ``"1.5 KiB"``; GiB is the largest unit shown."""
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
