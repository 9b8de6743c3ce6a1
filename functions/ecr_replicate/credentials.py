"""Registry credentials for the copier, which takes any provider with ``get(host, scheme)`` and
``invalidate(host)`` and knows nothing of AWS or of credential files.

- :class:`EcrCredentials`: Basic ``("AWS", token)`` from ``ecr:GetAuthorizationToken`` for
  ``<account>.dkr.ecr.<region>.amazonaws.com(.cn)`` hosts and for the hosts of ``endpoints``
  (region -> ``host:port``, ``REGISTRY_ENDPOINTS``), with the token of that region. The token
  never goes over plain http, except to the loopback hosts named in ``plain_http_hosts`` (the
  local twin's ``REGISTRY_PLAIN_HTTP``).
- :class:`DockerConfigCredentials`: what skopeo, podman and crane read: containers' auth.json
  (``REGISTRY_AUTH_FILE``, ``$XDG_RUNTIME_DIR/containers/auth.json``,
  ``$XDG_CONFIG_HOME/containers/auth.json``) and Docker's config.json (``$DOCKER_CONFIG``,
  ``~/.docker/config.json``): ``auths``, ``credHelpers``, ``credsStore`` (``docker-credential-*``
  programs run with an argv list and a timeout).
- :class:`ChainCredentials` and :func:`cli_credentials`: the CLI's chain (ECR hosts first).

Secrets are never logged and never put into an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ecr_replicate.aws_names import ECR_HOST_RE
from ecr_replicate.config import Settings
from ecr_replicate.errors import AuthenticationError, ConfigurationError
from ecr_replicate.oci.reference import is_loopback_host

logger = logging.getLogger(__name__)

TOKEN_LIFETIME = 12 * 3600.0  # when GetAuthorizationToken gives no expiresAt
HELPER_TIMEOUT = 30.0
MAX_CONFIG_BYTES = 1 << 20
_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NOT_FOUND = "credentials not found"


class Provider(Protocol):
    def get(self, host: str, scheme: str = "https") -> tuple[str, str] | None: ...

    def invalidate(self, host: str) -> None: ...


def ecr_region(host: str) -> str | None:
    """The region of an ECR registry host name (a port is ignored), else None."""
    name = host.split(":", 1)[0].lower()
    if len(name) > 253:
        return None
    match = ECR_HOST_RE.fullmatch(name)
    return match.group("region") if match else None


@dataclass(frozen=True)
class _Token:
    user: str
    password: str = field(repr=False)
    expires_at: float


class EcrCredentials:
    """Basic credentials for ECR registries from ``ecr:GetAuthorizationToken``.

    ``client_factory(region)`` returns an ECR client of that region (injected). Tokens are
    cached per region until ``expiresAt`` minus ``margin`` seconds; :meth:`invalidate` (the
    copier calls it on a 401 or an "expired" 403) makes the next :meth:`get` fetch a new one.
    ``plain_http_hosts``: loopback hosts the token may be sent to over plain http (the local
    twin's bare registries); any other http request gets a ConfigurationError, not a token.
    """

    def __init__(
        self,
        client_factory: Callable[[str], Any],
        *,
        endpoints: Mapping[str, str] | None = None,
        plain_http_hosts: Iterable[str] = (),
        margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._factory = client_factory
        self._endpoint_regions = {host: region for region, host in (endpoints or {}).items()}
        self._plain_http_hosts = frozenset(plain_http_hosts)
        for host in self._plain_http_hosts:
            if not is_loopback_host(host):
                raise ConfigurationError(
                    f"plain http for an ECR token is for loopback hosts only, not {host}"
                )
        self._margin = margin
        self._clock = clock
        self._cache: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def region_of(self, host: str) -> str | None:
        """The region whose token ``host`` takes: a configured endpoint's, else the ECR host's."""
        return self._endpoint_regions.get(host) or ecr_region(host)

    def get(self, host: str, scheme: str = "https") -> tuple[str, str] | None:
        region = self.region_of(host)
        if region is None:
            return None
        if scheme != "https" and host not in self._plain_http_hosts:
            raise ConfigurationError(
                f"refusing to send the ECR token of {region} to {host} over plain {scheme}: "
                "ECR registries are reached over https"
            )
        with self._lock:
            cached = self._cache.get(region)
            if cached is None or cached.expires_at - self._margin <= self._clock():
                cached = self._cache[region] = self._fetch(region)
            return cached.user, cached.password

    def invalidate(self, host: str) -> None:
        region = self.region_of(host)
        if region is not None:
            with self._lock:
                self._cache.pop(region, None)

    def _fetch(self, region: str) -> _Token:
        client = self._factory(region)
        try:
            answer = client.get_authorization_token()
            data = answer["authorizationData"][0]
            user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        except Exception as exc:  # the message may quote the request: only the class is kept
            raise AuthenticationError(
                f"ecr:GetAuthorizationToken failed in {region}: {type(exc).__name__}"
            ) from None
        expires = data.get("expiresAt")
        expires_at = expires.timestamp() if hasattr(expires, "timestamp") else self._clock() + TOKEN_LIFETIME
        return _Token(user=user, password=password, expires_at=float(expires_at))


def for_deployment(settings: Settings, client_factory: Callable[[str], Any]) -> EcrCredentials:
    """The deployment's provider: the hosts of ``REGISTRY_ENDPOINTS`` take their region's token;
    under ``REGISTRY_PLAIN_HTTP`` (loopback endpoints only, checked by Settings) those endpoints
    may take it over plain http, and no other host ever does."""
    endpoints = settings.registry_endpoints
    plain = endpoints.values() if settings.registry_plain_http else ()
    return EcrCredentials(client_factory, endpoints=endpoints, plain_http_hosts=plain)


# --- Docker config.json / containers auth.json -------------------------------------------------


def _normalise(key: str) -> str:
    """An ``auths`` key as a host: ``https://host/v1/`` -> ``host``; Docker Hub's names -> docker.io."""
    text = key.strip()
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    host = text.split("/", 1)[0].lower()
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


class DockerConfigCredentials:
    """Credentials from the files skopeo, podman, docker and crane use (first file that answers wins).

    ``paths``: the files to read, in order (``--authfile`` gives one); by default
    :meth:`default_paths` of ``env``. Files are read when first needed and cached per host.
    """

    def __init__(
        self,
        paths: Sequence[Path] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        helper_timeout: float = HELPER_TIMEOUT,
    ) -> None:
        self._env = dict(os.environ if env is None else env)
        self._paths = list(paths) if paths is not None else self.default_paths(self._env)
        self._timeout = helper_timeout
        self._cache: dict[str, tuple[str, str] | None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def default_paths(env: Mapping[str, str]) -> list[Path]:
        home = env.get("HOME")
        paths: list[Path] = []
        if env.get("REGISTRY_AUTH_FILE"):
            paths.append(Path(env["REGISTRY_AUTH_FILE"]))
        if env.get("XDG_RUNTIME_DIR"):
            paths.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
        config_home = env.get("XDG_CONFIG_HOME") or (f"{home}/.config" if home else None)
        if config_home:
            paths.append(Path(config_home) / "containers" / "auth.json")
        if env.get("DOCKER_CONFIG"):
            paths.append(Path(env["DOCKER_CONFIG"]) / "config.json")
        elif home:
            paths.append(Path(home) / ".docker" / "config.json")
        return paths

    def paths(self) -> list[Path]:
        return list(self._paths)

    def get(self, host: str, scheme: str = "https") -> tuple[str, str] | None:
        with self._lock:
            if host in self._cache:
                return self._cache[host]
        found = self._lookup(host)
        with self._lock:
            self._cache[host] = found
        return found

    def invalidate(self, host: str) -> None:
        with self._lock:
            self._cache.pop(host, None)

    def _lookup(self, host: str) -> tuple[str, str] | None:
        wanted = _normalise(host)
        for path in self._paths:
            config = _read_config(path)
            if config is None:
                continue
            helpers = config.get("credHelpers")
            if isinstance(helpers, dict):
                for key, helper in helpers.items():
                    if _normalise(str(key)) == wanted:
                        return self._helper(helper, host, path)
            auths = config.get("auths")
            if isinstance(auths, dict):
                for key, entry in auths.items():
                    if _normalise(str(key)) == wanted:
                        found = _auth_entry(entry, path, str(key))
                        if found is not None:
                            return found
            store = config.get("credsStore")
            if store:
                found = self._helper(store, host, path)
                if found is not None:
                    return found
        return None

    def _helper(self, name: object, host: str, path: Path) -> tuple[str, str] | None:
        if not isinstance(name, str) or not _HELPER_NAME.fullmatch(name):
            raise ConfigurationError(f"{path}: credential helper name {str(name)[:40]!r} is not valid")
        program = f"docker-credential-{name}"
        executable = shutil.which(program, path=self._env.get("PATH", os.defpath))
        if executable is None:
            raise ConfigurationError(f"{path}: credential helper {program} is not on PATH")
        try:
            done = subprocess.run(  # noqa: S603 - an argv list; the name was validated above
                [executable, "get"],
                input=host,
                capture_output=True,
                text=True,
                timeout=self._timeout,
                check=False,
                env=self._env,
            )
        except subprocess.TimeoutExpired:
            raise AuthenticationError(f"{program} get {host}: no answer in {self._timeout:g} s") from None
        except OSError as exc:
            raise AuthenticationError(f"{program} get {host}: {type(exc).__name__}") from None
        if done.returncode != 0:
            if _NOT_FOUND in (done.stdout + done.stderr).lower():
                return None
            raise AuthenticationError(f"{program} get {host} failed (exit {done.returncode})")
        try:
            data = json.loads(done.stdout)
            answered: tuple[Any, Any] = (data["Username"], data["Secret"])
        except (ValueError, KeyError, TypeError):
            raise AuthenticationError(f"{program} get {host}: the answer is not credentials JSON") from None
        user, secret = answered
        if not isinstance(user, str) or not isinstance(secret, str) or not secret:
            raise AuthenticationError(f"{program} get {host}: the answer is not credentials JSON")
        if user == "<token>":
            logger.warning("%s gives an identity token for %s: not supported, anonymous", program, host)
            return None
        return user, secret


def _read_config(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read ({type(exc).__name__})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigurationError(f"{path}: over {MAX_CONFIG_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ConfigurationError(f"{path}: not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: not a JSON object")
    return data


def _auth_entry(entry: object, path: Path, key: str) -> tuple[str, str] | None:
    where = f"{path}: auths[{key[:60]!r}]"
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where} is not an object")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, ValueError):
            raise ConfigurationError(f"{where}: 'auth' is not base64 of user:password") from None
        if not sep or not user:
            raise ConfigurationError(f"{where}: 'auth' is not base64 of user:password")
        return user, password
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and name and isinstance(secret, str):
        return name, secret
    if entry.get("identitytoken"):
        logger.warning("%s holds an identity token: not supported, anonymous", where)
    return None


class ChainCredentials:
    """The first provider that answers for a host; ``invalidate`` goes to all."""

    def __init__(self, *providers: Provider) -> None:
        self._providers = providers

    def get(self, host: str, scheme: str = "https") -> tuple[str, str] | None:
        for provider in self._providers:
            found = provider.get(host, scheme)
            if found is not None:
                return found
        return None

    def invalidate(self, host: str) -> None:
        for provider in self._providers:
            provider.invalidate(host)


def cli_credentials(
    client_factory: Callable[[str], Any],
    *,
    authfile: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ChainCredentials:
    """The CLI's provider: ECR hosts take GetAuthorizationToken, other hosts the credential files
    (``authfile`` alone when given, as skopeo's ``--authfile``)."""
    files = DockerConfigCredentials([authfile] if authfile is not None else None, env=env)
    return ChainCredentials(EcrCredentials(client_factory), files)
