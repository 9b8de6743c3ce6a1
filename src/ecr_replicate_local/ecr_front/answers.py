"""The answers the front and its S3 host give, worded as ECR and S3 word them.

Each builder returns an :class:`Answer` (status, headers, body). Messages follow the public
record (docs/ecr-front.md cites a source for each); none of them ever carries a token, an
``Authorization`` value or a signature.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from xml.sax.saxutils import escape

API_VERSION_HEADER = ("Docker-Distribution-Api-Version", "registry/2.0")
JSON_TYPE = "application/json; charset=utf-8"

Headers = list[tuple[str, str]]


@dataclass
class Answer:
    """A complete (small) answer, or the head of a streamed one (``stream`` set)."""

    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    stream: Iterable[bytes] | None = None
    reason: str = ""  # why, for the journal (never a secret)

    @property
    def status_line(self) -> str:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Unknown"
        return f"{self.status} {phrase}"

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)


def oci_error(status: int, code: str, message: str, extra: Sequence[tuple[str, str]] = ()) -> Answer:
    """An OCI distribution error body: ``{"errors": [{"code": ..., "message": ...}]}``."""
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode() + b"\n"
    headers = [("Content-Type", JSON_TYPE), ("Content-Length", str(len(body))), API_VERSION_HEADER]
    return Answer(status, [*headers, *extra], body, reason=f"{code}: {message}")


def not_authorized(realm: str) -> Answer:
    """401 as ECR sends it: a Basic challenge and the plain-text body ``Not Authorized``."""
    body = b"Not Authorized\n"
    challenge = f'Basic realm="{realm}",service="ecr.amazonaws.com"'
    return Answer(
        401,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("WWW-Authenticate", challenge),
            API_VERSION_HEADER,
        ],
        body,
        reason="missing, malformed or unknown registry token",
    )


def token_expired() -> Answer:
    return oci_error(403, "DENIED", "Your authorization token has expired. Reauthenticate and try again.")


def access_denied(principal: str, action: str, resource: str, because: str) -> Answer:
    because = because or f"no identity-based policy allows the {action} action"
    message = (
        f"User: {principal} is not authorized to perform: {action} on resource: {resource} because {because}"
    )
    return oci_error(403, "DENIED", message)


def name_unknown(repository: str, account: str) -> Answer:
    return oci_error(
        404,
        "NAME_UNKNOWN",
        f"The repository with name '{repository}' does not exist in the registry with id '{account}'",
    )


def tag_immutable(tag: str, repository: str) -> Answer:
    return oci_error(
        400,
        "TAG_INVALID",
        f"The image tag '{tag}' already exists in the '{repository}' repository and cannot be "
        "overwritten because the repository is immutable.",
    )


def invalid_parameter(parameter: str, constraint: str) -> Answer:
    """ECR's answer to a request that fails its API validation (405 ``UNSUPPORTED``)."""
    return oci_error(
        405, "UNSUPPORTED", f"Invalid parameter at '{parameter}' failed to satisfy constraint: '{constraint}'"
    )


def unsupported() -> Answer:
    return oci_error(405, "UNSUPPORTED", "The operation is unsupported.")


def not_found() -> Answer:
    return oci_error(404, "NOT_FOUND", "The requested resource was not found.")


def throttled(retry_after: int) -> Answer:
    return oci_error(429, "TOOMANYREQUESTS", "Rate exceeded", [("Retry-After", str(retry_after))])


def server_error() -> Answer:
    return oci_error(500, "UNKNOWN", "An internal error occurred in the local ECR front.")


def json_answer(
    status: int, document: object, content_type: str = JSON_TYPE, extra: Sequence[tuple[str, str]] = ()
) -> Answer:
    body = json.dumps(document).encode()
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), API_VERSION_HEADER]
    return Answer(status, [*headers, *extra], body)


# --- S3 ------------------------------------------------------------------------------------


def s3_error(status: int, code: str, message: str, **fields: str) -> Answer:
    """S3's XML error document. ``fields`` add elements (``ArgumentName``...) after Message."""
    request_id = secrets.token_hex(8).upper()
    parts = [f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    parts += [f"<{name}>{escape(value)}</{name}>" for name, value in fields.items()]
    parts += [f"<RequestId>{request_id}</RequestId>", f"<HostId>{secrets.token_hex(24)}</HostId>"]
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()
    headers = [
        ("Content-Type", "application/xml"),
        ("Content-Length", str(len(body))),
        ("x-amz-request-id", request_id),
        ("Date", formatdate(usegmt=True)),
        ("Server", "AmazonS3"),
    ]
    return Answer(status, headers, body, reason=f"{code}: {message}")


def s3_two_auth_mechanisms() -> Answer:
    # S3 also echoes the Authorization value as <ArgumentValue>; we never echo a credential.
    return s3_error(
        400,
        "InvalidArgument",
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
        "string parameter or the Authorization header should be specified",
        ArgumentName="Authorization",
    )
