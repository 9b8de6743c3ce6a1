"""Synthesise images in code and push them to a registry (tests, the demo, the benchmarks).

Pushed by :class:`ecr_replicate_local.registry_pusher.Pusher`, independent of
``ecr_replicate.oci`` on purpose, so the copier is tested against images it did not write.
Kinds: Docker schema2 and OCI manifests, Docker manifest lists and OCI indexes, uncompressed
layers, cosign-style ``sha256-<hex>.sig`` tags, artifacts with an unknown config media type,
and large images streamed layer by layer (:func:`push_large_image`, never holding a layer in
memory).
"""

from __future__ import annotations

import hashlib
import json
import random
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecr_replicate_local.registry_pusher import Pusher, sha256

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
COSIGN_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"
UNKNOWN_CONFIG = "application/vnd.example.unknown.config.v1+json"
CHUNK = 1 << 20

FORMATS = {
    "docker": (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_LIST),
    "oci": (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_INDEX),
}


@dataclass
class PushedImage:
    """What was pushed: enough to check a copy (digest, manifest bytes, blobs)."""

    host: str
    repository: str
    tag: str | None
    digest: str
    media_type: str
    manifest: bytes
    blobs: list[tuple[str, int]] = field(default_factory=list)
    children: list[PushedImage] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """``host/repo:tag`` when tagged, else ``host/repo@digest``."""
        base = f"{self.host}/{self.repository}"
        return f"{base}:{self.tag}" if self.tag else f"{base}@{self.digest}"

    @property
    def digest_ref(self) -> str:
        return f"{self.host}/{self.repository}@{self.digest}"

    def all_blobs(self) -> dict[str, int]:
        """Every blob digest -> size, across children, each once."""
        found = dict(self.blobs)
        for child in self.children:
            found.update(child.all_blobs())
        return found


def random_bytes(size: int, rng: random.Random) -> bytes:
    return rng.randbytes(size)


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def _rng(seed: int | None) -> random.Random:
    # test data, not secrets: a seedable generator is the point
    return random.Random(seed) if seed is not None else random.Random()  # noqa: S311


def _manifest_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, indent=3).encode()


def _config(diff_ids: list[str], platform: tuple[str, str], rng: random.Random) -> bytes:
    config = {
        "architecture": platform[1],
        "os": platform[0],
        "created": "2026-01-01T00:00:00Z",
        "config": {"Env": [f"SAMPLE={rng.getrandbits(64):x}"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(config).encode()


def push_image(
    host: str,
    repository: str,
    tag: str | None = "latest",
    *,
    fmt: str = "docker",
    layer_count: int = 2,
    layer_size: int = 2048,
    layers: Sequence[bytes] | None = None,
    compressed: bool = True,
    config: bytes | None = None,
    config_media_type: str | None = None,
    layer_media_type: str | None = None,
    platform: tuple[str, str] = ("linux", "amd64"),
    subject: PushedImage | None = None,
    seed: int | None = None,
    pusher: Pusher | None = None,
) -> PushedImage:
    """Push an image of random layers (or the given layer blobs); returns what was pushed."""
    client = pusher or Pusher(host)
    rng = _rng(seed)
    manifest_type, default_config_type, gzip_type, tar_type, _ = FORMATS[fmt]
    if layers is None:
        raw_layers = [random_bytes(layer_size, rng) for _ in range(layer_count)]
        layers = [gzip_bytes(raw) for raw in raw_layers] if compressed else raw_layers
        diff_ids = [sha256(raw) for raw in raw_layers]
    else:
        diff_ids = [sha256(layer) for layer in layers]
    blob_type = layer_media_type or (gzip_type if compressed else tar_type)
    config_body = config if config is not None else _config(diff_ids, platform, rng)
    config_digest, config_size = client.push_blob(repository, config_body)
    layer_descs = []
    blobs = [(config_digest, config_size)]
    for layer in layers:
        digest, size = client.push_blob(repository, layer)
        layer_descs.append({"mediaType": blob_type, "digest": digest, "size": size})
        blobs.append((digest, size))
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {
            "mediaType": config_media_type or default_config_type,
            "digest": config_digest,
            "size": config_size,
        },
        "layers": layer_descs,
    }
    if subject is not None:
        manifest["subject"] = {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": len(subject.manifest),
        }
    body = _manifest_json(manifest)
    digest = sha256(body)
    client.push_manifest(repository, tag or digest, body, manifest_type)
    return PushedImage(host, repository, tag, digest, manifest_type, body, blobs)


def push_index(
    host: str,
    repository: str,
    tag: str | None = "latest",
    *,
    fmt: str = "oci",
    platforms: Sequence[tuple[str, str]] = (("linux", "amd64"), ("linux", "arm64")),
    layer_count: int = 2,
    layer_size: int = 2048,
    shared_layer: bytes | None = None,
    seed: int | None = None,
    pusher: Pusher | None = None,
) -> PushedImage:
    """An OCI index (``fmt="oci"``) or Docker manifest list of one image per platform.

    ``shared_layer`` (a blob) goes into every child, to exercise per-digest deduplication.
    """
    client = pusher or Pusher(host)
    rng = _rng(seed)
    index_type = FORMATS[fmt][4]
    children = []
    for platform in platforms:
        layers = [gzip_bytes(random_bytes(layer_size, rng)) for _ in range(layer_count)]
        if shared_layer is not None:
            layers.append(shared_layer)
        children.append(
            push_image(
                host,
                repository,
                None,
                fmt=fmt,
                layers=layers,
                platform=platform,
                seed=rng.getrandbits(32),
                pusher=client,
            )
        )
    index = {
        "schemaVersion": 2,
        "mediaType": index_type,
        "manifests": [
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": len(child.manifest),
                "platform": {"os": platform[0], "architecture": platform[1]},
            }
            for child, platform in zip(children, platforms, strict=True)
        ],
    }
    body = _manifest_json(index)
    digest = sha256(body)
    client.push_manifest(repository, tag or digest, body, index_type)
    return PushedImage(host, repository, tag, digest, index_type, body, [], children)


def push_artifact(
    host: str,
    repository: str,
    tag: str | None = "artifact",
    *,
    config_media_type: str = UNKNOWN_CONFIG,
    layer_media_type: str = "application/vnd.example.data.v1",
    size: int = 1024,
    seed: int | None = None,
    pusher: Pusher | None = None,
) -> PushedImage:
    """An OCI artifact whose config media type no runtime knows."""
    rng = _rng(seed)
    return push_image(
        host,
        repository,
        tag,
        fmt="oci",
        layers=[random_bytes(size, rng)],
        config=b'{"kind":"example"}',
        config_media_type=config_media_type,
        layer_media_type=layer_media_type,
        pusher=pusher,
    )


def signature_tag(digest: str, suffix: str = ".sig") -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded}{suffix}"


def push_signature(
    host: str, repository: str, subject_digest: str, *, suffix: str = ".sig", pusher: Pusher | None = None
) -> PushedImage:
    """A cosign-style signature: an OCI manifest tagged ``sha256-<hex>.sig`` (payload names the subject)."""
    payload = json.dumps(
        {
            "critical": {
                "image": {"docker-manifest-digest": subject_digest},
                "type": "cosign container image signature",
            }
        }
    ).encode()
    return push_image(
        host,
        repository,
        signature_tag(subject_digest, suffix),
        fmt="oci",
        layers=[payload],
        config=b"{}",
        layer_media_type=COSIGN_LAYER,
        pusher=pusher,
    )


def _layer_chunks(size: int, rng: random.Random, compressed: bool, diff: Any) -> Iterator[bytes]:
    """Random data in 1 MiB chunks, gzip-wrapped with stored blocks (cheap, incompressible)."""
    compressor = zlib.compressobj(0, zlib.DEFLATED, 31) if compressed else None
    remaining = size
    while remaining > 0:
        raw = rng.randbytes(min(CHUNK, remaining))
        remaining -= len(raw)
        diff.update(raw)
        out = compressor.compress(raw) if compressor is not None else raw
        if out:
            yield out
    if compressor is not None:
        yield compressor.flush()


def push_large_image(
    host: str,
    repository: str,
    tag: str | None = "large",
    *,
    layers: int = 8,
    layer_size: int = 128 * 1024 * 1024,
    compressed: bool = True,
    fmt: str = "docker",
    seed: int | None = None,
    pusher: Pusher | None = None,
) -> PushedImage:
    """N random layers of ``layer_size`` (uncompressed) bytes, each streamed in 1 MiB chunks."""
    client = pusher or Pusher(host)
    rng = _rng(seed)
    manifest_type, config_type, gzip_type, tar_type, _ = FORMATS[fmt]
    descs = []
    diff_ids = []
    blobs = []
    for _ in range(layers):
        diff = hashlib.sha256()
        digest, size = client.push_blob_stream(repository, _layer_chunks(layer_size, rng, compressed, diff))
        diff_ids.append("sha256:" + diff.hexdigest())
        descs.append({"mediaType": gzip_type if compressed else tar_type, "digest": digest, "size": size})
        blobs.append((digest, size))
    config_body = _config(diff_ids, ("linux", "amd64"), rng)
    config_digest, config_size = client.push_blob(repository, config_body)
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config_size},
        "layers": descs,
    }
    body = _manifest_json(manifest)
    digest = sha256(body)
    client.push_manifest(repository, tag or digest, body, manifest_type)
    return PushedImage(
        host, repository, tag, digest, manifest_type, body, [(config_digest, config_size), *blobs]
    )


def add_layer(
    image: PushedImage,
    tag: str | None = None,
    *,
    layer_size: int = 2048,
    seed: int | None = None,
    pusher: Pusher | None = None,
) -> tuple[PushedImage, tuple[str, int]]:
    """A new image = ``image`` (single-platform, pushed by this module) plus one random layer."""
    client = pusher or Pusher(image.host)
    data = json.loads(image.manifest)
    layer = gzip_bytes(random_bytes(layer_size, _rng(seed)))
    digest, size = client.push_blob(image.repository, layer)
    layer_type = data["layers"][0]["mediaType"] if data["layers"] else OCI_LAYER_GZIP
    data["layers"].append({"mediaType": layer_type, "digest": digest, "size": size})
    body = _manifest_json(data)
    new_digest = sha256(body)
    client.push_manifest(image.repository, tag or image.tag or new_digest, body, image.media_type)
    pushed = PushedImage(
        image.host,
        image.repository,
        tag or image.tag,
        new_digest,
        image.media_type,
        body,
        [*image.blobs, (digest, size)],
    )
    return pushed, (digest, size)


__all__ = [
    "PushedImage",
    "Pusher",
    "add_layer",
    "gzip_bytes",
    "push_artifact",
    "push_image",
    "push_index",
    "push_large_image",
    "push_signature",
    "signature_tag",
]
