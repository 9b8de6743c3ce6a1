"""Requests to registries: one path for every call, over urllib3, with auth, redirects and retries.

:meth:`Transport.request` is the only way the copier talks to a registry (blob streams, token
endpoints and upload sessions included). Per request it:

- resolves the target (a path built from validated parts, or a URL a registry named) and checks it;
- sends credentials only to the registry's own scheme, host and port (never with a Location or a
  redirect that leads elsewhere), re-authenticating once on a 401 or an "expired" 403;
- follows redirects of GET/HEAD (at most MAX_REDIRECTS), each hop checked the same way;
- maps every failure to a typed error (``answers``), and honours the copy's :class:`Deadline`.

Retries: ONE bounded policy, applied at one level and never nested (see :class:`RetryPolicy`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from urllib3.util import Timeout

from ecr_replicate.errors import (
    BlobIntegrityError,
    RegistryProtocolError,
    RegistryUnavailableError,
    ReplicationError,
)
from ecr_replicate.oci.answers import (
    REDIRECT_STATUSES,
    error_from_exception,
    error_from_response,
    parse_retry_after,
)
from ecr_replicate.oci.auth import Authenticator, CredentialProvider
from ecr_replicate.oci.connections import Pools, SocketWatch
from ecr_replicate.oci.deadline import Deadline
from ecr_replicate.oci.registry_config import HTTPS, RegistryConfig, is_https_only
from ecr_replicate.oci.response import ERROR_BODY_LIMIT, IO_ERRORS, AnswerTooLargeError, Response
from ecr_replicate.oci.retry_policy import ONCE, RetryPolicy
from ecr_replicate.oci.urls import Url, origin, resolve

USER_AGENT = "ecr-replicate/0.1"
READ_TIMEOUT = 60.0
CONNECT_TIMEOUT = 15.0
POOL_WAIT = 3600.0
MAX_REDIRECTS = 5


@dataclass
class _Call:
    """What one request() sends, whatever the attempt or redirect."""

    method: str
    registry: str
    scope: str
    what: str
    body: bytes | Iterable[bytes] | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def resendable(self) -> bool:
        return self.body is None or isinstance(self.body, bytes)


class Transport:
    """Requests to registries, shared by all threads of one copy."""

    def __init__(
        self,
        *,
        credentials: CredentialProvider | None = None,
        registries: Mapping[str, RegistryConfig] | None = None,
        retry: RetryPolicy | None = None,
        per_host_limit: int = 16,
        timeout: float = READ_TIMEOUT,
        deadline: Deadline | None = None,
    ) -> None:
        """``registries``: host -> RegistryConfig; any other host is reached over https."""
        self.auth = Authenticator(credentials)
        self.registries = {host: config.check(host) for host, config in (registries or {}).items()}
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.deadline = deadline or Deadline(None)
        self.pools = Pools(SocketWatch(self.deadline), per_host_limit=per_host_limit)
        self._lock = threading.Lock()

    def config(self, host: str) -> RegistryConfig:
        return self.registries.get(host, HTTPS)

    def scheme(self, host: str) -> str:
        return self.config(host).scheme

    def close(self) -> None:
        self.pools.close()

    def abort(self) -> None:
        """The copy was interrupted: its budget ends now and every socket in use is shut down, so
        each thread's blocked read or write returns at once and no request or retry follows."""
        self.deadline.cancel()
        self.pools.watch.fire()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- where and with what ---------------------------------------------------------------------

    def url(self, registry: str, target: str, what: str = "request") -> Url:
        """``target`` (a path, or a URL the registry named) on ``registry``, checked."""
        return resolve(Url(self.scheme(registry), registry, "/"), target, what)

    def is_registry(self, url: Url, registry: str) -> bool:
        """True when ``url`` is on the registry's own scheme, host and port (credentials may go)."""
        return url.origin == origin(self.scheme(registry), registry)

    def failure(self, exc: BaseException, what: str, host: str) -> ReplicationError:
        """A transport exception as a typed error (the deadline's, once it has run out)."""
        if self.deadline.expired:
            return self.deadline.error(what)
        return error_from_exception(exc, what=what, host=host)

    def wait(self, policy: RetryPolicy, attempt: int, retry_after: float | None, what: str) -> None:
        self.deadline.sleep(policy.delay(attempt, retry_after), what, policy.sleep)

    # -- one exchange --------------------------------------------------------------------------

    def _exchange(  # noqa: PLR0917 - one exchange is these six things
        self,
        method: str,
        url: Url,
        registry: str,
        headers: Mapping[str, str],
        body: bytes | Iterable[bytes] | None,
        what: str,
    ) -> Response:
        self.deadline.check(what)
        if url.scheme == "http" and is_https_only(url.host):
            raise RegistryProtocolError(
                f"{what}: plain http to {url.host} refused (https only)", host=url.host
            )
        known = self.registries.get(url.host)
        ca_file = (known or self.config(registry)).ca_file
        pool = self.pools.get(url.scheme, url.host, ca_file)
        timeout = Timeout(connect=self.deadline.cap(CONNECT_TIMEOUT), read=self.deadline.cap(self.timeout))
        try:
            raw = pool.urlopen(  # type: ignore[no-untyped-call]
                method,
                url.target,
                body=body,
                headers=dict(headers),
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=timeout,
                pool_timeout=self.deadline.cap(POOL_WAIT),
                release_conn=False,
                preload_content=False,
                decode_content=False,
                enforce_content_length=True,
                chunked=False,
            )
        except IO_ERRORS as exc:
            raise self.failure(exc, what, url.host) from None
        response = Response(raw, url, self, what)
        self.check_deadline(response, what)
        return response

    def check_deadline(self, response: Response, what: str) -> None:
        """Once the deadline has shut the sockets down, what they gave may be cut short: refuse it."""
        if self.deadline.expired:
            response.close()
            raise self.deadline.error(what)

    def fetch_token(self, registry: str) -> Callable[[Url, dict[str, str]], bytes]:
        """The token endpoint GET for ``registry``'s challenges (one exchange, typed errors)."""

        def fetch(url: Url, headers: dict[str, str]) -> bytes:
            what = f"token for {registry}"
            response = self._exchange("GET", url, registry, {"User-Agent": USER_AGENT, **headers}, None, what)
            if response.status != 200:
                body = response.error_body()
                raise error_from_response(
                    response.status, body, host=url.host, what=what, secrets=self.auth.secrets(registry)
                )
            return response.read(ERROR_BODY_LIMIT * 16)

        return fetch

    # -- a request -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        registry: str,
        target: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        ok: Iterable[int] = (200,),
        what: str = "",
        retry: bool = True,
        read: int | None = None,
        retry_integrity: bool = False,
    ) -> Response:
        """Send with auth and retries; return the answer when its status is in ``ok``.

        ``registry`` is the registry the request is for (its scheme, credentials and CA);
        ``target`` a path on it or a URL it named. ``scope`` is the token scope
        (``repository:<name>:pull`` ...). A body that is not ``bytes`` is a stream: sent once,
        never retried or redirected here (``retry`` must be False; the caller's loop retries).
        The caller reads or closes the answer, unless ``read`` is given: then the body (at most
        ``read`` bytes) is read inside the retry loop into ``response.data``. ``retry_integrity``
        retries a DIGEST_INVALID answer (a manifest PUT racing another writer).
        """
        call = _Call(method, registry, scope, what or f"{method} {registry}", body)
        if not call.resendable and retry:
            raise ValueError("a streamed body is sent once: the caller retries it")
        policy = self.retry if retry else ONCE
        url = self.url(registry, target, call.what)
        call.headers = {"User-Agent": USER_AGENT, **(headers or {})}
        accepted = frozenset(ok)
        attempt = redirects = 0
        reauthenticated = False
        while True:
            attempt += 1
            try:
                response, sent = self._send(call, url)
                if response.status in accepted:
                    return self._complete(response, method, read)
                if response.status in REDIRECT_STATUSES and method in ("GET", "HEAD"):
                    redirects += 1
                    url = self._redirect(call, response, url, redirects)
                    attempt -= 1
                    continue
                error_body = b"" if method == "HEAD" else response.error_body()
                response.close()
                if not reauthenticated and self._reauthenticate(call, response, url, sent, error_body):
                    reauthenticated = True
                    attempt -= 1
                    continue
                error = self._refusal(call, response, url, error_body, retry_integrity)
            except RegistryUnavailableError as exc:
                error = exc
            if error.retryable and attempt < policy.attempts:
                self.wait(policy, attempt, getattr(error, "retry_after", None), call.what)
                continue
            raise error

    def _send(self, call: _Call, url: Url) -> tuple[Response, str | None]:
        """One exchange; credentials only when ``url`` is the registry's own origin."""
        own = self.is_registry(url, call.registry)
        sent = self.auth.header(call.registry, self.scheme(call.registry), call.scope) if own else None
        headers = {**call.headers, "Authorization": sent} if sent else call.headers
        return self._exchange(call.method, url, call.registry, headers, call.body, call.what), sent

    @staticmethod
    def _redirect(call: _Call, response: Response, url: Url, redirects: int) -> Url:
        location = response.header("Location")
        response.close()
        if redirects > MAX_REDIRECTS:
            raise RegistryProtocolError(
                f"{call.what}: more than {MAX_REDIRECTS} redirects", status=response.status
            )
        return resolve(url, location, f"{call.what}: redirect")

    def _reauthenticate(
        self, call: _Call, response: Response, url: Url, sent: str | None, body: bytes
    ) -> bool:
        """After a 401 (or a 403 saying the token expired) from the registry itself: True when
        fresh credentials are ready and the request can be sent again as it is."""
        expired = response.status == 403 and b"expired" in body.lower()
        if not (response.status == 401 or expired) or not self.is_registry(url, call.registry):
            return False
        renewed = self.auth.challenge(
            call.registry,
            self.scheme(call.registry),
            call.scope,
            response.header("WWW-Authenticate"),
            sent,
            fetch=self.fetch_token(call.registry),
        )
        if renewed and not call.resendable:
            raise RegistryUnavailableError(
                f"{call.what}: credentials renewed; the streamed request is sent again",
                status=response.status,
            )
        return renewed

    def _refusal(
        self, call: _Call, response: Response, url: Url, body: bytes, retry_integrity: bool
    ) -> ReplicationError:
        """The error an answer means; the credentials sent to the registry are redacted from it."""
        error = error_from_response(
            response.status,
            body,
            host=url.host,
            what=call.what,
            retry_after=parse_retry_after(response.header("Retry-After")),
            secrets=self.auth.secrets(call.registry),
        )
        if retry_integrity and isinstance(error, BlobIntegrityError):
            return RegistryUnavailableError(str(error), status=response.status, host=url.host)
        return error

    @staticmethod
    def _complete(response: Response, method: str, read: int | None) -> Response:
        """An accepted answer: HEADs are released, ``read`` bodies read (errors go to the retry)."""
        try:
            if method == "HEAD":
                response.read_some(1)  # no body: marks the exchange complete, keeps the connection
                response.close()
            elif read is not None:
                response.data = response.read(read)
        except BaseException:
            response.close()
            raise
        return response


__all__ = [  # what callers of the transport use, wherever it is defined
    "ERROR_BODY_LIMIT",
    "AnswerTooLargeError",
    "Response",
    "RetryPolicy",
    "Transport",
]
