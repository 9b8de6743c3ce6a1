"""How one execution reads for people: plain lines (logs, pipes) or a ``rich`` table (terminals).

Per region: its state, how long it has run, and what it moved: while copying, the heartbeat's
bytes (done of total, with the image's blobs already in the target counted as done) and rate;
once finished, the result (``tag set, image already there`` when nothing had to move), or the
error, ``ErrorType: message``; a region that holds the image says how long after the push (lag).
"""

from __future__ import annotations

import time
from typing import Any

from ecr_replicate.heartbeat import Heartbeat
from ecr_replicate.units import copied_text, human_bytes, plural
from ecr_replicate_cli.heartbeats import STALE_SECONDS
from ecr_replicate_cli.history import ExecutionView
from ecr_replicate_cli.region_rows import COPYING, DONE, ENSURING, FAILED, SKIPPED, SUPERSEDED, RegionRow

COLOURS = {DONE: "green", FAILED: "red", COPYING: "cyan", ENSURING: "cyan", SUPERSEDED: "yellow",
           SKIPPED: "yellow"}  # fmt: skip
MAX_NOTE = 160


def rate_text(rate: float) -> str:
    return f"{human_bytes(int(rate))}/s"


def progress_text(beat: Heartbeat) -> str:
    """``12.0 MiB of 286.0 MiB (4%)``: bytes copied plus those already in the target, of the image."""
    done = beat.bytes_copied + beat.bytes_present
    if beat.bytes_total <= 0:
        return f"{human_bytes(done)}"
    percent = min(100, int(100 * done / beat.bytes_total))
    return f"{human_bytes(done)} of {human_bytes(beat.bytes_total)} ({percent}%)"


def lag_text(row: RegionRow) -> str:
    """Seconds from the push event to the region holding the image ("" until known)."""
    return "" if row.lag_seconds is None else f"{row.lag_seconds:.1f} s"


def moved(row: RegionRow, beat: Heartbeat | None) -> str:
    """What the region has moved: live bytes while copying, the result once done."""
    if row.state == COPYING and beat is not None:
        return progress_text(beat)
    if row.state == DONE:
        return copied_text(row.bytes_copied, row.blobs_copied, row.blobs_skipped)
    if row.state == SUPERSEDED:
        return "a newer push owns the tag: left to its run"
    return ""


def note(row: RegionRow, beat: Heartbeat | None, now: float) -> str:
    """The attempt while retrying, a heartbeat that stopped, the error (the long part, last)."""
    parts: list[str] = []
    if row.attempts > 1 and not row.finished:
        parts.append(f"attempt {row.attempts}")
    if row.state == COPYING and beat is not None and beat.age(now) > STALE_SECONDS:
        parts.append(f"no heartbeat for {beat.age(now):.0f} s")
    if row.error:
        parts.append(row.error if not row.cause else f"{row.error}: {' '.join(row.cause.split())}")
    elif row.state == SKIPPED and row.cause:
        parts.append(" ".join(row.cause.split()))
    text = "; ".join(parts)
    return text if len(text) <= MAX_NOTE else text[: MAX_NOTE - 1] + "…"


def plain_row(row: RegionRow, beat: Heartbeat | None = None, now: float | None = None) -> str:
    """``region  state  seconds  what moved  [rate]  [note]`` on one line."""
    now = time.time() if now is None else now
    line = f"{row.region:<16} {row.state:<20} {row.seconds:7.1f} s"
    what = moved(row, beat)
    if what:
        line += f"  {what}"
    if row.state == COPYING and beat is not None:
        line += f", {rate_text(beat.rate)}"
    if row.lag_seconds is not None:
        line += f", lag {lag_text(row)}"
    extra = note(row, beat, now)
    if extra:
        line += f"  [{extra}]"
    return line


def headline(view: ExecutionView) -> str:
    done = sum(1 for row in view.rows if row.finished)
    return f"{view.name}: {view.status} ({done}/{plural(len(view.rows), 'region')} done)"


def rich_table(view: ExecutionView, *, footnote: str | None = None, now: float | None = None) -> Any:
    """The headline (not wrapped to the table's width) above one row per region."""
    from rich.console import Group  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    now = time.time() if now is None else now
    table = Table(caption=footnote, caption_justify="left")
    table.add_column("region", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("copied", no_wrap=True)
    table.add_column("rate", justify="right", no_wrap=True)
    table.add_column("lag", justify="right", no_wrap=True)
    table.add_column("note")  # the only column that shrinks when the terminal is narrow
    for row in view.rows:
        beat = view.progress.get(row.region)
        colour = COLOURS.get(row.state, "")
        table.add_row(
            row.region,
            f"[{colour}]{row.state}[/]" if colour else row.state,
            f"{row.seconds:.1f}",
            moved(row, beat),
            rate_text(beat.rate) if row.state == COPYING and beat is not None else "",
            lag_text(row),
            Text(note(row, beat, now), no_wrap=True, overflow="ellipsis"),
        )
    return Group(Text(headline(view), no_wrap=True, overflow="ellipsis"), table)
