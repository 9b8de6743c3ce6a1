"""Hostile registries on 127.0.0.1: servers that answer whatever a test scripts, and record.

- :class:`HostileServer`: an HTTP (or, with a certificate, HTTPS) server on a free loopback port.
  Requests are parsed by ``http.server``; each one is recorded (:class:`Seen`: method, target,
  headers, body) and handed to the test's handler, whose :class:`Reply` is written as given:
  any status line, any header (``Content-Length: ²`` included), a body sent whole, dripped one
  piece at a time, or raw bytes.
- :class:`FakeRegistry`: an in-memory OCI registry built on it (manifests, blobs, uploads, mounts,
  tags, referrers, Basic or Bearer auth) that tests bend one answer at a time with
  :meth:`FakeRegistry.script`. ``verify_digests=False`` makes a target that accepts any bytes.
- :class:`HostileRegistry`: the manifests-only server of the earlier hostile-input tests.

Real registries refuse to store what these tests need, which is why these exist.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.support.tls import TlsFiles

LOOPBACK = "127.0.0.1"
BODY_RECORD_LIMIT = 1 << 20
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Seen:
    """One request as a server received it."""

    server: str
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    body_length: int = 0

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query))

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def __str__(self) -> str:
        return f"{self.method} {self.target}"


@dataclass
class Reply:
    """What a server sends back.

    ``headers`` go out exactly as given; ``Content-Length`` is added from the body unless a
    header names it already or ``chunked`` is set. ``body`` may be an iterable of pieces: each
    is sent after ``delay`` seconds (a dripping server). ``raw`` (bytes, or pieces dripped
    the same way) replaces everything.
    """

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    delay: float = 0.0
    chunked: bool = False
    raw: bytes | Iterable[bytes] | None = None
    close: bool = False
    reason: str = ""

    @classmethod
    def json(cls, status: int, data: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
        return cls(
            status, [("Content-Type", "application/json"), *(headers or [])], json.dumps(data).encode()
        )

    @classmethod
    def error(
        cls, status: int, code: str, message: str = "", headers: list[tuple[str, str]] | None = None
    ) -> Reply:
        return cls.json(status, {"errors": [{"code": code, "message": message or code.lower()}]}, headers)


Handler = Callable[[Seen], Reply]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls_context: ssl.SSLContext | None = None
    accepted: Callable[[], None] = staticmethod(lambda: None)

    def get_request(self) -> tuple[Any, Any]:
        """Every TCP connection is counted; TLS is set up by the handler's thread, so a client
        that stalls its handshake holds up nobody else."""
        sock, address = super().get_request()
        self.accepted()
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up on a hostile answer is the point of these tests."""


class HostileServer:
    """``with HostileServer(handler) as server:`` clients talk to ``server.host``."""

    def __init__(self, handler: Handler, *, tls: TlsFiles | None = None, name: str = "hostile") -> None:
        self.handler = handler
        self.tls = tls
        self.name = name
        self.requests: list[Seen] = []
        self.connections = 0
        self._lock = threading.Lock()
        owner = self

        class RequestHandler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: ``requests`` is the log."""

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (ConnectionError, TimeoutError, ssl.SSLError):
                    self.close_connection = True

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                length = self.headers.get("Content-Length")
                if not length or not length.isdigit():
                    return b""
                remaining, parts = int(length), []
                while remaining > 0:
                    piece = self.rfile.read(min(remaining, 1 << 20))
                    if not piece:
                        self.close_connection = True
                        break
                    parts.append(piece)
                    remaining -= len(piece)
                return b"".join(parts)

            def _handle(self) -> None:
                try:
                    body = self._read_body()
                except (ConnectionError, TimeoutError, ValueError):
                    self.close_connection = True
                    return
                seen = Seen(
                    server=owner.host,
                    method=self.command,
                    target=self.path,
                    headers=tuple(self.headers.items()),
                    body=body[:BODY_RECORD_LIMIT],
                    body_length=len(body),
                )
                with owner._lock:
                    owner.requests.append(seen)
                try:
                    reply = owner.handler(seen)
                except Exception as exc:  # a bug in a test's handler: answer 599 and keep serving
                    reply = Reply(599, [], f"handler failed: {exc!r}".encode())
                try:
                    self._send(reply)
                except (ConnectionError, TimeoutError, ssl.SSLError):
                    self.close_connection = True

            def _send(self, reply: Reply) -> None:
                out = self.wfile
                if reply.raw is not None:
                    for piece in [reply.raw] if isinstance(reply.raw, bytes) else reply.raw:
                        if reply.delay:
                            time.sleep(reply.delay)
                        out.write(piece)
                        out.flush()
                    self.close_connection = True
                    return
                reason = reply.reason or self.responses.get(reply.status, ("Unknown",))[0]
                head = [f"HTTP/1.1 {reply.status} {reason}"]
                names = {name.lower() for name, _ in reply.headers}
                head += [f"{name}: {value}" for name, value in reply.headers]
                pieces = [reply.body] if isinstance(reply.body, bytes) else reply.body
                if reply.chunked:
                    head.append("Transfer-Encoding: chunked")
                elif "content-length" not in names and isinstance(reply.body, bytes):
                    head.append(f"Content-Length: {len(reply.body)}")
                if reply.close:
                    head.append("Connection: close")
                    self.close_connection = True
                out.write(("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogateescape"))
                out.flush()
                if self.command == "HEAD":
                    return
                for piece in pieces:
                    if reply.delay:
                        time.sleep(reply.delay)
                    out.write(b"%x\r\n%s\r\n" % (len(piece), piece) if reply.chunked else piece)
                    out.flush()
                if reply.chunked:
                    out.write(b"0\r\n\r\n")
                    out.flush()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self._server = _QuietServer((LOOPBACK, 0), RequestHandler)
        self._server.accepted = self._accepted  # type: ignore[method-assign]
        if tls is not None:
            self._server.tls_context = tls.server_context()
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    def _accepted(self) -> None:
        with self._lock:
            self.connections += 1

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def seen(self, method: str | None = None, contains: str = "") -> list[Seen]:
        with self._lock:
            return [
                r for r in self.requests if (method is None or r.method == method) and contains in r.target
            ]

    def authorizations(self) -> list[str]:
        """Every Authorization header this server received."""
        with self._lock:
            return [
                value for r in self.requests for key, value in r.headers if key.lower() == "authorization"
            ]


# --- an in-memory registry ---------------------------------------------------------------------


@dataclass
class Script:
    """An answer a test puts in front of the registry's own: ``when(seen)`` -> ``reply(seen)``."""

    when: Callable[[Seen], bool]
    reply: Callable[[Seen], Reply | None]
    times: int | None = None


@dataclass
class Image:
    digest: str
    manifest: bytes
    blobs: dict[str, bytes]
    media_type: str = OCI_MANIFEST


class FakeRegistry(HostileServer):
    """An OCI registry in memory, bent by tests through :meth:`script`.

    ``auth``: None, ``("basic", user, password)`` or ``("bearer", user, password)``; for bearer,
    the token endpoint is ``realm`` (default: this server's ``/token``).
    """

    def __init__(
        self,
        *,
        tls: TlsFiles | None = None,
        verify_digests: bool = True,
        auth: tuple[str, str, str] | None = None,
        realm: str | None = None,
        referrers_api: bool = False,
        name: str = "fake-registry",
    ) -> None:
        super().__init__(self._answer, tls=tls, name=name)
        self.verify_digests = verify_digests
        self.auth = auth
        self.realm = realm
        self.referrers_api = referrers_api
        self.manifests: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}
        self.uploads: dict[str, tuple[str, bytearray]] = {}
        self.committed: list[str] = []
        self.tokens: set[str] = set()
        self.scripts: list[Script] = []
        self._state = threading.Lock()

    # -- test-side API ------------------------------------------------------------------------

    def script(
        self,
        when: Callable[[Seen], bool],
        reply: Reply | Callable[[Seen], Reply | None],
        *,
        times: int | None = None,
    ) -> None:
        """Answer requests matching ``when`` with ``reply`` (first script wins; ``times`` bounds it)."""
        answer = reply if callable(reply) else (lambda _seen, fixed=reply: fixed)
        self.scripts.append(Script(when, answer, times))

    def put_blob(self, data: bytes) -> str:
        digest = sha256(data)
        self.blobs[digest] = data
        return digest

    def put_manifest(
        self, repository: str, reference: str, body: bytes, media_type: str = OCI_MANIFEST
    ) -> str:
        digest = sha256(body)
        self.manifests[(repository, digest)] = (media_type, body)
        if not reference.startswith("sha256:"):
            self.manifests[(repository, reference)] = (media_type, body)
        return digest

    def push_image(
        self, repository: str, tag: str | None, layers: Iterable[bytes] = (b"layer-one", b"layer-two")
    ) -> Image:
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
        blobs = {self.put_blob(config): config}
        descriptors = []
        for layer in layers:
            digest = self.put_blob(layer)
            blobs[digest] = layer
            descriptors.append({"mediaType": OCI_LAYER, "digest": digest, "size": len(layer)})
        manifest = image_manifest(
            {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)}, descriptors
        )
        digest = self.put_manifest(repository, tag or sha256(manifest), manifest)
        return Image(digest, manifest, blobs)

    def tag_of(self, repository: str, tag: str) -> str | None:
        found = self.manifests.get((repository, tag))
        return None if found is None else sha256(found[1])

    # -- the registry -------------------------------------------------------------------------

    def _answer(self, seen: Seen) -> Reply:
        for script in list(self.scripts):
            if script.times == 0 or not script.when(seen):
                continue
            reply = script.reply(seen)
            if reply is None:
                continue
            if script.times is not None:
                script.times -= 1
            return reply
        path = seen.path
        if path == "/token":
            return self._token(seen)
        refused = self._check_auth(seen)
        if refused is not None:
            return refused
        if path in ("/v2/", "/v2"):
            return Reply(200, [("Content-Type", "application/json")], b"{}")
        repository, kind, rest = _route(path)
        if kind == "manifests":
            return self._manifest(seen, repository, rest)
        if kind == "blobs" and rest.startswith("uploads"):
            return self._upload(seen, repository, rest[len("uploads") :].strip("/"))
        if kind == "blobs":
            return self._blob(seen, rest)
        if kind == "referrers" and self.referrers_api:
            return self._referrers(repository, rest)
        if kind == "tags":
            tags = sorted(ref for (repo, ref) in self.manifests if repo == repository and ":" not in ref)
            return Reply.json(200, {"name": repository, "tags": tags})
        return Reply.error(404, "NAME_UNKNOWN", "no route")

    def _token(self, seen: Seen) -> Reply:
        if self.auth is not None and seen.header("Authorization") != _basic(self.auth[1], self.auth[2]):
            return Reply.error(401, "UNAUTHORIZED", "token endpoint: bad credentials")
        token = secrets.token_hex(8)
        self.tokens.add(token)
        return Reply.json(200, {"token": token})

    def _check_auth(self, seen: Seen) -> Reply | None:
        if self.auth is None:
            return None
        kind, user, password = self.auth
        given = seen.header("Authorization") or ""
        if kind == "basic" and given == _basic(user, password):
            return None
        if kind == "bearer" and given.startswith("Bearer ") and given[7:] in self.tokens:
            return None
        if kind == "basic":
            challenge = 'Basic realm="fake"'
        else:
            realm = self.realm if self.realm is not None else f"{self.url}/token"
            challenge = f'Bearer realm="{realm}",service="fake",scope="repository:x:pull"'
        return Reply.error(401, "UNAUTHORIZED", "authentication required", [("WWW-Authenticate", challenge)])

    def _manifest(self, seen: Seen, repository: str, reference: str) -> Reply:
        if seen.method in ("GET", "HEAD"):
            found = self.manifests.get((repository, reference))
            if found is None:
                return Reply.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            media_type, body = found
            return Reply(200, [("Content-Type", media_type), ("Docker-Content-Digest", sha256(body))], body)
        if seen.method == "PUT":
            body = seen.body
            media_type = seen.header("Content-Type") or OCI_MANIFEST
            digest = sha256(body)
            if reference.startswith("sha256:") and reference != digest and self.verify_digests:
                return Reply.error(400, "DIGEST_INVALID", "manifest digest mismatch")
            with self._state:
                self.manifests[(repository, digest)] = (media_type, body)
                self.manifests[(repository, reference)] = (media_type, body)
            return Reply(
                201, [("Docker-Content-Digest", digest), ("Location", f"/v2/{repository}/manifests/{digest}")]
            )
        return Reply.error(405, "UNSUPPORTED", "method")

    def _blob(self, seen: Seen, digest: str) -> Reply:
        data = self.blobs.get(digest)
        if data is None:
            return Reply.error(404, "BLOB_UNKNOWN", "blob unknown")
        return Reply(
            200, [("Content-Type", "application/octet-stream"), ("Docker-Content-Digest", digest)], data
        )

    def _upload(self, seen: Seen, repository: str, session: str) -> Reply:
        if seen.method == "POST":
            mount = seen.query.get("mount")
            if mount and mount in self.blobs:
                return Reply(
                    201, [("Location", f"/v2/{repository}/blobs/{mount}"), ("Docker-Content-Digest", mount)]
                )
            uuid = secrets.token_hex(8)
            with self._state:
                self.uploads[uuid] = (repository, bytearray())
            return Reply(
                202, [("Location", f"/v2/{repository}/blobs/uploads/{uuid}?_state=abc"), ("Range", "0-0")]
            )
        found = self.uploads.get(session)
        if found is None:
            return Reply.error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown")
        buffer = found[1]
        if seen.method == "PATCH":
            buffer.extend(seen.body)
            return Reply(202, [("Location", seen.target), ("Range", f"0-{max(len(buffer) - 1, 0)}")])
        if seen.method == "DELETE":
            self.uploads.pop(session, None)
            return Reply(204)
        if seen.method == "PUT":
            buffer.extend(seen.body)
            digest = seen.query.get("digest", "")
            if self.verify_digests and sha256(bytes(buffer)) != digest:
                return Reply.error(400, "DIGEST_INVALID", "digest mismatch")
            with self._state:
                self.blobs[digest] = bytes(buffer)
                self.committed.append(digest)
                self.uploads.pop(session, None)
            return Reply(
                201, [("Docker-Content-Digest", digest), ("Location", f"/v2/{repository}/blobs/{digest}")]
            )
        return Reply.error(405, "UNSUPPORTED", "method")

    def _referrers(self, repository: str, digest: str) -> Reply:
        items = []
        for (repo, ref), (media_type, body) in list(self.manifests.items()):
            if repo != repository or not ref.startswith("sha256:"):
                continue
            try:
                subject = json.loads(body).get("subject", {}).get("digest")
            except (ValueError, AttributeError):
                continue
            if subject == digest:
                items.append({"mediaType": media_type, "digest": ref, "size": len(body)})
        return Reply.json(200, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": items})


def _route(path: str) -> tuple[str, str, str]:
    """``/v2/<repo>/<kind>/<rest>`` -> (repo, kind, rest); kind is '' when none matches."""
    inner = path[len("/v2/") :] if path.startswith("/v2/") else ""
    for kind in ("manifests", "blobs", "referrers", "tags"):
        marker = f"/{kind}/"
        if marker in inner:
            repository, _, rest = inner.partition(marker)
            return repository, kind, urllib.parse.unquote(rest)
    return inner, "", ""


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def image_manifest(config: dict[str, Any], layers: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers, **extra}
    ).encode()


def drip(data: bytes, piece: int = 1) -> Iterator[bytes]:
    """``data`` in pieces of ``piece`` bytes (send with ``Reply(delay=...)``)."""
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


# --- the earlier manifests-only server ---------------------------------------------------------


class HostileRegistry(HostileServer):
    """Serves ``{reference: (content_type, body)}`` for ``GET/HEAD /v2/<repo>/manifests/<ref>``,
    unverified; 404 for everything else (blob reads too: a copy must fail before it needs them)."""

    def __init__(self, manifests: dict[str, tuple[str, bytes]]) -> None:
        self.manifests = manifests
        super().__init__(self._answer, name="hostile-manifests")

    def _answer(self, seen: Seen) -> Reply:
        reference = seen.path.rsplit("/manifests/", 1)[-1] if "/manifests/" in seen.path else None
        found = self.manifests.get(reference) if reference else None
        if found is None:
            return Reply.error(404, "MANIFEST_UNKNOWN", "unknown")
        return Reply(200, [("Content-Type", found[0])], found[1])
