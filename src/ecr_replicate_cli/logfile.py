"""Where the CLI writes what a person does not read at the terminal: the functions' JSON log lines
of a local run, the traceback of an internal error. The CLI names the file it wrote.

Directory: ``$ECR_REPLICATE_LOG_DIR``, else ``$XDG_STATE_HOME/ecr-replicate``, else
``~/.local/state/ecr-replicate`` (created 0700); when none can be created, a per-user directory
under the system's temporary directory. Stdlib only.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

ENV_LOG_DIR = "ECR_REPLICATE_LOG_DIR"


def _candidates() -> list[Path]:
    found: list[Path] = []
    if os.environ.get(ENV_LOG_DIR):
        found.append(Path(os.environ[ENV_LOG_DIR]))
    state = os.environ.get("XDG_STATE_HOME")
    if state:
        found.append(Path(state) / "ecr-replicate")
    home = os.environ.get("HOME")
    if home:
        found.append(Path(home) / ".local" / "state" / "ecr-replicate")
    found.append(Path(tempfile.gettempdir()) / f"ecr-replicate-{os.getuid()}")
    return found


def log_dir() -> Path:
    """The first usable log directory (created if missing, owner-only)."""
    problems: list[str] = []
    for candidate in _candidates():
        try:
            candidate.mkdir(mode=0o700, parents=True, exist_ok=True)
            if os.access(candidate, os.W_OK | os.X_OK):
                return candidate
            problems.append(f"{candidate}: not writable")
        except OSError as exc:
            problems.append(f"{candidate}: {exc.strerror or exc}")
    raise OSError("no writable log directory: " + "; ".join(problems))


def new_log_file(kind: str) -> Path:
    """A new, empty, owner-only file ``<kind>-<time>-<pid>.log`` in :func:`log_dir`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = log_dir() / f"{kind}-{stamp}-{os.getpid()}.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    return path
