"""CPU seconds of a process tree, from ``/proc``: where a benchmark run's CPU went, per process.

``snapshot()`` reads ``utime + stime`` of this process and every live descendant (all their
threads, those that ended included), plus what reaped children used (``RUSAGE_CHILDREN``: the
short-lived ``curl`` processes of a raw copy). ``spent(before, after)`` is the difference per
process; a process that started during the run counts from zero. Linux only.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Snapshot:
    cpu: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (command, CPU seconds)
    reaped: float = 0.0  # CPU seconds of children already waited for


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command, parent pid, CPU seconds) of a live process, None if it is gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        text = os.read(fd, 4096).decode(errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)
    command = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is the state (stat field 3): utime and stime are stat fields 14 and 15
    return command, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_of(pid: int) -> float:
    """CPU seconds a live process has used (all its threads); 0.0 once it is gone."""
    found = _stat(pid)
    return found[2] if found is not None else 0.0


def snapshot(root: int | None = None) -> Snapshot:
    """CPU of ``root`` (default: this process) and of all its live descendants."""
    root = os.getpid() if root is None else root
    table: dict[int, tuple[str, int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _stat(int(entry))) is not None:
            table[int(entry)] = found
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    tree: dict[int, tuple[str, float]] = {}
    pending = [root]
    while pending:
        pid = pending.pop()
        if pid in table and pid not in tree:
            tree[pid] = (table[pid][0], table[pid][2])
            pending.extend(children.get(pid, []))
    if root in tree:  # the root's own figure last: the scan's cost falls before it
        tree[root] = (tree[root][0], cpu_of(root))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(tree, usage.ru_utime + usage.ru_stime)


def spent(before: Snapshot, after: Snapshot) -> dict[int, tuple[str, float]]:
    """CPU seconds each process of ``after`` used since ``before`` (new processes from zero)."""
    used = {}
    for pid, (command, cpu) in after.cpu.items():
        start = before.cpu.get(pid, (command, 0.0))[1]
        if cpu - start > 0:
            used[pid] = (command, cpu - start)
    return used


def reaped(before: Snapshot, after: Snapshot) -> float:
    """CPU seconds of children waited for between the two snapshots."""
    return max(after.reaped - before.reaped, 0.0)
