"""Hostile registries on 127.0.0.1, built on :class:`tests.support.hostile_server.HostileServer`.

- :class:`FakeRegistry`: an in-memory OCI registry (manifests, blobs, uploads, mounts, tags,
  referrers, Basic or Bearer auth) that tests bend one answer at a time with
  :meth:`FakeRegistry.script`. ``verify_digests=False`` makes a target that accepts any bytes.
- :class:`HostileRegistry`: the manifests-only server of the earlier hostile-input tests.

Real registries refuse to store what these tests need, which is why these exist.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.support.hostile_server import (
    LOOPBACK,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    HostileServer,
    Reply,
    Seen,
    sha256,
)
from tests.support.tls import TlsFiles

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


__all__ = [  # the registries, and the server's parts tests use with them
    "LOOPBACK",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_MANIFEST",
    "FakeRegistry",
    "HostileRegistry",
    "HostileServer",
    "Image",
    "Reply",
    "Script",
    "Seen",
    "drip",
    "image_manifest",
    "sha256",
]
