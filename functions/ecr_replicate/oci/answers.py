"""What a registry answered, as the project's typed errors; the header values the copier reads.

Every value is parsed strictly (``Content-Length: ²`` is not a number, ``Retry-After: ²`` is not
a delay) and every failure is a typed error. Messages carry no Authorization header and at most a
short, scrubbed piece of the body, its terminal control characters escaped (``text.printable``).
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import re
import ssl
import time
import urllib.parse
from collections.abc import Collection
from typing import Any

import urllib3.exceptions
from urllib3.util.ssl_match_hostname import CertificateError as HostnameMismatch

from ecr_replicate.errors import (
    AuthenticationError,
    BlobIntegrityError,
    ImageNotFoundError,
    ManifestRejectedError,
    RegistryError,
    RegistryProtocolError,
    RegistryThrottledError,
    RegistryTlsError,
    RegistryUnavailableError,
    RepositoryNotFoundError,
    TagImmutableError,
)
from ecr_replicate.oci.reference import is_digest
from ecr_replicate.oci.text import printable

MESSAGE_BODY_CHARS = 300
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_RE = re.compile(r"(?i)\b(bearer|basic)[ \t]+[A-Za-z0-9._~+/=-]{1,4096}")
_SCRUB_INPUT = 4 * MESSAGE_BODY_CHARS
_REDACT_INPUT = 64 * 1024  # an error body's limit (response.ERROR_BODY_LIMIT)
MIN_SECRET = 4  # shorter values are not searched for: they would erase ordinary words
REDACTED = "<redacted>"


def scrub(text: str, secrets: Collection[str] = ()) -> str:
    """Remove ``secrets`` (as sent, base64'd or URL-encoded, also cut short at the end) and anything
    that looks like a credential, escape control characters (a terminal must not act on a
    registry's text), collapse spaces, and shorten."""
    text = redact(text[:_REDACT_INPUT], secrets)
    text = _CREDENTIAL_RE.sub(r"\1 <redacted>", text[:_SCRUB_INPUT])
    text = " ".join(printable(text).split())
    return text if len(text) <= MESSAGE_BODY_CHARS else text[:MESSAGE_BODY_CHARS] + "..."


def secret_forms(secret: str) -> set[str]:
    """How a registry may echo ``secret``: as sent, URL-encoded, base64'd, without ``=`` padding."""
    encoded = base64.b64encode(secret.encode()).decode("ascii")
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret), encoded}
    forms |= {form.rstrip("=") for form in forms}
    return {form for form in forms if len(form) >= MIN_SECRET}


def redact(text: str, secrets: Collection[str]) -> str:
    """``text`` without any form of ``secrets``; a secret's beginning that ends ``text`` (a body cut
    at its size limit) goes too."""
    forms = sorted({form for secret in secrets for form in secret_forms(secret)}, key=len, reverse=True)
    for form in forms:
        text = text.replace(form, REDACTED)
    for form in forms:
        text = _cut_tail(text, form)
    return text


def _cut_tail(text: str, form: str) -> str:
    head = form[:MIN_SECRET]
    at = text.find(head, max(0, len(text) - len(form) + 1))
    while at != -1:
        if form.startswith(text[at:]):
            return text[:at] + REDACTED
        at = text.find(head, at + 1)
    return text


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (``"3"``) or an HTTP date; None when absent or not understood."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if text.isascii() and text.isdigit():
        return float(min(int(text), 10**9))
    try:
        when = email.utils.parsedate_to_datetime(text)
        seconds = when.timestamp() - (time.time() if now is None else now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, seconds)


def parse_content_length(value: str | None, what: str, host: str = "") -> int | None:
    """Content-Length as an int; None when absent; a typed error when it is not ASCII digits."""
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise RegistryProtocolError(f"{what}: malformed Content-Length {text[:40]!r}", host=host)
    return int(text)


def parse_digest_header(value: str | None, what: str, host: str = "") -> str | None:
    """Docker-Content-Digest as a valid digest; None when absent; a typed error when malformed."""
    if value is None:
        return None
    text = value.strip()
    if not is_digest(text):
        raise RegistryProtocolError(f"{what}: malformed Docker-Content-Digest {text[:80]!r}", host=host)
    return text


def parse_oci_error(body: bytes) -> tuple[str, str]:
    """First ``(code, message)`` of an OCI error body, or ``("", <text>)``."""
    try:
        data: Any = json.loads(body)
        first = data["errors"][0]
        code, message = first.get("code", ""), first.get("message", "")
        code = printable(code)[:64] if isinstance(code, str) else ""
        return code, (message if isinstance(message, str) else "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError):
        return "", body[:_SCRUB_INPUT].decode("utf-8", "replace")


_CODE_ERRORS: dict[str, type[RegistryError]] = {
    "NAME_UNKNOWN": RepositoryNotFoundError,
    "MANIFEST_UNKNOWN": ImageNotFoundError,
    "BLOB_UNKNOWN": ImageNotFoundError,
    "MANIFEST_INVALID": ManifestRejectedError,
    "MANIFEST_BLOB_UNKNOWN": ManifestRejectedError,
    "UNSUPPORTED": ManifestRejectedError,
    "TAG_INVALID": ManifestRejectedError,
    "BLOB_UPLOAD_INVALID": ManifestRejectedError,
    "BLOB_UPLOAD_UNKNOWN": RegistryUnavailableError,  # the session expired or was lost: start anew
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
    status: int,
    body: bytes,
    *,
    host: str,
    what: str,
    retry_after: float | None = None,
    secrets: Collection[str] = (),
) -> RegistryError | BlobIntegrityError:
    """Map an HTTP error answer to the project's typed error (by OCI error code, then status).
    ``secrets``: the credentials sent to that registry, redacted wherever its answer echoes them."""
    code, message = parse_oci_error(body)
    code = redact(code, secrets)
    detail = scrub(
        f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else ""),
        secrets,
    )
    cls = _error_class(status, code.upper(), message)
    if cls is None:
        return BlobIntegrityError(detail)
    error = cls(detail, status=status, code=code, host=host)
    error.retry_after = retry_after  # type: ignore[attr-defined]
    return error


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (urllib3 keeps the original in ``reason`` or ``args``)."""
    seen: list[BaseException] = []
    stack: list[object] = [exc]
    while stack and len(seen) < 8:
        item = stack.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        stack += [getattr(item, "reason", None), item.__cause__, item.__context__, *item.args]
    return seen


def _tls_is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, ssl.SSLCertVerificationError | ssl.CertificateError | HostnameMismatch):
        return True
    reason = getattr(exc, "reason", None)
    return isinstance(exc, ssl.SSLError) and reason in (
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
    )


_FRAMING = (
    http.client.LineTooLong,
    http.client.BadStatusLine,
    http.client.UnknownProtocol,
    urllib3.exceptions.LocationParseError,
    urllib3.exceptions.InvalidHeader,
    ValueError,  # http.client's chunk sizes and header values
)


def error_from_exception(exc: BaseException, *, what: str, host: str) -> RegistryError:
    """A transport failure (no usable answer) as a typed error: TLS that cannot verify and broken
    HTTP framing are permanent; connection errors, timeouts and cut-off bodies are transient."""
    causes = _causes(exc)
    detail = scrub(f"{what}: {type(causes[-1]).__name__}: {causes[-1]}")
    if any(_tls_is_permanent(cause) for cause in causes):
        return RegistryTlsError(f"{what}: TLS failed: {scrub(str(causes[-1]))}", host=host)
    broken = any(isinstance(cause, _FRAMING) for cause in causes) or any(
        isinstance(cause, http.client.HTTPException) and "got more than" in str(cause) for cause in causes
    )
    if broken and not any(isinstance(cause, http.client.RemoteDisconnected) for cause in causes):
        return RegistryProtocolError(f"{what}: the answer broke HTTP framing: {detail}", host=host)
    return RegistryUnavailableError(detail, host=host)
