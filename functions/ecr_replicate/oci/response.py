"""A registry's answer: headers checked, the body read within a limit and the copy's deadline."""

from __future__ import annotations

import http.client
from typing import TYPE_CHECKING

import urllib3
import urllib3.exceptions

from ecr_replicate.errors import DeadlineExceededError, RegistryProtocolError, ReplicationError
from ecr_replicate.oci.answers import parse_content_length, parse_digest_header
from ecr_replicate.oci.urls import Url

if TYPE_CHECKING:
    from ecr_replicate.oci.transport import Transport

ERROR_BODY_LIMIT = 64 * 1024
IO_ERRORS = (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException, ValueError)


class AnswerTooLargeError(RegistryProtocolError):
    """An answer over the limit its caller set (reported as RegistryProtocolError, or by the
    caller as what the limit is about: an UnsupportedManifestError for a manifest)."""


class Response:
    """An answer; its connection goes back to the pool once the body is read or it is closed."""

    def __init__(self, raw: urllib3.HTTPResponse, url: Url, transport: Transport, what: str) -> None:
        self.raw = raw
        self.url = url
        self.status = raw.status
        self.what = what
        self.data = b""
        self._transport = transport
        self._closed = False

    def header(self, name: str) -> str | None:
        value = self.raw.headers.get(name)
        return None if value is None else str(value)

    @property
    def content_length(self) -> int | None:
        return parse_content_length(self.header("Content-Length"), self.what, self.url.host)

    def digest_header(self) -> str | None:
        """Docker-Content-Digest, validated (a typed error when malformed)."""
        return parse_digest_header(self.header("Docker-Content-Digest"), self.what, self.url.host)

    def read_some(self, amount: int) -> bytes:
        """Up to ``amount`` body bytes (b"" at the end); failures are typed, the deadline honoured."""
        try:
            data = bytes(self.raw.read(amount))
        except IO_ERRORS as exc:
            self.close()
            raise self._transport.failure(exc, self.what, self.url.host) from None
        self._transport.check_deadline(self, self.what)  # a shut-down socket reads as a clean end
        return data

    def read(self, limit: int) -> bytes:
        """The body, which must not be over ``limit`` bytes (a typed error before reading when the
        declared length is, or as soon as more arrives)."""
        declared = self.content_length
        if declared is not None and declared > limit:
            self.close()
            raise AnswerTooLargeError(
                f"{self.what}: an answer of {declared} bytes is over the {limit} bytes limit",
                host=self.url.host,
            )
        parts: list[bytes] = []
        size = 0
        while size <= limit:
            piece = self.read_some(min(1 << 20, limit + 1 - size))
            if not piece:
                break
            parts.append(piece)
            size += len(piece)
        self.close()
        if size > limit:
            raise AnswerTooLargeError(
                f"{self.what}: the answer is over the {limit} bytes limit", host=self.url.host
            )
        return b"".join(parts)

    def error_body(self) -> bytes:
        """What an error answer says, best effort: b"" when it is too long or cannot be read."""
        try:
            return self.read(ERROR_BODY_LIMIT)
        except DeadlineExceededError:
            raise
        except ReplicationError:
            self.close()
            return b""

    def close(self) -> None:
        """Release the connection: kept alive when the body was read to its end, else closed."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self.raw.closed:
                self.raw.close()
        finally:
            self.raw.release_conn()
