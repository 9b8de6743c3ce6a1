"""Plain-stdlib progress rendering for the CLI: a live line on a terminal, a summary always."""

from __future__ import annotations

import threading
import time
from typing import TextIO

from ecr_replicate.oci.copy_report import CopyProgress, CopyResult
from ecr_replicate.oci.text import printable
from ecr_replicate.units import human_bytes


class ProgressLine:
    """A progress callback that redraws one status line at most every ``interval`` seconds."""

    def __init__(self, stream: TextIO, *, interval: float = 0.1) -> None:
        self.stream = stream
        self.interval = interval
        self.started = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()
        self._width = 0
        self.blobs_started = 0
        self.blobs_done = 0
        self.blobs_skipped = 0
        self.blobs_mounted = 0
        self.bytes = 0
        self.manifests = 0

    def __call__(self, event: CopyProgress) -> None:
        with self._lock:
            kind = event.event
            if kind == "blob-started":
                self.blobs_started += 1
            elif kind == "blob-progress":
                self.bytes += event.bytes
            elif kind == "blob-done":
                self.blobs_done += 1
            elif kind == "blob-skipped":
                self.blobs_skipped += 1
            elif kind == "blob-mounted":
                self.blobs_mounted += 1
            elif kind == "manifest-put":
                self.manifests += 1
            now = time.monotonic()
            if now - self._last >= self.interval or kind != "blob-progress":
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-6)
        text = (
            f"blobs {self.blobs_done}/{self.blobs_started} copied, {self.blobs_skipped} skipped, "
            f"{self.blobs_mounted} mounted | {human_bytes(self.bytes)} "
            f"({human_bytes(int(self.bytes / elapsed))}/s) | manifests {self.manifests}"
        )
        pad = max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def clear(self) -> None:
        with self._lock:
            if self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                self._width = 0


def summary(result: CopyResult) -> str:
    verb = "superseded (target tag left alone)" if result.status == "SUPERSEDED" else "copied"
    return (
        f"{verb} {result.source} -> {result.target} {result.digest}\n"
        f"blobs copied {result.blobs_copied}, skipped {result.blobs_skipped}, "
        f"mounted {result.blobs_mounted}; "
        f"manifests {result.manifests_copied}; referrers {result.referrers_copied}; "
        f"{human_bytes(result.bytes_copied)} ({result.bytes_copied} bytes) in {result.seconds:.2f} s"
        + "".join(f"\nwarning: {printable(warning)}" for warning in result.warnings)
    )
