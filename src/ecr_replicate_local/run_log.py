"""Where a local run's logs go, so that the terminal shows only what ``local demo|up`` print.

The functions' JSON log lines (their worker processes' stdout and stderr) and this process's log
records (moto, werkzeug, the twin) go to one file, named at start
(:func:`ecr_replicate_cli.logfile.new_log_file`); with ``--verbose`` both stay on stderr.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType

from ecr_replicate_cli.logfile import new_log_file

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RunLog:
    """The log destination of one local run: ``path`` and ``fd`` (None: stderr, ``--verbose``)."""

    def __init__(self, kind: str, *, verbose: bool = False) -> None:
        self.kind = kind
        self.verbose = verbose
        self.path: Path | None = None
        self.fd: int | None = None

    def __enter__(self) -> RunLog:
        if self.verbose:
            return self
        self.path = new_log_file(self.kind)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        handler = logging.FileHandler(self.path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the functions' descriptor. The handler stays: threads of the stopped twin (moto's
        interpreter finishing a state) may still log, and that belongs in the file too."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def describe(self) -> str:
        """The line telling where the logs are."""
        if self.path is None:
            return "Logs of the functions and the twin: on stderr (--verbose)"
        return f"Logs of the functions and the twin: {self.path}"
