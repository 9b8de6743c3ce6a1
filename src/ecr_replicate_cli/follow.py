"""Following an execution until it ends: one live table on a terminal, plain lines otherwise.

On a terminal, one ``rich`` table redraws in place every :data:`POLL_SECONDS`; what this process
prints meanwhile through ``sys.stdout``/``sys.stderr`` appears above it (other processes must not
write to the terminal: the local twin's function logs go to a file). Elsewhere (a
pipe, a log), a line per region whenever its state changes, and at most every
:data:`PLAIN_PROGRESS_SECONDS` while it copies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from ecr_replicate.heartbeat import Heartbeat
from ecr_replicate_cli.history import ExecutionView, ProgressReader, snapshot
from ecr_replicate_cli.region_rows import COPYING
from ecr_replicate_cli.status_table import plain_row, rich_table

POLL_SECONDS = 0.5
PLAIN_PROGRESS_SECONDS = 10.0


class Renderer:
    """Shows successive snapshots: a live rich table on a terminal, plain lines otherwise."""

    def __init__(
        self,
        out: TextIO,
        *,
        tty: bool | None = None,
        show_text: bool = True,
        reader: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.clock = clock
        self.tty = out.isatty() if tty is None else tty
        self.show_text = show_text
        self.reader = reader  # for its footnote (.problem), if any
        self._seen: dict[str, tuple[str, str | None, int]] = {}
        self._printed_progress: dict[str, tuple[float, int]] = {}
        self._live: Any = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _table(self, view: ExecutionView) -> Any:
        return rich_table(view, footnote=getattr(self.reader, "problem", None))

    def update(self, view: ExecutionView) -> None:
        if self.tty:
            if self._live is None:
                from rich.console import Console  # noqa: PLC0415
                from rich.live import Live  # noqa: PLC0415

                # lines other code prints meanwhile (a warning on stderr) appear above the table
                self._live = Live(
                    self._table(view), console=Console(file=self.out), auto_refresh=False, transient=False
                )
                self._live.start(refresh=True)
            else:
                self._live.update(self._table(view), refresh=True)
            return
        now = self.clock()
        for row in view.rows:
            key = (row.state, row.error, row.attempts)
            beat = view.progress.get(row.region)
            if self._seen.get(row.region) != key:
                self._seen[row.region] = key
                self._print_line(row, beat, now)
            elif row.state == COPYING and beat is not None and self._progress_due(row.region, beat, now):
                self._print_line(row, beat, now)

    def _progress_due(self, region: str, beat: Heartbeat, now: float) -> bool:
        """A region's progress line every PLAIN_PROGRESS_SECONDS at most, and only if bytes moved."""
        last = self._printed_progress.get(region)
        moved = beat.bytes_copied + beat.bytes_present
        return last is not None and now - last[0] >= PLAIN_PROGRESS_SECONDS and moved != last[1]

    def _print_line(self, row: Any, beat: Heartbeat | None, now: float) -> None:
        moved = beat.bytes_copied + beat.bytes_present if beat is not None else -1
        self._printed_progress[row.region] = (now, moved)
        print(plain_row(row, beat), file=self.out, flush=True)

    def final(self, view: ExecutionView) -> None:
        if self.tty:
            self.update(view)
            self.close()
        else:
            print(f"execution {view.name}: {view.status}", file=self.out)
            for row in view.rows:
                print(f"  {plain_row(row)}", file=self.out)
        if view.text and self.show_text:
            print(view.text, file=self.out)
        self.out.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def watch(
    sfn: Any,
    execution_arn: str,
    *,
    out: TextIO,
    follow: bool = True,
    tty: bool | None = None,
    interval: float = POLL_SECONDS,
    timeout: float | None = None,
    show_text: bool = True,
    progress: ProgressReader | None = None,
) -> ExecutionView:
    """Render the execution until it ends (or once, without ``follow``); returns the last snapshot.

    ``show_text``: print the run's summary text at the end (the demo prints the notification instead).
    ``progress``: reads the copy heartbeats of the regions copying (bytes and rate).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with Renderer(out, tty=tty, show_text=show_text, reader=progress) as renderer:
        view = snapshot(sfn, execution_arn, progress)
        while follow and not view.done:
            renderer.update(view)
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(interval)
            view = snapshot(sfn, execution_arn, progress)
        renderer.final(view)
    return view


def exit_code(view: ExecutionView) -> int:
    if not view.done:
        return 0
    return 0 if view.status == "SUCCEEDED" and not view.failed_regions else 1

