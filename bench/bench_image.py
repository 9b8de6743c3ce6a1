"""The benchmark image: gzip layers of pseudo-random bytes, cached on disk, and a lean pusher.

The pusher is the project's one pusher (:mod:`ecr_replicate_local.registry_pusher`, stdlib
``http.client``): it must not depend on the copier being measured. The helpers below (one
connection, ``start_upload``) serve the benchmark's raw ``GET | PUT`` pipe.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import ssl
import threading
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ecr_replicate_local.registry_pusher import Pusher as RegistryPusher
from ecr_replicate_local.registry_pusher import PushError

MiB = 1 << 20
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_ACCEPT = ", ".join(
    [
        DOCKER_MANIFEST,
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
_BLOCK = 8 * MiB
_POOL_SIZE = 64 * MiB


class BenchError(RuntimeError):
    """A benchmark step failed (setup, a copy, or a verification)."""


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str
    path: Path | None = None  # layer file on disk
    data: bytes | None = None  # small blob held in memory (config)

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass(frozen=True)
class Layer:
    blob: Blob
    diff_id: str


@dataclass(frozen=True)
class Image:
    config: Blob
    layers: tuple[Layer, ...]
    manifest: bytes
    digest: str

    @property
    def blobs(self) -> list[Blob]:
        return [self.config, *(layer.blob for layer in self.layers)]

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blobs) + len(self.manifest)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


_pool_lock = threading.Lock()
_pool: list[bytes] = []


def _random_pool() -> bytes:
    """64 MiB of pseudo-random bytes, generated once per process (deterministic)."""
    with _pool_lock:
        if not _pool:
            _pool.append(random.Random(0x5EED).randbytes(_POOL_SIZE))
        return _pool[0]


def make_layer(cache: Path, size: int, seed: int) -> Layer:
    """A valid gzip stream (stored deflate blocks: level 0) of ``size`` incompressible bytes.

    Content: per 8 MiB block, a seed-specific 64-byte prefix and a slice of a 64 MiB random pool,
    so every layer has its own digest and nothing repeats within deflate's window. Cached in
    ``cache`` as ``layer-<size>-<seed>.gz`` plus a JSON sidecar with the digests.
    """
    cache.mkdir(parents=True, exist_ok=True)
    name = f"layer-{size}-{seed}"
    gz_path = cache / f"{name}.gz"
    meta_path = cache / f"{name}.json"
    if gz_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("size") == gz_path.stat().st_size:
            blob = Blob(meta["digest"], meta["size"], DOCKER_LAYER, path=gz_path)
            return Layer(blob, meta["diffId"])
    pool = _random_pool()
    compressor = zlib_gzip_stored()
    h_gz = hashlib.sha256()
    h_raw = hashlib.sha256()
    tmp = gz_path.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as out:
        written = 0
        block_no = 0
        while written < size:
            n = min(_BLOCK, size - written)
            prefix = hashlib.sha512(f"{seed}/{block_no}".encode()).digest()
            offset = (block_no * 7919 * 4096 + seed * 104729) % (_POOL_SIZE - _BLOCK)
            chunk = (prefix + pool[offset : offset + n])[:n]
            h_raw.update(chunk)
            piece = compressor.compress(chunk)
            h_gz.update(piece)
            out.write(piece)
            written += n
            block_no += 1
        piece = compressor.flush()
        h_gz.update(piece)
        out.write(piece)
    os.replace(tmp, gz_path)
    gz_size = gz_path.stat().st_size
    digest = "sha256:" + h_gz.hexdigest()
    diff_id = "sha256:" + h_raw.hexdigest()
    meta_path.write_text(json.dumps({"size": gz_size, "digest": digest, "diffId": diff_id}))
    return Layer(Blob(digest, gz_size, DOCKER_LAYER, path=gz_path), diff_id)


def zlib_gzip_stored() -> zlib._Compress:  # level 0: stored blocks, no CPU spent compressing
    return zlib.compressobj(level=0, wbits=31)  # wbits 31: gzip header and CRC trailer


def make_image(layers: Iterable[Layer]) -> Image:
    """A Docker schema2 image of these layers with a minimal (valid) config."""
    layers = tuple(layers)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        },
        separators=(",", ":"),
    ).encode()
    config_blob = Blob(sha256_digest(config), len(config), DOCKER_CONFIG, data=config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": config_blob.descriptor(),
            "layers": [layer.blob.descriptor() for layer in layers],
        },
        indent=3,
    ).encode()
    return Image(config_blob, layers, manifest, sha256_digest(manifest))


def split_host(host: str) -> tuple[str, int]:
    name, _, port = host.rpartition(":")
    return name, int(port)


_tls: ssl.SSLContext | None = None


def use_tls(ca_file: Path | None) -> None:
    """Reach every registry over https trusting ``ca_file`` (None: plain http, the default)."""
    global _tls  # noqa: PLW0603 - one setting for the whole benchmark run of a scheme
    _tls = None if ca_file is None else ssl.create_default_context(cafile=str(ca_file))


def scheme() -> str:
    return "http" if _tls is None else "https"


def connection(host: str, timeout: float = 300.0) -> http.client.HTTPConnection:
    name, port = split_host(host)
    if _tls is not None:
        return http.client.HTTPSConnection(name, port, timeout=timeout, context=_tls, blocksize=MiB)
    return http.client.HTTPConnection(name, port, timeout=timeout, blocksize=MiB)


def _request(
    conn: http.client.HTTPConnection,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn.request(method, target, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, resp.headers, data


def start_upload(conn: http.client.HTTPConnection, repo: str) -> str:
    status, headers, body = _request(conn, "POST", f"/v2/{repo}/blobs/uploads/", {"Content-Length": "0"})
    if status != 202 or not headers.get("Location"):
        raise BenchError(f"POST upload {repo}: HTTP {status} {body[:200]!r}")
    return str(headers["Location"])


class Pusher:
    """Push benchmark images to a registry: ``jobs`` blobs in parallel, manifest last (the
    project's one pusher, :class:`ecr_replicate_local.registry_pusher.Pusher`, layers sent from
    their files with ``sendfile``)."""

    def __init__(self, host: str, jobs: int = 4) -> None:
        self.host = host
        self.jobs = jobs
        self.registry = registry_pusher(host)

    def push_blob(self, repo: str, blob: Blob) -> bool:
        """Upload ``blob`` unless present; True if bytes were sent."""
        if blob.path is not None:
            return self.registry.push_blob_file(repo, blob.path, blob.digest, blob.size)
        assert blob.data is not None
        if self.registry.blob_exists(repo, blob.digest):
            return False
        self.registry.push_blob(repo, blob.data)
        return True

    def push_blobs(self, image: Image, repo: str) -> None:
        """Upload every blob of ``image`` that ``repo`` lacks (``jobs`` in parallel); no manifest."""
        with ThreadPoolExecutor(self.jobs) as pool:
            list(pool.map(lambda b: self.push_blob(repo, b), image.blobs))

    def push(self, image: Image, repo: str, tag: str) -> str:
        self.push_blobs(image, repo)
        put_manifest(self.host, repo, tag, image.manifest, DOCKER_MANIFEST)
        return image.digest


def registry_pusher(host: str) -> RegistryPusher:
    """The shared pusher for ``host``, over the scheme :func:`use_tls` chose."""
    return RegistryPusher(host, timeout=300.0, context=_tls)


def put_manifest(host: str, repo: str, ref: str, manifest: bytes, media_type: str) -> None:
    try:
        registry_pusher(host).push_manifest(repo, ref, manifest, media_type)
    except PushError as exc:
        raise BenchError(f"PUT manifest {repo}:{ref}: {exc}") from None


def manifest_digest(host: str, repo: str, ref: str) -> str | None:
    """``Docker-Content-Digest`` of a HEAD on the manifest, or None if absent."""
    conn = connection(host, timeout=30)
    try:
        status, headers, _ = _request(
            conn, "HEAD", f"/v2/{repo}/manifests/{ref}", {"Accept": MANIFEST_ACCEPT}
        )
    finally:
        conn.close()
    return headers.get("Docker-Content-Digest") if status == 200 else None


def verify_copy(host: str, repo: str, ref: str, image: Image) -> None:
    """The target serves ``image``: manifest digest equal to the source's, every blob at its size."""
    got = manifest_digest(host, repo, ref)
    if got != image.digest:
        raise BenchError(f"{host}/{repo}:{ref} has digest {got}, expected {image.digest}")
    conn = connection(host, timeout=30)
    try:
        for blob in image.blobs:
            status, headers, _ = _request(conn, "HEAD", f"/v2/{repo}/blobs/{blob.digest}")
            if status != 200 or headers.get("Content-Length") != str(blob.size):
                raise BenchError(f"{host}/{repo}: blob {blob.digest} missing or wrong size")
    finally:
        conn.close()
