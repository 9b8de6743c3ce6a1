"""Local registries standing in for regions: Debian's ``docker-registry`` (CNCF distribution 2.8).

Each registry listens on a free 127.0.0.1 port with its own storage directory and is stopped by
PID. Used by the test fixtures, the benchmarks and ``ecr-replicate local``.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecr_replicate.errors import ConfigurationError

logger = logging.getLogger(__name__)

REGISTRY_BINARY = "docker-registry"
LOOPBACK = "127.0.0.1"
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the registry when the process that started it dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def stop_process(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Stop a child we started, by its PID: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)


def registry_binary() -> str:
    path = shutil.which(REGISTRY_BINARY) or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
    )
    if path is None:
        raise ConfigurationError(
            "docker-registry is not installed (Debian: apt-get install docker-registry)"
        )
    return path


@dataclass
class NotificationEndpoint:
    """A distribution webhook target (``notifications.endpoints``)."""

    url: str
    name: str = "ecr-replicate"
    timeout: str = "2s"
    threshold: int = 3
    backoff: str = "500ms"


@dataclass
class LocalRegistry:
    """One running ``docker-registry`` process.

    Use as a context manager or call :meth:`start` / :meth:`stop`. ``host`` is ``127.0.0.1:PORT``.
    """

    root: Path
    port: int = 0
    notifications: list[NotificationEndpoint] = field(default_factory=list)
    name: str = "registry"
    process: subprocess.Popen[bytes] | None = None
    fixed_port: bool = False  # True: `port` or nothing (a restart keeps its address)
    _owns_root: bool = False

    @classmethod
    def temporary(cls, name: str = "registry", **kwargs: Any) -> LocalRegistry:
        root = Path(tempfile.mkdtemp(prefix=f"ecr-replicate-{name}-"))
        reg = cls(root=root, name=name, **kwargs)
        reg._owns_root = True
        return reg

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def storage(self) -> Path:
        """The filesystem driver's ``rootdirectory``: what the registry stores, in its layout."""
        return self.root / "data"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
                "cache": {"blobdescriptor": "inmemory"},
            },
            "http": {
                "addr": f"{LOOPBACK}:{self.port}",
                # a fixed secret keeps upload URLs valid across a restart of this registry
                "secret": f"ecr-replicate-local-{self.name}",
            },
        }
        if self.notifications:
            cfg["notifications"] = {
                "endpoints": [
                    {
                        "name": ep.name,
                        "url": ep.url,
                        "timeout": ep.timeout,
                        "threshold": ep.threshold,
                        "backoff": ep.backoff,
                    }
                    for ep in self.notifications
                ]
            }
        return cfg

    def start(self, timeout: float = 10.0) -> LocalRegistry:
        if self.running:
            return self
        binary = registry_binary()
        self.root.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _ in range(5):
            if not self.port:
                self.port = free_port()
            config_path = self.root / "config.yml"
            # JSON is YAML: no YAML writer needed.
            config_path.write_text(json.dumps(self.config(), indent=2))
            log_path = self.root / "registry.log"
            with log_path.open("ab") as log:
                self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    [binary, "serve", str(config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C in a terminal reaches us, not it
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
                )
            if self._wait_ready(timeout):
                logger.debug("registry %s listening on %s (pid %s)", self.name, self.host, self.process.pid)
                return self
            last_error = log_path.read_text(errors="replace")[-500:]
            self._kill()
            if "address already in use" not in last_error:
                break
            if self.fixed_port:
                raise ConfigurationError(
                    f"registry {self.name}: port {self.port} is in use by another process; stop it "
                    "(the region keeps its port across restarts) or use another data directory"
                )
            self.port = 0  # lost the race for the port: pick another
        raise ConfigurationError(f"docker-registry {self.name} did not start: {last_error.strip()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            conn = self._probe_connection()
            try:
                conn.request("GET", "/v2/")
                if conn.getresponse().status == 200:
                    return True
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.02)
        return False

    def _probe_connection(self) -> http.client.HTTPConnection:
        """The connection :meth:`start` asks ``GET /v2/`` on until the registry answers."""
        return http.client.HTTPConnection(LOOPBACK, self.port, timeout=1)

    def _kill(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None

    def stop(self) -> None:
        """Stop the process (by PID); the storage stays, so :meth:`start` brings it back as it was."""
        self._kill()

    def cleanup(self) -> None:
        """Stop and, if this object created the storage directory, remove it."""
        self.stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
