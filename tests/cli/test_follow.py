"""Following a run: plain lines when stdout is not a terminal (a line per state change, a progress
line at most every 10 s while bytes move); on a terminal, one table redrawn in place."""

from __future__ import annotations

import io
from typing import Any

import pytest
import rich.live

from ecr_replicate.heartbeat import COPYING, Heartbeat
from ecr_replicate_cli import follow
from ecr_replicate_cli.history import ExecutionView
from ecr_replicate_cli.region_rows import RegionRow

MIB = 1024 * 1024


def view(state: str, copied: int | None, status: str = "RUNNING") -> ExecutionView:
    row = RegionRow(index=0, region="eu-west-1", state=state, seconds=1.0)
    progress = {}
    if copied is not None:
        progress["eu-west-1"] = Heartbeat("run", "eu-west-1", "lambda", COPYING, copied, 0, 100 * MIB, 0, 0,
                                          MIB, 1.0, 1.0)  # fmt: skip
    return ExecutionView("arn", "run", status, "", None, rows=[row], progress=progress)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_on_state_changes_and_every_ten_seconds_of_progress() -> None:
    out, clock = io.StringIO(), Clock()
    renderer = follow.Renderer(out, tty=False, clock=clock)
    renderer.update(view("copying", None))  # the state changed: a line
    renderer.update(view("copying", 0))  # its first heartbeat a moment later: no new line
    clock.now += 5
    renderer.update(view("copying", 10 * MIB))  # 5 s later: not yet
    clock.now += 6
    renderer.update(view("copying", 20 * MIB))  # 11 s after the last line, bytes moved: a line
    clock.now += 11
    renderer.update(view("copying", 20 * MIB))  # stalled: nothing new to say
    renderer.update(view("done", None))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].split()[:2] == ["eu-west-1", "copying"] and "of" not in lines[0]
    assert "20.0 MiB of 100.0 MiB (20%), 1.0 MiB/s" in lines[1]
    assert lines[2].split()[:2] == ["eu-west-1", "done"]


def test_on_a_terminal_one_table_is_redrawn_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    calls: list[str] = []

    class Live:
        def __init__(self, renderable: Any, **options: Any) -> None:
            calls.append("start")

        def start(self, refresh: bool = False) -> None:
            pass

        def update(self, renderable: Any, refresh: bool = False) -> None:
            calls.append("update")

        def stop(self) -> None:
            calls.append("stop")

    monkeypatch.setattr(rich.live, "Live", Live)
    renderer = follow.Renderer(out, tty=True)
    for copied in (0, MIB, 2 * MIB):
        renderer.update(view("copying", copied))
    renderer.final(view("done", None, status="SUCCEEDED"))
    assert calls == ["start", "update", "update", "update", "stop"]
