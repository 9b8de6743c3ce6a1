from __future__ import annotations

import io

from ecr_replicate.oci.copy import CopyProgress, CopyResult
from ecr_replicate.oci.reference import Reference
from ecr_replicate.units import human_bytes
from ecr_replicate_cli.copy_progress import ProgressLine, summary
from ecr_replicate_cli.main import COMMANDS, main


def test_progress_line_counts_and_clears() -> None:
    out = io.StringIO()
    line = ProgressLine(out, interval=0)
    for event in (
        CopyProgress("blob-started", "sha256:a", 10),
        CopyProgress("blob-progress", "sha256:a", 10, 4 * 1024 * 1024),
        CopyProgress("blob-done", "sha256:a", 10),
        CopyProgress("blob-skipped", "sha256:b"),
        CopyProgress("blob-mounted", "sha256:c"),
        CopyProgress("manifest-put", "sha256:d"),
    ):
        line(event)
    text = out.getvalue()
    assert "\r" in text and "4.0 MiB" in text
    assert "blobs 1/1 copied, 1 skipped, 1 mounted" in text
    line.clear()
    assert out.getvalue().endswith("\r")


def test_summary_text() -> None:
    result = CopyResult(
        status="COPIED",
        source=Reference("a.example", "b", "1"),
        target=Reference("c.example", "b", "1"),
        digest="sha256:x",
        media_type="m",
        blobs_copied=2,
        blobs_skipped=1,
        blobs_mounted=0,
        bytes_copied=2048,
        seconds=0.5,
    )
    text = summary(result)
    assert "blobs copied 2, skipped 1, mounted 0" in text and "2.0 KiB" in text and "0.50 s" in text
    assert result.to_dict()["bytesCopied"] == 2048
    assert human_bytes(5) == "5 B"


def test_dispatcher_lists_commands_without_importing_them(capsys: object) -> None:
    assert "copy" in COMMANDS
    assert main([]) == 2
