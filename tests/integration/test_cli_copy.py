"""``ecr-replicate copy`` as a process: exit codes, one-line errors, the summary."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from ecr_replicate_local import sample_images as si
from ecr_replicate_local.registry import LocalRegistry

Oracle = Callable[[str], "str | None"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecr_replicate_cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_copy_summary_and_exit_zero(
    source_registry: LocalRegistry, target_registry: LocalRegistry, oracle: Oracle
) -> None:
    image = si.push_image(source_registry.host, "app", "v1", layer_count=2)
    done = cli("copy", "--plain-http", "--jobs", "2", image.ref, f"{target_registry.host}/app:v1")
    assert done.returncode == 0, done.stderr
    assert image.digest in done.stdout
    assert "blobs copied 3, skipped 0, mounted 0" in done.stdout
    assert oracle(f"{target_registry.host}/app:v1") == image.digest
    warm = cli("copy", "--plain-http", "--json", image.ref, f"{target_registry.host}/app:v1")
    assert warm.returncode == 0, warm.stderr
    data = json.loads(warm.stdout)
    assert data["digest"] == image.digest and data["bytesCopied"] == 0 and data["status"] == "COPIED"


def test_failures_exit_non_zero_with_one_line(
    source_registry: LocalRegistry, target_registry: LocalRegistry
) -> None:
    si.push_image(source_registry.host, "app", "v1")
    missing = cli(
        "copy", "--plain-http", f"{source_registry.host}/app:absent", f"{target_registry.host}/app:v1"
    )
    assert missing.returncode == 1
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ecr-replicate copy: ImageNotFoundError: ")
    invalid = cli("copy", "no-host-here", f"{target_registry.host}/app:v1")
    assert invalid.returncode == 2
    assert invalid.stderr.strip().startswith("ecr-replicate copy: InvalidReferenceError:")
    usage = cli("copy")
    assert usage.returncode == 2
    unknown = cli("no-such-command")
    assert unknown.returncode == 2

