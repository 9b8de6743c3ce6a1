"""Registry authentication: anonymous, HTTP Basic, the Bearer token challenge.

Credentials come from a :class:`CredentialProvider` (``ecr_replicate.credentials`` holds the ECR
and Docker-config ones) and go to the registry's own host and scheme only:

- Basic credentials are sent to the registry they belong to, never to another host;
- a Bearer ``realm`` must be an absolute http(s) URL; it gets the Basic credentials only when it
  is the registry's own scheme, host and port (as go-containerregistry checks): a realm on
  another host, over http for an https registry, or with another scheme is asked anonymously;
- tokens are checked (printable ASCII, bounded) before they go into a header, cached per scope,
  and never logged;
- every password and token used for a host is remembered (:meth:`Authenticator.secrets`) so that
  an error answer echoing one, in whatever encoding, is redacted (``answers.redact``).

The challenge header is parsed by a single linear pass, bounded in length and parameters.
"""

from __future__ import annotations

import base64
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

from ecr_replicate.errors import AuthenticationError, RegistryProtocolError, UnsupportedManifestError
from ecr_replicate.oci.manifests import parse_json
from ecr_replicate.oci.urls import Url, origin, resolve

MAX_CHALLENGE = 8192
MAX_CHALLENGE_PARAMS = 32
MAX_TOKEN = 16384
TOKEN_BODY_LIMIT = 1 << 20

TokenFetch = Callable[[Url, dict[str, str]], bytes]
"""``fetch(url, headers) -> body``: one GET of a token endpoint by the transport (typed errors)."""


class CredentialProvider(Protocol):
    """Answers ``(user, password)`` for a registry host reached over ``scheme``, or None."""

    def get(self, host: str, scheme: str = "https") -> tuple[str, str] | None: ...

    def invalidate(self, host: str) -> None: ...


class StaticCredentials:
    """Fixed credentials per host (tests, local registries with htpasswd, operator input)."""

    def __init__(self, credentials: dict[str, tuple[str, str]]) -> None:
        self._credentials = dict(credentials)

    def get(self, host: str, scheme: str = "https") -> tuple[str, str] | None:
        return self._credentials.get(host)

    def invalidate(self, host: str) -> None:
        """Static credentials cannot be refreshed."""


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` -> ``("bearer", {...})``, in one linear pass.

    Parameters end at the first item that is not ``key=value`` (a second challenge).
    """
    if len(header) > MAX_CHALLENGE:
        raise AuthenticationError(f"authentication challenge of {len(header)} characters refused")
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n and len(params) < MAX_CHALLENGE_PARAMS:
        while i < n and rest[i] in " \t,":
            i += 1
        start = i
        while i < n and rest[i] not in "= \t,":
            i += 1
        key = rest[start:i].lower()
        if not key or i >= n or rest[i] != "=":
            break
        i += 1
        if i < n and rest[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(rest[i])
                i += 1
            i += 1
            value = "".join(chars)
        else:
            start = i
            while i < n and rest[i] not in " \t,":
                i += 1
            value = rest[start:i]
        params.setdefault(key, value)
    return scheme.lower(), params


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _valid_token(token: Any) -> bool:
    return isinstance(token, str) and 0 < len(token) <= MAX_TOKEN and all("!" <= c <= "~" for c in token)


class Authenticator:
    """Per-host authorization state shared by every request of one copy (thread-safe)."""

    def __init__(self, credentials: CredentialProvider | None = None) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()
        self._mode: dict[str, str] = {}  # host -> "basic" | "bearer"
        self._basic: dict[str, str] = {}
        self._bearer: dict[tuple[str, str], str] = {}  # (host, scope) -> header
        self._secrets: dict[str, set[str]] = {}  # host -> passwords, "user:password", tokens

    def secrets(self, host: str) -> frozenset[str]:
        """Every credential value sent for ``host`` so far (to redact from its answers)."""
        with self._lock:
            return frozenset(self._secrets.get(host, ()))

    def _remember(self, host: str, user_pass: tuple[str, str] | None, token: str | None = None) -> None:
        values = [token] if token else []
        if user_pass is not None:
            values += [user_pass[1], f"{user_pass[0]}:{user_pass[1]}"]
        with self._lock:
            self._secrets.setdefault(host, set()).update(values)

    def header(self, host: str, scheme: str, scope: str) -> str | None:
        """The Authorization header for a request to the registry ``host`` (None: anonymous)."""
        with self._lock:
            mode = self._mode.get(host)
            if mode == "bearer":
                return self._bearer.get((host, scope))
            cached = self._basic.get(host)
        if cached is not None or mode == "basic":
            return cached
        user_pass = self._fresh(host, scheme, refresh=False)
        if user_pass is None:
            return None
        self._remember(host, user_pass)
        value = basic_header(*user_pass)
        with self._lock:
            self._basic[host] = value
        return value

    def challenge(
        self,
        host: str,
        scheme: str,
        scope: str,
        www_authenticate: str | None,
        sent: str | None,
        *,
        fetch: TokenFetch,
    ) -> bool:
        """React to a 401 (or an 'expired' 403). True when new credentials are ready to retry with."""
        kind, params = parse_challenge(www_authenticate or "")
        if kind == "bearer":
            realm = self._realm(host, scheme, params.get("realm", ""))
            own = realm.origin == origin(scheme, host)  # only the registry's own origin gets Basic
            user_pass = self._fresh(host, scheme, refresh=False) if own else None
            self._remember(host, user_pass)
            try:
                token = self._token(host, realm, params, scope, user_pass=user_pass, fetch=fetch)
            except AuthenticationError:
                if user_pass is None:
                    raise
                # the password may have been rotated (ECR tokens expire): fetch it again, once
                user_pass = self._fresh(host, scheme, refresh=True)
                self._remember(host, user_pass)
                token = self._token(host, realm, params, scope, user_pass=user_pass, fetch=fetch)
            self._remember(host, None, token)
            value = f"Bearer {token}"
            with self._lock:
                self._mode[host] = "bearer"
                self._bearer[(host, scope)] = value
            return value != sent
        user_pass = self._fresh(host, scheme, refresh=sent is not None)
        if user_pass is None:
            return False
        self._remember(host, user_pass)
        value = basic_header(*user_pass)
        with self._lock:
            self._mode[host] = "basic"
            self._basic[host] = value
        return value != sent

    def _fresh(self, host: str, scheme: str, *, refresh: bool) -> tuple[str, str] | None:
        if self._credentials is None:
            return None
        if refresh:
            self._credentials.invalidate(host)
        return self._credentials.get(host, scheme)

    @staticmethod
    def _realm(host: str, scheme: str, realm: str) -> Url:
        if not realm.lower().startswith(("http://", "https://")):
            raise AuthenticationError(
                f"{host} names a token realm {realm[:80]!r} that is not an http(s) URL: refused", host=host
            )
        try:
            return resolve(Url(scheme, host, "/"), realm, f"token realm of {host}")
        except RegistryProtocolError as exc:
            raise AuthenticationError(str(exc), host=host) from None

    @staticmethod
    def _token(
        host: str,
        realm: Url,
        params: dict[str, str],
        scope: str,
        *,
        user_pass: tuple[str, str] | None,
        fetch: TokenFetch,
    ) -> str:
        query = [("service", params["service"])] if "service" in params else []
        query += [("scope", item) for item in scope.split(" ") if item]
        separator = "&" if "?" in realm.target else "?"
        url = Url(realm.scheme, realm.host, realm.target + separator + urllib.parse.urlencode(query))
        headers = {"Accept": "application/json"}
        if user_pass is not None:
            headers["Authorization"] = basic_header(*user_pass)
        body = fetch(url, headers)
        try:
            data = parse_json(body[:TOKEN_BODY_LIMIT], "token answer")
        except UnsupportedManifestError:
            data = None
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not _valid_token(token):
            raise AuthenticationError(f"token endpoint of {host} answered without a usable token", host=host)
        return str(token)
