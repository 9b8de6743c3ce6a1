"""A small registry client that pushes: blobs (in memory, streamed, or a file sent with
``sendfile``), manifests, and deletes by digest. The one pusher of the sample images
(:mod:`ecr_replicate_local.sample_images`) and the benchmark images (``bench/bench_image.py``).

Independent of ``ecr_replicate.oci`` on purpose (stdlib ``http.client``, one connection per
request), so the copier is tested and measured against images it did not write. Per blob: HEAD
(skip if present), POST an upload, then either one PUT ``?digest=`` with the body or a PATCH of
the whole blob and an empty PUT ``<Location>&digest=`` (distribution's Location carries
``?_state=...``: the digest is appended, never substituted).
"""

from __future__ import annotations

import hashlib
import http.client
import ssl
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

MiB = 1 << 20


class PushError(RuntimeError):
    """The registry refused a push step (its status and the start of its answer are in the message)."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def request_target(location: str) -> str:
    """Path and query of a Location header (absolute or relative)."""
    parts = urllib.parse.urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + "digest=" + urllib.parse.quote(digest, safe=":")


class Pusher:
    """Push to the registry at ``host`` (anonymous or with a fixed Authorization header), over
    plain http, or over https trusting ``context`` when one is given."""

    def __init__(
        self,
        host: str,
        *,
        authorization: str | None = None,
        timeout: float = 60.0,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.authorization = authorization
        self.timeout = timeout
        self.context = context

    def _connection(self) -> http.client.HTTPConnection:
        if self.context is not None:
            return http.client.HTTPSConnection(
                self.host, timeout=self.timeout, context=self.context, blocksize=MiB
            )
        return http.client.HTTPConnection(self.host, timeout=self.timeout, blocksize=MiB)

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.authorization:
            headers["Authorization"] = self.authorization
        return headers

    def _request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, dict[str, str], bytes]:
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=self._headers(headers), **kw)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def blob_exists(self, repository: str, digest: str) -> bool:
        status, _, _ = self._request("HEAD", f"/v2/{repository}/blobs/{digest}")
        return status == 200

    def push_blob(self, repository: str, data: bytes) -> tuple[str, int]:
        """Monolithic upload (POST then PUT ?digest= with the body), unless the blob is there."""
        digest = sha256(data)
        if self.blob_exists(repository, digest):
            return digest, len(data)
        location = self._start(repository)
        status, _, body = self._request(
            "PUT",
            with_digest(location, digest),
            body=data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        )
        if status != 201:
            raise PushError(f"blob push failed: {status} {body[:200]!r}")
        return digest, len(data)

    def push_blob_stream(self, repository: str, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Streamed upload: one chunked PATCH while hashing, then PUT ?digest=."""
        hasher = hashlib.sha256()
        size = 0

        def counted() -> Iterator[bytes]:
            nonlocal size
            for chunk in chunks:
                hasher.update(chunk)
                size += len(chunk)
                yield chunk

        location = self._start(repository)
        status, headers, body = self._request(
            "PATCH",
            location,
            body=counted(),
            headers={"Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        if status not in (201, 202, 204):
            raise PushError(f"blob PATCH failed: {status} {body[:200]!r}")
        digest = "sha256:" + hasher.hexdigest()
        self._commit(headers.get("location", location), digest)
        return digest, size

    def push_blob_file(self, repository: str, path: Path, digest: str, size: int) -> bool:
        """Upload the file at ``path`` (its digest and size known) with one PATCH sent by
        ``sendfile``, unless the blob is there; True if bytes were sent."""
        if self.blob_exists(repository, digest):
            return False
        location = self._start(repository)
        conn = self._connection()
        try:
            conn.putrequest("PATCH", location, skip_accept_encoding=True)
            for name, value in self._headers(
                {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            ).items():
                conn.putheader(name, value)
            conn.endheaders()
            with path.open("rb") as file:
                assert conn.sock is not None
                sent = conn.sock.sendfile(file)
            if sent != size:
                raise PushError(f"sent {sent} of {size} bytes of {digest}")
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        if response.status not in (201, 202, 204):
            raise PushError(f"PATCH {digest}: HTTP {response.status}")
        self._commit(response.headers.get("Location") or location, digest)
        return True

    def _start(self, repository: str) -> str:
        status, headers, body = self._request("POST", f"/v2/{repository}/blobs/uploads/", body=b"")
        if status != 202 or not headers.get("location"):
            raise PushError(f"upload start failed: {status} {body[:200]!r}")
        return request_target(headers["location"])

    def _commit(self, location: str, digest: str) -> None:
        status, _, body = self._request("PUT", request_target(with_digest(location, digest)), body=b"")
        if status != 201:
            raise PushError(f"blob commit failed: {status} {body[:200]!r}")

    def push_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        status, _, answer = self._request(
            "PUT", f"/v2/{repository}/manifests/{reference}", body=body, headers={"Content-Type": media_type}
        )
        if status != 201:
            raise PushError(f"manifest push failed: {status} {answer[:300]!r}")
        return sha256(body)

    def delete_manifest(self, repository: str, digest: str) -> None:
        self._request("DELETE", f"/v2/{repository}/manifests/{digest}")
