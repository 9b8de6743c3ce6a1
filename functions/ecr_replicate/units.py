"""Human-readable sizes and counts, shared by every view (copy progress, status, summaries, dry
runs). Stdlib only."""

from __future__ import annotations


def human_bytes(count: int) -> str:
    """``5`` -> ``"5 B"``, ``1536`` -> ``"1.5 KiB"``; GiB is the largest unit shown."""
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def plural(count: int, noun: str) -> str:
    """``1 region``, ``2 regions``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def copied_text(bytes_copied: int, blobs_copied: int, blobs_present: int) -> str:
    """What a copy moved: ``tag set, image already there`` when it moved nothing."""
    if bytes_copied == 0 and blobs_copied == 0:
        return "tag set, image already there"
    text = f"{human_bytes(bytes_copied)} copied ({plural(blobs_copied, 'blob')})"
    return text + (f", {plural(blobs_present, 'blob')} already there" if blobs_present else "")
