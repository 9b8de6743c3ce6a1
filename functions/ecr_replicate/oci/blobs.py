"""Blob protocol steps: HEAD, mount, streaming GET -> upload (POST, one PATCH, PUT ?digest=).

Bytes flow from the source socket to the target socket without touching disk: on Linux with
plain HTTP on both ends through ``os.splice`` (socket -> pipe -> socket, zero-copy), otherwise
through one reusable buffer. The byte count is checked against the descriptor; the digest is
checked by the target registry on ``PUT ?digest=`` and through ``Docker-Content-Digest``.
"""

from __future__ import annotations

import _socket
import os
import select
from collections.abc import Callable

from ecr_replicate.errors import (
    AuthenticationError,
    BlobIntegrityError,
    RegistryError,
    RegistryUnavailableError,
)
from ecr_replicate.oci.http11 import Connection
from ecr_replicate.oci.lazy_logging import get_logger
from ecr_replicate.oci.manifests import Descriptor
from ecr_replicate.oci.reference import Reference
from ecr_replicate.oci.transport import (
    ERROR_BODY_LIMIT,
    USER_AGENT,
    HostPool,
    Response,
    Transport,
    error_from_response,
)

logger = get_logger(__name__)  # logging.getLogger, imported when a record can be emitted

BUFFER_SIZE = 1 << 20
PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031
_HAS_SPLICE = hasattr(os, "splice")

BlobEvent = Callable[[str, Descriptor, int], None]
"""``(event, descriptor, bytes)``: started, progress (bytes = delta), done, skipped, mounted."""


class TransferInterrupted(RegistryUnavailableError):  # noqa: N818 - internal, retried by copy_blob
    """The source or target connection broke mid-blob: restart the blob with a new upload."""


class BlobRoute:
    """Where the blobs of one copy come from and go to."""

    __slots__ = ("source", "target")

    def __init__(self, source: Reference, target: Reference) -> None:
        self.source = source
        self.target = target

    @property
    def same_registry(self) -> bool:
        return self.source.host == self.target.host


def pull_scope(ref: Reference) -> str:
    return f"{ref.repository}:pull"


def push_scope(ref: Reference) -> str:
    return f"{ref.repository}:push"


def blob_exists(transport: Transport, ref: Reference, digest: str) -> bool:
    response = transport.request(
        "HEAD",
        ref.host,
        f"/v2/{ref.repository}/blobs/{digest}",
        scope=push_scope(ref),
        ok=(200, 404),
        what=f"check blob {digest[:19]} in {ref.host}/{ref.repository}",
    )
    response.close(reuse=True)
    return response.status == 200


def start_upload(transport: Transport, target: Reference, mount: tuple[str, str] | None = None) -> str | None:
    """POST an upload session; with ``mount=(digest, from_repo)`` try a cross-repo mount first.

    Returns the upload Location, or None when the blob was mounted (201).
    """
    import urllib.parse  # noqa: PLC0415 - with ipaddress, a tenth of start-up: paid on use

    path = f"/v2/{target.repository}/blobs/uploads/"
    if mount is not None:
        path += "?" + urllib.parse.urlencode({"mount": mount[0], "from": mount[1]})
    response = transport.request(
        "POST",
        target.host,
        path,
        scope=push_scope(target),
        headers={"Content-Length": "0"},
        body=b"",
        ok=(201, 202),
        what=f"start upload to {target.host}/{target.repository}",
        read=ERROR_BODY_LIMIT,
    )
    if response.status == 201 and mount is not None:
        return None
    location = response.header("Location")
    if not location:
        raise RegistryError(
            "upload session without a Location header", status=response.status, host=target.host
        )
    return location


def finish_upload(transport: Transport, target: Reference, location: str, digest: str) -> None:
    """``PUT <location>&digest=`` (the query of the Location is kept: distribution's _state)."""
    import urllib.parse  # noqa: PLC0415 - with ipaddress, a tenth of start-up: paid on use

    pool, path = transport.resolve_location(target.host, location)
    path += ("&" if "?" in path else "?") + urllib.parse.urlencode({"digest": digest})
    response = transport.request(
        "PUT",
        pool.host,
        path,
        scope=push_scope(target),
        headers={"Content-Length": "0"},
        body=b"",
        ok=(201, 204),
        what=f"commit blob {digest[:19]} to {target.host}/{target.repository}",
        read=ERROR_BODY_LIMIT,
    )
    stored = response.header("Docker-Content-Digest")
    if stored and stored != digest:
        raise BlobIntegrityError(f"target stored blob {digest} as {stored}")


def open_source(transport: Transport, source: Reference, desc: Descriptor) -> Response:
    response = transport.request(
        "GET",
        source.host,
        f"/v2/{source.repository}/blobs/{desc.digest}",
        scope=pull_scope(source),
        ok=(200,),
        what=f"read blob {desc.digest[:19]} from {source.host}/{source.repository}",
    )
    length = response.content_length
    if length is not None and length != desc.size:
        response.close()
        raise BlobIntegrityError(
            f"source blob {desc.digest} is {length} bytes; its descriptor says {desc.size}"
        )
    return response


def _wait(fd: int, write: bool, timeout: float) -> None:
    readable, writable, _ = select.select([] if write else [fd], [fd] if write else [], [], timeout)
    if not readable and not writable:
        raise TimeoutError("socket timed out")


def _splice(
    src: _socket.socket, dst: _socket.socket, count: int, timeout: float, progress: Callable[[int], None]
) -> None:
    """Move ``count`` bytes from ``src`` to ``dst`` through a pipe, never into user space."""
    read_end, write_end = os.pipe()
    try:
        try:
            import fcntl  # noqa: PLC0415 - Linux only, next to its only use

            fcntl.fcntl(write_end, _F_SETPIPE_SZ, PIPE_SIZE)
            chunk = PIPE_SIZE
        except OSError:
            chunk = 64 * 1024
        src_fd, dst_fd = src.fileno(), dst.fileno()
        remaining = count
        while remaining > 0:
            try:
                moved = os.splice(src_fd, write_end, min(remaining, chunk))
            except BlockingIOError:
                _wait(src_fd, False, timeout)
                continue
            if moved == 0:
                raise TransferInterrupted(f"source closed the connection with {remaining} bytes to go")
            remaining -= moved
            pending = moved
            while pending > 0:
                try:
                    pending -= os.splice(read_end, dst_fd, pending)
                except BlockingIOError:
                    _wait(dst_fd, True, timeout)
            progress(moved)
    finally:
        os.close(read_end)
        os.close(write_end)


def _pump(source: Response, conn: Connection, size: int, progress: Callable[[int], None]) -> None:
    """Send exactly ``size`` body bytes of ``source`` on ``conn``; raise on short or long bodies."""
    raw = source.raw
    sock = conn.sock
    assert sock is not None
    remaining = size
    splice_ok = (
        _HAS_SPLICE
        and source.pool.scheme == "http"
        and type(sock) is _socket.socket  # plain TCP on the target side too (not TLS)
        and source.content_length == size
        and source.conn.sock is not None
        and not raw.chunked
    )
    if splice_ok and remaining > 0:
        fp = raw.fp
        buffered = fp.peek(1)  # what the reader already holds (one socket read at most)
        head = fp.read(min(len(buffered), remaining)) if buffered else b""
        if head:
            sock.sendall(head)
            remaining -= len(head)
            progress(len(head))
        if remaining > 0:
            src_sock = source.conn.sock
            assert src_sock is not None
            _splice(src_sock, sock, remaining, source.pool.timeout, progress)
        raw.skip(size)  # the body went around the reader: the connection can be reused
        return
    buffer = bytearray(min(BUFFER_SIZE, max(size, 1)))
    view = memoryview(buffer)
    while remaining > 0:
        got = raw.readinto(view[: min(len(buffer), remaining)])
        if not got:
            if source.content_length is None:
                raise BlobIntegrityError(f"source blob ended {remaining} bytes short of its descriptor size")
            raise TransferInterrupted(f"source body ended with {remaining} bytes to go")
        sock.sendall(view[:got])
        remaining -= got
        progress(got)
    if not raw.isclosed() and raw.read(1):
        raise BlobIntegrityError(f"source blob is longer than its descriptor size {size}")


def stream_blob(
    transport: Transport, route: BlobRoute, desc: Descriptor, location: str, progress: Callable[[int], None]
) -> None:
    """GET the blob from the source and send it as one streaming PATCH, then commit it."""
    source = open_source(transport, route.source, desc)
    target = route.target
    pool: HostPool
    pool, path = transport.resolve_location(target.host, location)
    conn = pool.acquire()
    reuse = False
    try:
        try:
            headers = {
                "User-Agent": USER_AGENT,
                "Content-Type": "application/octet-stream",
                "Content-Length": str(desc.size),
            }
            authorization = transport.auth.header(target.host, push_scope(target))
            if authorization:
                headers["Authorization"] = authorization
            conn.send_head("PATCH", path, headers)
            _pump(source, conn, desc.size, progress)
            answer = conn.get_response("PATCH")
            body = answer.read(ERROR_BODY_LIMIT)
        except OSError as exc:
            raise TransferInterrupted(
                f"blob {desc.digest[:19]} transfer broke: {type(exc).__name__}", host=target.host
            ) from None
        reuse = answer.isclosed() and not answer.will_close
    finally:
        source.close(reuse=source.raw.isclosed())
        pool.release(conn, reuse=reuse)
    if answer.status not in (201, 202, 204):
        if answer.status == 401:
            if transport.auth.challenge(
                target.host,
                push_scope(target),
                answer.getheader("WWW-Authenticate"),
                headers.get("Authorization"),
            ):
                raise TransferInterrupted("upload needs fresh credentials", status=401, host=target.host)
            raise AuthenticationError("upload refused: HTTP 401", status=401, host=target.host)
        if b"BLOB_UPLOAD_UNKNOWN" in body:  # the session expired or was lost: start a new one
            raise TransferInterrupted("upload session unknown to the target", status=answer.status)
        raise error_from_response(
            answer.status, body, host=target.host, what=f"upload blob {desc.digest[:19]}"
        )
    next_location = answer.getheader("Location") or location
    try:
        finish_upload(transport, target, next_location, desc.digest)
    except BlobIntegrityError:
        cancel_upload(transport, target, next_location)
        raise


def cancel_upload(transport: Transport, target: Reference, location: str) -> None:
    """Best effort: tell the target to drop an upload session we abandon."""
    pool, path = transport.resolve_location(target.host, location)
    try:
        response = transport.request(
            "DELETE",
            pool.host,
            path,
            scope=push_scope(target),
            ok=(200, 202, 204, 404),
            retry=False,
            read=ERROR_BODY_LIMIT,
            what="cancel upload",
        )
    except RegistryError:
        return
    logger.debug("upload session cancelled (HTTP %s)", response.status)


def copy_blob(transport: Transport, route: BlobRoute, desc: Descriptor, events: BlobEvent) -> str:
    """Copy one blob; returns "skipped", "mounted" or "copied".

    A transfer that breaks mid-body restarts the blob with a new upload session, within the
    transport's bounded retry policy.
    """
    if blob_exists(transport, route.target, desc.digest):
        events("skipped", desc, 0)
        return "skipped"
    location: str | None = None
    if route.same_registry and route.source.repository != route.target.repository:
        location = start_upload(transport, route.target, mount=(desc.digest, route.source.repository))
        if location is None:
            events("mounted", desc, 0)
            return "mounted"
    attempt = 0
    events("started", desc, 0)
    while True:
        attempt += 1
        sent = 0

        def progress(moved: int) -> None:
            nonlocal sent
            sent += moved
            events("progress", desc, moved)

        try:
            upload = location or start_upload(transport, route.target)
            if upload is None:
                raise RegistryError("upload session without a Location", host=route.target.host)
            stream_blob(transport, route, desc, upload, progress)
        except RegistryUnavailableError as exc:
            location = None
            if sent:
                events("progress", desc, -sent)
            if attempt >= transport.retry.attempts:
                raise
            logger.debug("blob %s: %s; restarting (attempt %d)", desc.digest[:19], exc, attempt)
            transport.retry.wait(attempt, getattr(exc, "retry_after", None))
            continue
        events("done", desc, desc.size)
        return "copied"
