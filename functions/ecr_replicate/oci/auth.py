"""Registry authentication: anonymous, HTTP Basic, the Bearer token challenge.

Credentials come from a :class:`CredentialProvider` (``ecr_replicate.credentials`` holds the
ECR one); tokens are cached and never logged.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Protocol

from ecr_replicate.errors import AuthenticationError, RegistryUnavailableError
from ecr_replicate.oci.http11 import Connection

TOKEN_TIMEOUT = 30.0


class CredentialProvider(Protocol):
    """Answers ``(user, password)`` for a registry host, or None (anonymous)."""

    def get(self, host: str) -> tuple[str, str] | None: ...

    def invalidate(self, host: str) -> None: ...


class StaticCredentials:
    """Fixed credentials per host (tests, local registries with htpasswd, operator input)."""

    def __init__(self, credentials: dict[str, tuple[str, str]]) -> None:
        self._credentials = dict(credentials)

    def get(self, host: str) -> tuple[str, str] | None:
        return self._credentials.get(host)

    def invalidate(self, host: str) -> None:
        """Static credentials cannot be refreshed."""


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="...",scope="..."`` -> ``("bearer", {...})``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        match.group(1).lower(): match.group(2) if match.group(2) is not None else match.group(3)
        for match in re.finditer(r'([A-Za-z][\w-]*)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', rest)
    }
    return scheme.lower(), params


def basic_header(user: str, password: str) -> str:
    import base64  # noqa: PLC0415 - only Basic auth needs it

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Authenticator:
    """Per-host authorization state shared by every request of one copy (thread-safe)."""

    def __init__(self, credentials: CredentialProvider | None = None, timeout: float = TOKEN_TIMEOUT) -> None:
        self._credentials = credentials
        self._timeout = timeout
        self._lock = threading.Lock()
        self._scheme: dict[str, str] = {}  # host -> "basic" | "bearer"
        self._basic: dict[str, str] = {}
        self._bearer: dict[tuple[str, str], str] = {}  # (host, scope key) -> header

    def header(self, host: str, scope_key: str) -> str | None:
        """The Authorization header to send, or None for anonymous."""
        with self._lock:
            scheme = self._scheme.get(host)
            if scheme == "bearer":
                return self._bearer.get((host, scope_key))
            if scheme == "basic" or scheme is None:
                cached = self._basic.get(host)
                if cached is not None or scheme == "basic":
                    return cached
        if self._credentials is not None and scheme is None:
            creds = self._credentials.get(host)
            if creds is not None:
                value = basic_header(*creds)
                with self._lock:
                    self._basic[host] = value
                return value
        return None

    def challenge(self, host: str, scope_key: str, www_authenticate: str | None, sent: str | None) -> bool:
        """React to a 401 (or an 'expired' 403). True when new credentials are ready to retry with."""
        scheme, params = parse_challenge(www_authenticate or "")
        if scheme == "bearer" and params.get("realm"):
            user_pass = self._fresh_credentials(host, refresh=False)
            try:
                token = self._fetch_token(host, params, user_pass)
            except AuthenticationError:
                if user_pass is None:
                    raise
                # the password may have been rotated (ECR tokens expire): fetch it again, once
                token = self._fetch_token(host, params, self._fresh_credentials(host, refresh=True))
            value = f"Bearer {token}"
            with self._lock:
                self._scheme[host] = "bearer"
                self._bearer[(host, scope_key)] = value
            return value != sent
        # Basic (or no challenge header): refresh the user/password.
        user_pass = self._fresh_credentials(host, refresh=sent is not None)
        if user_pass is None:
            return False
        value = basic_header(*user_pass)
        with self._lock:
            self._scheme[host] = "basic"
            self._basic[host] = value
        return value != sent or sent is None

    def _fresh_credentials(self, host: str, *, refresh: bool) -> tuple[str, str] | None:
        if self._credentials is None:
            return None
        if refresh:
            self._credentials.invalidate(host)
        return self._credentials.get(host)

    def _fetch_token(self, host: str, params: dict[str, str], user_pass: tuple[str, str] | None) -> str:
        import urllib.parse  # noqa: PLC0415 - with ipaddress, a tenth of start-up: paid on use

        realm = urllib.parse.urlsplit(params["realm"])
        query = [(key, params[key]) for key in ("service",) if key in params]
        query += [("scope", scope) for scope in params.get("scope", "").split(" ") if scope]
        path = (realm.path or "/") + "?" + urllib.parse.urlencode(query)
        if realm.query:
            path += "&" + realm.query
        headers = {"Accept": "application/json"}
        if user_pass is not None:
            headers["Authorization"] = basic_header(*user_pass)
        conn = Connection(realm.scheme or "https", realm.netloc, self._timeout)
        try:
            conn.request("GET", path, headers)
            response = conn.get_response("GET")
            body = response.read(1 << 20)
        except OSError as exc:
            raise RegistryUnavailableError(
                f"token endpoint of {host} unreachable: {type(exc).__name__}", host=host
            ) from None
        finally:
            conn.close()
        if response.status != 200:
            raise AuthenticationError(
                f"token endpoint of {host} refused the request (HTTP {response.status})",
                status=response.status,
                host=host,
            )
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise AuthenticationError(f"token endpoint of {host} answered without a token", host=host)
        return token
