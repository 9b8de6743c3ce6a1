"""Blob calls: HEAD, mount, and the streaming copy (GET -> one PATCH -> PUT ``?digest=``).

Bytes flow from the source answer to the target request in pieces of CHUNK bytes, never to disk,
both through urllib3 (which frames the request and the response). Each piece is hashed as it
passes: the last piece is sent only once the whole blob has hashed to its digest and the source
has nothing more, so a source that lies (other bytes, more or fewer) makes the PATCH end short,
the upload session is cancelled and nothing is committed, whatever the target checks
(BlobIntegrityError). The stored digest the target answers with is checked as well.

Retries are per blob (see RetryPolicy): one attempt is one upload session, each of its requests
sent once; a transient failure starts the blob again, within the policy's attempts.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ecr_replicate.errors import BlobIntegrityError, RegistryProtocolError, ReplicationError
from ecr_replicate.oci.manifest_calls import pull_scope, push_scope
from ecr_replicate.oci.manifests import Descriptor, hasher
from ecr_replicate.oci.reference import Reference, validate_digest
from ecr_replicate.oci.response import ERROR_BODY_LIMIT, Response
from ecr_replicate.oci.transport import Transport

logger = logging.getLogger(__name__)

CHUNK = 1 << 20

BlobEvent = Callable[[str, Descriptor, int], None]
"""``(event, descriptor, bytes)``: started, progress (bytes = delta), done, skipped, mounted."""


@dataclass(frozen=True, slots=True)
class BlobRoute:
    """Where the blobs of one copy come from and go to."""

    source: Reference
    target: Reference

    @property
    def same_registry(self) -> bool:
        return self.source.host == self.target.host


def blob_path(ref: Reference, digest: str) -> str:
    return f"/v2/{ref.repository}/blobs/{validate_digest(digest)}"


def _short(digest: str) -> str:
    return digest[:19]


def blob_exists(transport: Transport, ref: Reference, digest: str) -> bool:
    response = transport.request(
        "HEAD",
        ref.host,
        blob_path(ref, digest),
        scope=push_scope(ref),
        ok=(200, 404),
        what=f"check blob {_short(digest)} in {ref.host}/{ref.repository}",
    )
    return bool(response.status == 200)


def upload_location(transport: Transport, target: Reference, location: str | None, what: str) -> str:
    """A Location the target named for an upload, checked: on the target itself it must be an
    upload of ``target``'s repository (our credentials go there); another host gets none."""
    url = transport.url(target.host, location or "", f"{what}: upload Location")
    prefix = f"/v2/{target.repository}/blobs/uploads/"
    if transport.is_registry(url, target.host) and not url.path.startswith(prefix):
        raise RegistryProtocolError(
            f"{what}: upload Location {url.path[:80]!r} is not an upload of {target.repository}",
            host=target.host,
        )
    return str(url)


def start_upload(
    transport: Transport, target: Reference, *, mount: tuple[str, Reference] | None = None, retry: bool = True
) -> str | None:
    """POST an upload session; with ``mount=(digest, source)`` try a cross-repo mount first.

    Returns the upload Location, or None when the blob was mounted (201).
    """
    path = f"/v2/{target.repository}/blobs/uploads/"
    scope = push_scope(target)
    if mount is not None:
        digest, source = mount
        path += "?" + urllib.parse.urlencode({"mount": validate_digest(digest), "from": source.repository})
        scope += f" {pull_scope(source)}"
    what = f"start upload to {target.host}/{target.repository}"
    response = transport.request(
        "POST",
        target.host,
        path,
        scope=scope,
        body=b"",
        ok=(201, 202),
        what=what,
        read=ERROR_BODY_LIMIT,
        retry=retry,
    )
    if response.status == 201 and mount is not None:
        return None
    return upload_location(transport, target, response.header("Location"), what)


def finish_upload(transport: Transport, target: Reference, location: str, digest: str) -> None:
    """``PUT <location>&digest=`` (the Location's query is kept: distribution's _state), sent once."""
    what = f"commit blob {_short(digest)} to {target.host}/{target.repository}"
    location = upload_location(transport, target, location, what)
    separator = "&" if "?" in location else "?"
    response = transport.request(
        "PUT",
        target.host,
        location + separator + urllib.parse.urlencode({"digest": digest}),
        scope=push_scope(target),
        body=b"",
        ok=(201, 204),
        what=what,
        read=ERROR_BODY_LIMIT,
        retry=False,
    )
    stored = response.digest_header()
    if stored and stored != digest:
        raise BlobIntegrityError(f"target stored blob {digest} as {stored}")


def cancel_upload(transport: Transport, target: Reference, location: str) -> None:
    """Best effort: tell the target to drop an upload session we abandon."""
    try:
        transport.request(
            "DELETE",
            target.host,
            upload_location(transport, target, location, "cancel upload"),
            scope=push_scope(target),
            ok=(200, 202, 204, 404),
            retry=False,
            read=ERROR_BODY_LIMIT,
            what=f"cancel upload to {target.host}/{target.repository}",
        )
    except ReplicationError as exc:
        logger.debug("upload session not cancelled: %s", exc)


def open_source(transport: Transport, source: Reference, desc: Descriptor) -> Response:
    """GET the blob (redirects followed without credentials), sent once; its length checked."""
    response = transport.request(
        "GET",
        source.host,
        blob_path(source, desc.digest),
        scope=pull_scope(source),
        ok=(200,),
        what=f"read blob {_short(desc.digest)} from {source.host}/{source.repository}",
        retry=False,
    )
    try:
        length = response.content_length
    except ReplicationError:
        response.close()
        raise
    if length is not None and length != desc.size:
        response.close()
        raise BlobIntegrityError(
            f"source blob {desc.digest} is {length} bytes; its descriptor says {desc.size}"
        )
    return response


def verified_body(source: Response, desc: Descriptor, progress: Callable[[int], None]) -> Iterator[bytes]:
    """The blob's bytes, hashed as they pass; the last piece only once the digest matches."""
    digest = hasher(desc.digest)
    remaining = desc.size
    piece = b""
    while remaining > 0:
        if piece:
            yield piece
            progress(len(piece))
        piece = source.read_some(min(CHUNK, remaining))
        if not piece:
            raise BlobIntegrityError(
                f"source blob {desc.digest} ended {remaining} bytes short of its descriptor size {desc.size}"
            )
        digest.update(piece)
        remaining -= len(piece)
    if source.read_some(1):
        raise BlobIntegrityError(f"source blob {desc.digest} is longer than its descriptor size {desc.size}")
    actual = f"{digest.name}:{digest.hexdigest()}"
    if actual != desc.digest:
        raise BlobIntegrityError(f"source blob {desc.digest} hashes to {actual}: not sent, nothing committed")
    if piece:
        yield piece
        progress(len(piece))


def stream_blob(
    transport: Transport, route: BlobRoute, desc: Descriptor, location: str, progress: Callable[[int], None]
) -> None:
    """One attempt: GET the blob from the source, send it as one streaming PATCH, commit it."""
    target = route.target
    what = f"upload blob {_short(desc.digest)} to {target.host}/{target.repository}"
    location = upload_location(transport, target, location, what)
    source = open_source(transport, route.source, desc)
    try:
        answer = transport.request(
            "PATCH",
            target.host,
            location,
            scope=push_scope(target),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)},
            body=verified_body(source, desc, progress),
            ok=(201, 202, 204),
            what=what,
            read=ERROR_BODY_LIMIT,
            retry=False,
        )
    finally:
        source.close()
    finish_upload(transport, target, answer.header("Location") or location, desc.digest)


def copy_blob(transport: Transport, route: BlobRoute, desc: Descriptor, events: BlobEvent) -> str:
    """Copy one blob; returns "skipped", "mounted" or "copied".

    The HEAD and the mount are small calls (retried per request). Then at most
    ``transport.retry.attempts`` upload sessions: a transient failure cancels the session and
    starts the blob again; a permanent one (BlobIntegrityError included) cancels it and raises.
    """
    target = route.target
    if blob_exists(transport, target, desc.digest):
        events("skipped", desc, 0)
        return "skipped"
    location: str | None = None
    if route.same_registry and route.source.repository != target.repository:
        location = start_upload(transport, target, mount=(desc.digest, route.source))
        if location is None:
            events("mounted", desc, 0)
            return "mounted"
    events("started", desc, 0)
    policy = transport.retry
    for attempt in range(1, policy.attempts + 1):
        sent = 0

        def progress(moved: int) -> None:
            nonlocal sent
            sent += moved
            events("progress", desc, moved)

        try:
            location = location or start_upload(transport, target, retry=False)
            assert location is not None  # a plain POST never mounts
            stream_blob(transport, route, desc, location, progress)
        except ReplicationError as exc:
            if sent:
                events("progress", desc, -sent)
            if location is not None:
                cancel_upload(transport, target, location)
            location = None
            if not exc.retryable or attempt >= policy.attempts:
                raise
            logger.debug("blob %s: %s; starting it again (attempt %d)", _short(desc.digest), exc, attempt)
            transport.wait(policy, attempt, getattr(exc, "retry_after", None), f"blob {_short(desc.digest)}")
            continue
        events("done", desc, desc.size)
        return "copied"
    raise AssertionError("unreachable: the last attempt returns or raises")
