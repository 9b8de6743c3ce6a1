"""Deployment settings, read from the environment and validated once per configuration.

Every handler and the CodeBuild copy step call :func:`current`, which parses the environment the
first time it sees a given set of values and returns the same frozen :class:`Settings` after that.
Handlers never branch on "local": local runs differ only by ``REGISTRY_ENDPOINTS`` (a JSON map
region -> ``host:port``), ``REGISTRY_CA_FILE`` (the PEM file of the local CA, trusted instead of
the system store) and boto3's own ``AWS_ENDPOINT_URL``.

Registries are reached over https. ``REGISTRY_PLAIN_HTTP=true`` is the local twin's until its
https front replaces the bare registries: it is refused unless every ``REGISTRY_ENDPOINTS`` host
is a loopback address, and applies to those hosts only.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from ecr_replicate.errors import ConfigurationError
from ecr_replicate.oci.reference import is_loopback_host
from ecr_replicate.oci.registry_config import RegistryConfig

CopyRuntime = Literal["auto", "lambda", "codebuild"]

REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_HOST_PORT_RE = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
DEFAULT_LAMBDA_MAX_IMAGE_BYTES = 1024**3  # 1 GiB: well inside Lambda's 15 minutes at ECR speeds
DEFAULT_MAX_CONCURRENCY = 10
MAX_INLINE_MAP_CONCURRENCY = 40

ENV_NAMES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "ACCOUNT_ID",
    "TARGET_REGIONS",
    "REPOSITORY_INCLUDE",
    "REPOSITORY_EXCLUDE",
    "TAG_INCLUDE",
    "TAG_EXCLUDE",
    "COPY_RUNTIME",
    "LAMBDA_MAX_IMAGE_BYTES",
    "MIRROR_REPOSITORY_SETTINGS",
    "TOPIC_ARN",
    "EVENT_BUS_NAME",
    "COPY_JOBS",
    "MAX_CONCURRENCY",
    "REGISTRY_ENDPOINTS",
    "REGISTRY_CA_FILE",
    "REGISTRY_PLAIN_HTTP",
    "ITEMS_BUCKET",
    "PROGRESS_BUCKET",
)


def validate_region(name: str, what: str = "region") -> str:
    if not REGION_RE.fullmatch(name):
        raise ConfigurationError(f"{what} {name[:40]!r} is not an AWS region name (e.g. eu-west-1)")
    return name


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(env: Mapping[str, str], name: str, default: int | None, minimum: int, maximum: int) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw[:40]!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigurationError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "false").strip().lower()
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no", ""):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw[:40]!r}")


def _endpoints(raw: str) -> dict[str, str]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigurationError("REGISTRY_ENDPOINTS must be a JSON object region -> host:port") from None
    if not isinstance(data, dict):
        raise ConfigurationError("REGISTRY_ENDPOINTS must be a JSON object region -> host:port")
    endpoints: dict[str, str] = {}
    for region, host in data.items():
        validate_region(str(region), "REGISTRY_ENDPOINTS region")
        if not isinstance(host, str) or not _HOST_PORT_RE.fullmatch(host):
            raise ConfigurationError(
                f"REGISTRY_ENDPOINTS[{region}] must be host:port, got {str(host)[:60]!r}"
            )
        endpoints[str(region)] = host
    return endpoints


def _bucket(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if value and not _BUCKET_RE.fullmatch(value):
        raise ConfigurationError(f"{name} must be an S3 bucket name, got {value[:70]!r}")
    return value or None


def _ca_file(env: Mapping[str, str]) -> str | None:
    path = env.get("REGISTRY_CA_FILE", "").strip()
    if not path:
        return None
    if not os.path.isfile(path):
        raise ConfigurationError(f"REGISTRY_CA_FILE {path[:200]!r} is not a file")
    return path


def _plain_http(env: Mapping[str, str], endpoints: Mapping[str, str]) -> bool:
    if not _bool(env, "REGISTRY_PLAIN_HTTP"):
        return False
    remote = [host for host in endpoints.values() if not is_loopback_host(host)]
    if not endpoints or remote:
        raise ConfigurationError(
            "REGISTRY_PLAIN_HTTP is for local registries only: every REGISTRY_ENDPOINTS host must be "
            f"a loopback address{f' (not {remote[0][:60]})' if remote else ''}"
        )
    return True


@dataclass(frozen=True)
class Settings:
    source_region: str
    target_regions: tuple[str, ...]
    account_id: str | None = None
    repository_include: tuple[str, ...] = ()
    repository_exclude: tuple[str, ...] = ()
    tag_include: tuple[str, ...] = ()
    tag_exclude: tuple[str, ...] = ()
    copy_runtime: CopyRuntime = "auto"
    lambda_max_image_bytes: int = DEFAULT_LAMBDA_MAX_IMAGE_BYTES
    mirror_repository_settings: bool = False
    topic_arn: str | None = None
    event_bus_name: str = "default"
    copy_jobs: int | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    registry_endpoints: Mapping[str, str] = field(default_factory=dict)
    registry_ca_file: str | None = None
    registry_plain_http: bool = False
    items_bucket: str | None = None  # where reconcile writes its image lists (ITEMS_BUCKET)
    progress_bucket: str | None = None  # where copy steps record their heartbeats (heartbeat.py)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        source = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
        if not source:
            raise ConfigurationError("AWS_REGION is not set: the source region is unknown")
        validate_region(source, "AWS_REGION")
        targets: list[str] = []
        for region in _split(env.get("TARGET_REGIONS", "")):
            validate_region(region, "TARGET_REGIONS entry")
            if region != source and region not in targets:
                targets.append(region)
        if not targets:
            raise ConfigurationError(
                "TARGET_REGIONS names no region other than the source region "
                f"{source}: nothing to replicate to"
            )
        account = env.get("ACCOUNT_ID", "").strip() or None
        if account is not None and not _ACCOUNT_RE.fullmatch(account):
            raise ConfigurationError(f"ACCOUNT_ID must be 12 digits, got {account[:20]!r}")
        runtime = env.get("COPY_RUNTIME", "auto").strip().lower() or "auto"
        if runtime not in ("auto", "lambda", "codebuild"):
            raise ConfigurationError(f"COPY_RUNTIME must be auto, lambda or codebuild, got {runtime[:20]!r}")
        endpoints = _endpoints(env.get("REGISTRY_ENDPOINTS", ""))
        topic = env.get("TOPIC_ARN", "").strip() or None
        if topic is not None and not topic.startswith("arn:"):
            raise ConfigurationError(f"TOPIC_ARN must be an ARN, got {topic[:60]!r}")
        return cls(
            source_region=source,
            target_regions=tuple(targets),
            account_id=account,
            repository_include=_split(env.get("REPOSITORY_INCLUDE", "")),
            repository_exclude=_split(env.get("REPOSITORY_EXCLUDE", "")),
            tag_include=_split(env.get("TAG_INCLUDE", "")),
            tag_exclude=_split(env.get("TAG_EXCLUDE", "")),
            copy_runtime=cast(CopyRuntime, runtime),
            lambda_max_image_bytes=cast(
                int, _int(env, "LAMBDA_MAX_IMAGE_BYTES", DEFAULT_LAMBDA_MAX_IMAGE_BYTES, 0, 2**62)
            ),
            mirror_repository_settings=_bool(env, "MIRROR_REPOSITORY_SETTINGS"),
            topic_arn=topic,
            event_bus_name=env.get("EVENT_BUS_NAME", "").strip() or "default",
            copy_jobs=_int(env, "COPY_JOBS", None, 1, 64),
            max_concurrency=cast(
                int, _int(env, "MAX_CONCURRENCY", DEFAULT_MAX_CONCURRENCY, 1, MAX_INLINE_MAP_CONCURRENCY)
            ),
            registry_endpoints=endpoints,
            registry_ca_file=_ca_file(env),
            registry_plain_http=_plain_http(env, endpoints),
            items_bucket=_bucket(env, "ITEMS_BUCKET"),
            progress_bucket=_bucket(env, "PROGRESS_BUCKET"),
        )

    def registry_host(self, region: str, account: str | None = None) -> str:
        """The registry host serving ``region``: the local endpoint if configured, else ECR's."""
        local = self.registry_endpoints.get(region)
        if local is not None:
            return local
        account = account or self.account_id
        if account is None:
            raise ConfigurationError(
                f"no registry endpoint for {region}: set ACCOUNT_ID (or REGISTRY_ENDPOINTS for local runs)"
            )
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return f"{account}.dkr.ecr.{region}.{suffix}"

    def registry_config(self, host: str) -> RegistryConfig:
        """How to reach the registry ``host``: https with ``REGISTRY_CA_FILE`` (or the system
        trust store), plain http only for a local endpoint under ``REGISTRY_PLAIN_HTTP``."""
        if self.registry_plain_http and host in self.registry_endpoints.values():
            return RegistryConfig(plain_http=True)
        return RegistryConfig(ca_file=self.registry_ca_file)


@functools.lru_cache(maxsize=8)
def _parse(snapshot: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_env(dict(snapshot))


def current() -> Settings:
    """Settings for the current environment, parsed and validated once per distinct configuration."""
    snapshot = tuple((name, os.environ[name]) for name in ENV_NAMES if name in os.environ)
    return _parse(snapshot)
