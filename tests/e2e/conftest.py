"""Helpers for the end-to-end tests: run the CLI as a user would, read registry storage directly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240, inherit_env: bool = True
) -> subprocess.CompletedProcess[str]:
    """``ecr-replicate ARGS`` in a subprocess, stdin not a terminal, output captured; ``env`` is
    added to this process's environment (``inherit_env=False``: it is the whole environment)."""
    return subprocess.run(
        [sys.executable, "-m", "ecr_replicate_cli.main", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env={**(os.environ if inherit_env else {}), **(env or {})},
        check=False,
    )


def stored_tag_digest(data_dir: Path, region: str, repository: str, tag: str) -> str | None:
    """The digest a tag points to, read from distribution's filesystem storage (not over HTTP)."""
    link = (
        data_dir / region / "data" / "docker" / "registry" / "v2" / "repositories" / repository
        / "_manifests" / "tags" / tag / "current" / "link"
    )
    return link.read_text().strip() if link.exists() else None


def processes_using(path: Path) -> list[int]:
    """PIDs whose command line mentions ``path`` (registries left running would show here)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "regions"
