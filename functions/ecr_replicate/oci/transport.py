"""HTTP/1.1 transport for the OCI distribution API: pooled connections, per-host limit, auth, retries.

One bounded retry policy lives here (connection errors, 408, 429, 5xx; Retry-After honoured,
exponential backoff with full jitter). Non-retryable answers become typed errors by OCI error
code. Error messages carry no Authorization header and at most a short piece of the body.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from ecr_replicate.errors import (
    AuthenticationError,
    BlobIntegrityError,
    ImageNotFoundError,
    ManifestRejectedError,
    RegistryError,
    RegistryThrottledError,
    RegistryUnavailableError,
    RepositoryNotFoundError,
    TagImmutableError,
)
from ecr_replicate.oci.auth import Authenticator
from ecr_replicate.oci.http11 import Connection
from ecr_replicate.oci.http11 import Response as HTTPResponse
from ecr_replicate.oci.lazy_logging import get_logger
from ecr_replicate.oci.registry_config import HTTPS, RegistryConfig

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    import random

    from ecr_replicate.oci.auth import CredentialProvider

logger = get_logger(__name__)  # logging.getLogger, imported when a record can be emitted

USER_AGENT = "ecr-replicate/0.1"
DEFAULT_TIMEOUT = 60.0
ERROR_BODY_LIMIT = 64 * 1024
MESSAGE_BODY_CHARS = 300
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_CREDENTIAL_PATTERN = r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"  # compiled at first use (errors only)


class RetryPolicy:
    """Bounded exponential backoff with full jitter; Retry-After honoured up to a cap.

    ``attempts`` counts every try (the first one included).
    """

    def __init__(
        self,
        attempts: int = 6,
        *,
        base_delay: float = 0.25,
        max_delay: float = 8.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,  # default: created at the first wait
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        self.rng = rng

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(attempts={self.attempts}, base_delay={self.base_delay}, "
            f"max_delay={self.max_delay}, max_retry_after={self.max_retry_after})"
        )

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(attempt - 1, 0)))
        if self.rng is None:
            import random  # noqa: PLC0415 - only a retry needs it: start-up stays lean

            self.rng = random.Random()  # noqa: S311 - jitter, not a secret
        return self.rng.uniform(0.0, ceiling)

    def wait(self, attempt: int, retry_after: float | None = None) -> None:
        self.sleep(self.delay(attempt, retry_after))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (``"3"``) or an HTTP date; None when absent or unparsable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    import email.utils  # noqa: PLC0415 - rare path; keeps the email package out of start-up

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def scrub(text: str) -> str:
    """Remove anything that looks like a credential, and shorten."""
    text = re.sub(_CREDENTIAL_PATTERN, r"\1 <redacted>", text)
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_BODY_CHARS else text[:MESSAGE_BODY_CHARS] + "..."


def parse_oci_error(body: bytes) -> tuple[str, str]:
    """First ``(code, message)`` of an OCI error body, or ``("", <text>)``."""
    try:
        data = json.loads(body)
        first = data["errors"][0]
        return str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "", body[:MESSAGE_BODY_CHARS].decode("utf-8", "replace")


_CODE_ERRORS: dict[str, type[RegistryError]] = {
    "NAME_UNKNOWN": RepositoryNotFoundError,
    "MANIFEST_UNKNOWN": ImageNotFoundError,
    "BLOB_UNKNOWN": ImageNotFoundError,
    "MANIFEST_INVALID": ManifestRejectedError,
    "MANIFEST_BLOB_UNKNOWN": ManifestRejectedError,
    "UNSUPPORTED": ManifestRejectedError,
    "TAG_INVALID": ManifestRejectedError,
    "BLOB_UPLOAD_INVALID": ManifestRejectedError,
}
_STATUS_ERRORS: dict[int, type[RegistryError]] = {404: ImageNotFoundError, 405: ManifestRejectedError}


def _error_class(status: int, code: str, message: str) -> type[RegistryError] | None:
    """The error class for an answer; None means "the bytes were wrong" (BlobIntegrityError)."""
    if code in ("DIGEST_INVALID", "SIZE_INVALID"):
        return None
    if status == 429 or code == "TOOMANYREQUESTS":
        return RegistryThrottledError
    if status in RETRYABLE_STATUSES or status >= 500:
        return RegistryUnavailableError
    if status in (401, 403):
        return AuthenticationError
    if code == "TAG_INVALID" and "immutable" in message.lower():
        return TagImmutableError
    return _CODE_ERRORS.get(code) or _STATUS_ERRORS.get(status, RegistryError)


def error_from_response(
    status: int, body: bytes, *, host: str, what: str, retry_after: float | None = None
) -> RegistryError | BlobIntegrityError:
    """Map an HTTP error answer to the project's typed error (by OCI error code, then status)."""
    code, message = parse_oci_error(body)
    detail = scrub(
        f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    )
    cls = _error_class(status, code.upper(), message)
    if cls is None:
        return BlobIntegrityError(detail)
    error = cls(detail, status=status, code=code, host=host)
    error.retry_after = retry_after  # type: ignore[attr-defined]
    return error


class HostPool:
    """Idle keep-alive connections to one ``scheme://host`` plus a limit on requests in flight."""

    def __init__(
        self, scheme: str, host: str, limit: int, timeout: float, ca_file: str | None = None
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.timeout = timeout
        self.ca_file = ca_file
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limit)

    def acquire(self, *, fresh: bool = False) -> Connection:
        """A connection (idle keep-alive one unless ``fresh``), holding one request slot."""
        self._slots.acquire()
        if not fresh:
            with self._lock:
                if self._idle:
                    return self._idle.pop()
        try:
            return self._connect()
        except BaseException:
            self._slots.release()
            raise

    def has_idle(self) -> bool:
        with self._lock:
            return bool(self._idle)

    def _connect(self) -> Connection:
        conn = Connection(self.scheme, self.host, self.timeout, self.ca_file)
        conn.connect()
        return conn

    def release(self, conn: Connection, *, reuse: bool) -> None:
        if reuse and conn.sock is not None:
            with self._lock:
                self._idle.append(conn)
        else:
            conn.close()
        self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class Response:
    """An answer whose connection goes back to the pool once the body is read or closed."""

    def __init__(self, pool: HostPool, conn: Connection, raw: HTTPResponse) -> None:
        self.pool = pool
        self.conn = conn
        self.raw = raw
        self.status = raw.status
        self.data = b""
        self._released = False

    def header(self, name: str) -> str | None:
        return self.raw.getheader(name)

    @property
    def content_length(self) -> int | None:
        value = self.header("Content-Length")
        return int(value) if value is not None and value.strip().isdigit() else None

    def read(self, limit: int | None = None) -> bytes:
        try:
            data = self.raw.read() if limit is None else self.raw.read(limit)
        except OSError:
            self.close(reuse=False)
            raise
        if limit is not None and not self.raw.isclosed():
            self.close(reuse=False)
        else:
            self.close(reuse=True)
        return data

    def close(self, *, reuse: bool = False) -> None:
        if self._released:
            return
        self._released = True
        if reuse and not self.raw.isclosed() and self.raw.length == 0 and not self.raw.chunked:
            self.raw.read()  # nothing left (HEAD, 204, empty body): marks the exchange complete
        reusable = reuse and self.raw.isclosed() and not self.raw.will_close
        if not self.raw.isclosed():
            self.raw.close()
        self.pool.release(self.conn, reuse=reusable)


class Transport:
    """Requests to registries, shared by all threads of one copy."""

    def __init__(
        self,
        *,
        credentials: CredentialProvider | None = None,
        registries: Mapping[str, RegistryConfig] | None = None,
        retry: RetryPolicy | None = None,
        per_host_limit: int = 16,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """``registries``: host -> RegistryConfig; any other host is reached over https."""
        self.auth = Authenticator(credentials)
        self.registries = {host: config.check(host) for host, config in (registries or {}).items()}
        self.retry = retry or RetryPolicy()
        self.per_host_limit = per_host_limit
        self.timeout = timeout
        self._pools: dict[tuple[str, str], HostPool] = {}
        self._lock = threading.Lock()

    def config(self, host: str) -> RegistryConfig:
        return self.registries.get(host, HTTPS)

    def scheme(self, host: str) -> str:
        return self.config(host).scheme

    def pool(self, host: str, scheme: str | None = None, inherit: str | None = None) -> HostPool:
        """``inherit``: the CA file of the registry that redirected here, trusted for a host with
        no configuration of its own (as ``curl --cacert`` trusts it for the whole transfer)."""
        key = (scheme or self.scheme(host), host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                own = self.registries.get(host)
                ca_file = None
                if key[0] == "https":
                    ca_file = own.ca_file if own is not None else inherit
                pool = HostPool(key[0], host, self.per_host_limit, self.timeout, ca_file)
                self._pools[key] = pool
            return pool

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()

    # -- one exchange ------------------------------------------------------------------------

    def send_once(
        self,
        method: str,
        pool: HostPool,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None = None,
    ) -> Response:
        """One request on a pooled connection (a stale keep-alive connection is retried once)."""
        for fresh in (False, True):
            reused = not fresh and pool.has_idle()
            try:
                conn = pool.acquire(fresh=fresh)
            except OSError:
                if reused:
                    continue
                raise
            try:
                conn.request(method, path, dict(headers), body)
                raw = conn.get_response(method)
            except OSError:
                pool.release(conn, reuse=False)
                if reused and not fresh:
                    continue  # the server closed an idle connection: try on a new one
                raise
            return Response(pool, conn, raw)
        raise AssertionError("unreachable")

    def request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        ok: Iterable[int] = (200,),
        what: str = "",
        retry: bool = True,
        read: int | None = None,
    ) -> Response:
        """Send with auth and retries; return the answer when its status is in ``ok``.

        ``scope`` names the authorization scope (``"<repository>:pull"`` / ``":push"``). The
        caller reads or closes the returned response, unless ``read`` is given: then up to
        ``read`` body bytes are read (inside the retry loop) into ``response.data``. Redirects
        of GET/HEAD are followed, to other hosts without credentials.
        """
        accepted = frozenset(ok)
        label = what or f"{method} {host}{path.split('?', 1)[0]}"
        pool, target_path, external = self.pool(host), path, False
        attempt = redirects = 0
        reauthenticated = False
        while True:
            attempt += 1
            sent = None if external else self.auth.header(host, scope)
            retry_after: float | None = None
            try:
                response = self.send_once(method, pool, target_path, self._headers(headers, sent), body)
                if response.status in accepted:
                    return self._complete(response, method, read)
            except OSError as exc:
                error: RegistryError | BlobIntegrityError = RegistryUnavailableError(
                    f"{label}: {type(exc).__name__}: {scrub(str(exc))}", host=pool.host
                )
            else:
                status = response.status
                if status in REDIRECT_STATUSES and method in ("GET", "HEAD") and redirects < MAX_REDIRECTS:
                    redirects += 1
                    attempt -= 1
                    location = response.header("Location") or ""
                    response.read(ERROR_BODY_LIMIT)
                    pool, target_path, external = self._redirect(pool, location, external)
                    continue
                error_body = b"" if method == "HEAD" else response.read(ERROR_BODY_LIMIT)
                response.close(reuse=True)
                auth_failed = status == 401 or (status == 403 and b"expired" in error_body.lower())
                if (
                    auth_failed
                    and not external
                    and not reauthenticated
                    and self.auth.challenge(host, scope, response.header("WWW-Authenticate"), sent)
                ):
                    reauthenticated = True
                    attempt -= 1
                    continue
                retry_after = parse_retry_after(response.header("Retry-After"))
                error = error_from_response(
                    status, error_body, host=pool.host, what=label, retry_after=retry_after
                )
            if retry and error.retryable and attempt < self.retry.attempts:
                logger.debug("%s: %s, retrying (attempt %d)", label, type(error).__name__, attempt)
                self.retry.wait(attempt, retry_after)
                continue
            raise error

    @staticmethod
    def _headers(extra: Mapping[str, str] | None, authorization: str | None) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, **(extra or {})}
        if authorization:
            headers["Authorization"] = authorization
        return headers

    @staticmethod
    def _complete(response: Response, method: str, read: int | None) -> Response:
        """An accepted answer: HEADs are closed, ``read`` bodies read (errors propagate to retry)."""
        if method == "HEAD":
            response.close(reuse=True)
        elif read is not None:
            response.data = response.read(read)
        return response

    def _redirect(self, pool: HostPool, location: str, external: bool) -> tuple[HostPool, str, bool]:
        import urllib.parse  # noqa: PLC0415 - with ipaddress, a tenth of start-up: paid on use

        url = urllib.parse.urlsplit(location)
        if not url.netloc:
            return pool, location, external
        path = url.path + (f"?{url.query}" if url.query else "")
        if url.netloc == pool.host and url.scheme == pool.scheme:
            return pool, path, external
        return self.pool(url.netloc, url.scheme or "https", inherit=pool.ca_file), path, True

    def resolve_location(self, host: str, location: str) -> tuple[HostPool, str]:
        """An upload Location (absolute or relative) -> the pool and path to send to."""
        import urllib.parse  # noqa: PLC0415 - with ipaddress, a tenth of start-up: paid on use

        url = urllib.parse.urlsplit(location)
        path = url.path + (f"?{url.query}" if url.query else "")
        if not url.netloc or url.netloc == host:
            return self.pool(host), path
        return self.pool(url.netloc, url.scheme or self.scheme(url.netloc)), path
