"""The plain-http docker-registry behind a front, and the streaming between it and clients.

Bodies pass through in 1 MiB pieces, never whole: a request body is read from the client's
stream and sent on as it comes; an answer body is handed to the WSGI server as an iterable over
the upstream response. Only the headers the registry protocol needs cross, in either direction
(never ``Authorization``: credentials go only to the host they belong to).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import IO, Any

import urllib3

from ecr_replicate_local.ecr_front.answers import API_VERSION_HEADER, Answer, Headers

logger = logging.getLogger(__name__)

CHUNK = 4 << 20  # large pieces: fewer Python-level calls per GiB (1 MiB pieces measured slower on GETs)
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0

FORWARDED_REQUEST_HEADERS = ("Accept", "Content-Type", "Content-Range", "Range")
FORWARDED_ANSWER_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "content-range",
        "accept-ranges",
        "docker-content-digest",
        "docker-upload-uuid",
        "location",
        "range",
        "etag",
        "oci-subject",
        "oci-filters-applied",
    }
)


class UpstreamUnavailable(Exception):  # noqa: N818 - mirrors the 503 it becomes
    """The region's registry did not answer (stopped, refused, timed out)."""


class ClientGone(Exception):  # noqa: N818
    """The client closed its connection before sending the whole body it announced."""


def request_body(stream: IO[bytes], length: int | None) -> Iterator[bytes]:
    """The client's body in pieces: exactly ``length`` bytes, or up to EOF (chunked)."""
    if length is None:
        while data := stream.read(CHUNK):
            yield data
        return
    remaining = length
    while remaining > 0:
        data = stream.read(min(remaining, CHUNK))
        if not data:
            raise ClientGone(f"client sent {length - remaining} of {length} bytes")
        remaining -= len(data)
        yield data


class StreamedBody:
    """An upstream answer's body as a WSGI iterable; ``close()`` frees the connection.

    A connection whose answer was read to the end goes back to the pool; one abandoned midway
    (the client left) is closed, so no later request reads its leftovers.
    """

    def __init__(self, response: urllib3.HTTPResponse) -> None:
        self._response = response
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self._response.stream(CHUNK, decode_content=False)
        self._finished = True

    def close(self) -> None:
        if not self._finished:
            self._response.close()
        self._response.release_conn()


class Upstream:
    """A connection pool to one ``127.0.0.1:PORT`` docker-registry (plain http)."""

    def __init__(self, host: str) -> None:
        hostname, _, port = host.rpartition(":")
        if not hostname or not port.isdigit():
            raise ValueError(f"upstream registry must be host:port, not {host!r}")
        self.host = host
        self._address = (hostname, int(port))
        self._pool = self._new_pool()

    def _new_pool(self) -> urllib3.HTTPConnectionPool:
        return urllib3.HTTPConnectionPool(
            *self._address,
            maxsize=32,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | Iterator[bytes] | None = None,
        *,
        chunked: bool = False,
    ) -> urllib3.HTTPResponse:
        """Send one request; the answer's body is left unread (see :func:`answer_from`)."""
        try:
            return self._pool.urlopen(
                method,
                path,
                body=body,
                headers=dict(headers or {}),
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
                chunked=chunked,
            )
        except ClientGone:
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise UpstreamUnavailable(f"{method} to the registry failed: {type(exc).__name__}") from exc

    def read(
        self, method: str, path: str, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes, Any]:
        """A small answer, read whole: (status, body, headers)."""
        response = self.request(method, path, headers)
        try:
            data = response.read(decode_content=False) if method != "HEAD" else b""
            return response.status, data, response.headers
        finally:
            response.release_conn()

    def close(self) -> None:
        """Close the idle connections (the object stays usable: a new pool takes over)."""
        old, self._pool = self._pool, self._new_pool()
        old.close()


def forward_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The client's request headers the registry needs (none that carry credentials)."""
    headers: dict[str, str] = {}
    for name in FORWARDED_REQUEST_HEADERS:
        key = "CONTENT_TYPE" if name == "Content-Type" else "HTTP_" + name.upper().replace("-", "_")
        value = environ.get(key)
        if value:
            headers[name] = value
    return headers


def answer_from(
    response: urllib3.HTTPResponse,
    *,
    location: Any = None,
    status: int | None = None,
    replace: Mapping[str, str] | None = None,
    whole: bool = False,
) -> Answer:
    """An :class:`Answer` relaying ``response``: allowed headers (``Location`` through
    ``location(value)``, ``replace`` overriding), the body streamed or, with ``whole``, read."""
    headers: Headers = [API_VERSION_HEADER]
    replace = {key.lower(): value for key, value in (replace or {}).items()}
    for key, value in response.headers.items():
        lowered = key.lower()
        if lowered not in FORWARDED_ANSWER_HEADERS or lowered in replace:
            continue
        headers.append((key, location(value) if lowered == "location" and location is not None else value))
    headers += [(key, value) for key, value in replace.items()]
    if whole:
        try:
            body = response.read(decode_content=False)
        finally:
            response.release_conn()
        return Answer(status or response.status, headers, body)
    return Answer(status or response.status, headers, stream=StreamedBody(response))


def discard(response: urllib3.HTTPResponse) -> None:
    with contextlib.suppress(Exception):
        response.close()
        response.release_conn()
