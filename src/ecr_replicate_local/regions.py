"""Local "regions": one ``docker-registry`` per AWS region name, on free 127.0.0.1 ports.

Each registry may post its notifications to a webhook bridge (:mod:`ecr_replicate_local.webhook`):
the source's pushes become ECR events, and every region's pushes and deletions are recorded in
the local ECR. Every registry has its own storage directory (``<data>/<region>``) under a
temporary or a given directory; processes are stopped by PID. A region can be stopped and
restarted on the same port (the fault demo). With a given directory the ports are kept in
``<data>/ports.json``: a restart serves every region on the address it had.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3

from ecr_replicate.aws_names import REGION_RE
from ecr_replicate.errors import ConfigurationError, InvalidInputError
from ecr_replicate_local.registry import LocalRegistry, NotificationEndpoint

logger = logging.getLogger(__name__)

DEFAULT_SOURCE_REGION = "us-east-1"
DEFAULT_TARGET_REGIONS = ("eu-west-1", "ap-southeast-1")
PORTS_FILE = "ports.json"


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition that has ECR, as the installed botocore knows them."""
    session = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ecr", partition_name=partition)
    )


def validate_region(name: str) -> str:
    """``name`` if it is a region AWS has (any partition), else an InvalidInputError: the local
    services refuse a region no partition has, so the run would fail once started."""
    if not REGION_RE.fullmatch(name):
        raise InvalidInputError(f"not an AWS region name: {name!r} (expected e.g. eu-west-1)")
    if name not in known_regions():
        raise InvalidInputError(f"no AWS partition has a region {name!r} (expected e.g. eu-west-1)")
    return name


def saved_ports(path: Path) -> dict[str, int]:
    """The region -> port entries of a ports file (none if it does not exist); values that are
    not a port are dropped; a file that is not a JSON object is a ConfigurationError."""
    if not path.is_file():
        return {}
    try:
        saved: Any = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None
    except ValueError:
        raise ConfigurationError(f"{path} is not JSON: remove it to pick new ports") from None
    if not isinstance(saved, dict):
        raise ConfigurationError(
            f"{path} holds a JSON {type(saved).__name__}, not an object of region ports: remove it"
        )
    return {str(k): v for k, v in saved.items() if type(v) is int and 0 < v < 65536}


def check_data_dir(path: Path) -> Path:
    """``path``, created if missing, when it is a directory this process can write registry
    storage in, with a readable ports file if any; else a ConfigurationError with one line (a
    file, a path under a file, /proc, a ``ports.json`` that is not an object)."""
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"--data {path}: not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"--data {path}: cannot create it: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigurationError(f"--data {path}: {os.strerror(errno.EACCES)}")
    saved_ports(path / PORTS_FILE)
    return path


def parse_regions(text: str | None) -> tuple[str, list[str]]:
    """``"SRC,T1,T2"`` -> (source, [targets]); None gives the defaults."""
    if text is None:
        return DEFAULT_SOURCE_REGION, list(DEFAULT_TARGET_REGIONS)
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        validate_region(name)
    if len(names) < 2:
        raise InvalidInputError("--regions needs a source and at least one target: SRC,T1[,T2...]")
    if len(set(names)) != len(names):
        raise InvalidInputError(f"--regions lists a region twice: {text!r}")
    return names[0], names[1:]


class LocalRegions:
    """The registries of a local run, keyed by region name."""

    def __init__(
        self,
        source_region: str,
        target_regions: list[str],
        *,
        data_dir: Path | None = None,
        notification_url: str | None = None,
        notification_urls: Mapping[str, str] | None = None,
    ) -> None:
        """``notification_url``: the source's webhook; ``notification_urls``: region -> webhook."""
        self.source_region = validate_region(source_region)
        self.target_regions = [validate_region(r) for r in target_regions]
        if source_region in self.target_regions:
            raise InvalidInputError(f"the source region {source_region} cannot also be a target")
        self._owns_root = data_dir is None
        self.root = Path(tempfile.mkdtemp(prefix="ecr-replicate-local-")) if data_dir is None else data_dir
        urls = dict(notification_urls or {})
        if notification_url:
            urls[source_region] = notification_url
        ports = self._saved_ports()
        self.registries: dict[str, LocalRegistry] = {}
        for region in self.regions:
            notifications = []
            if region in urls:
                notifications.append(NotificationEndpoint(url=urls[region], backoff="200ms"))
            self.registries[region] = LocalRegistry(
                root=self.root / region,
                name=region,
                notifications=notifications,
                port=ports.get(region, 0),
                fixed_port=region in ports,
            )

    @property
    def _ports_file(self) -> Path | None:
        return None if self._owns_root else self.root / PORTS_FILE

    def _saved_ports(self) -> dict[str, int]:
        path = self._ports_file
        return {} if path is None else saved_ports(path)

    def _save_ports(self) -> None:
        path = self._ports_file
        if path is None:
            return
        ports = {**self._saved_ports(), **{region: reg.port for region, reg in self.registries.items()}}
        try:
            path.write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}") from None

    @property
    def regions(self) -> list[str]:
        return [self.source_region, *self.target_regions]

    @property
    def source(self) -> LocalRegistry:
        return self.registries[self.source_region]

    def registry(self, region: str) -> LocalRegistry:
        try:
            return self.registries[region]
        except KeyError:
            raise InvalidInputError(
                f"no local region {region!r}; running: {', '.join(self.regions)}"
            ) from None

    def endpoints(self) -> dict[str, str]:
        """Region -> ``127.0.0.1:PORT`` (the ``REGISTRY_ENDPOINTS`` map of a local run)."""
        return {region: reg.host for region, reg in self.registries.items()}

    def pids(self) -> dict[str, int | None]:
        return {
            region: reg.process.pid if reg.process is not None else None
            for region, reg in self.registries.items()
        }

    def start(self) -> LocalRegions:
        """Start every registry and save their ports; if anything fails, stop those already
        started and raise."""
        check_data_dir(self.root)
        try:
            for region, reg in self.registries.items():
                reg.start()
                logger.debug("region %s: registry %s (pid %s)", region, reg.host, self.pids()[region])
            self._save_ports()
        except BaseException:
            self.stop()
            raise
        return self

    def stop_region(self, region: str) -> None:
        """Stop one region's registry (by PID); its storage and port are kept for :meth:`restart`."""
        self.registry(region).stop()

    def restart(self, region: str) -> LocalRegistry:
        """Start one region's registry again, on the same port (the endpoint map stays true)."""
        reg = self.registry(region)
        port = reg.port
        reg.stop()
        reg.start()
        if port and reg.port != port:
            reg.stop()
            raise ConfigurationError(f"region {region}: port {port} was taken while its registry was stopped")
        return reg

    def stop(self) -> None:
        """Stop every registry this object started (by PID), all at once. Safe to call twice."""

        def stop(reg: LocalRegistry) -> None:
            try:
                reg.stop()
            except Exception as exc:  # keep stopping the others
                logger.warning("could not stop registry %s: %s", reg.name, exc)

        threads = [threading.Thread(target=stop, args=(reg,)) for reg in self.registries.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def cleanup(self) -> None:
        """Stop everything; remove the storage if it is a temporary directory."""
        self.stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalRegions:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
