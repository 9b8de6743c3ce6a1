"""The layer host's bucket: blobs read straight from a docker-registry's storage directory.

S3 is where ECR keeps layers, not an API in front of ECR: the layer host reads the region
registry's files as S3 reads its own, instead of asking the registry for them over http. The
layout is CNCF distribution's filesystem driver (its ``storage.filesystem.rootdirectory``):

- ``docker/registry/v2/repositories/<name>/_layers/<algorithm>/<hex>/link`` holds the digest
  when the repository has the blob (what distribution checks before serving a blob GET);
- ``docker/registry/v2/blobs/<algorithm>/<first two hex>/<hex>/data`` holds its bytes.

Paths are built only from a repository name and a digest that match ECR's patterns (no ``..``,
no absolute part), the file must resolve under the root and be a regular file (opened without
following a final symlink). A blob that is not linked in the repository is not served.

``Range`` is read as S3 reads it: one range (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``), clipped
to the object; a first byte at or past the end is 416 ``InvalidRange``; anything else (several
ranges, another unit, ``b < a``, not numbers) is ignored and the whole object is sent (200).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ecr_replicate_local.ecr_front.routes import DIGEST, valid_repository_name

CHUNK = 4 << 20  # the piece a blob is read and handed to the TLS socket in
REGISTRY_PREFIX = Path("docker", "registry", "v2")
MAX_LINK_BYTES = 256
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class Unsatisfiable(Exception):  # noqa: N818 - S3's InvalidRange, raised by byte_range
    """The range starts at or past the end of the object."""


class BlobShrank(Exception):  # noqa: N818
    """The file ended before the length the answer announced (it changed while being sent)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` (inclusive) that ``Range`` asks for, or None for the whole object."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None  # several ranges, another unit, garbage: S3 sends the whole object
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0:
            raise Unsatisfiable
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise Unsatisfiable
    return start, min(end, size - 1)


@dataclass
class BlobFile:
    """An open blob file (its descriptor) and its size."""

    fd: int
    size: int

    def part(self, first: int, length: int) -> BlobBody:
        return BlobBody(self, first, length)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


class BlobBody:
    """``length`` bytes of a blob from ``first``, as a WSGI iterable of pieces of at most CHUNK;
    the file is closed at the end, or by ``close()`` (which WSGI servers call) if never read."""

    def __init__(self, blob: BlobFile, first: int, length: int) -> None:
        self._blob = blob
        self._first = first
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        try:
            offset, remaining = self._first, self._length
            while remaining > 0:
                data = os.pread(self._blob.fd, min(CHUNK, remaining), offset)
                if not data:
                    raise BlobShrank(f"blob file ended {remaining} bytes early")
                offset += len(data)
                remaining -= len(data)
                yield data
        finally:
            self.close()

    def close(self) -> None:
        self._blob.close()


class BlobStore:
    """The blobs of one registry's storage directory (read only)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._base = self.root / REGISTRY_PREFIX

    def _inside(self, path: Path) -> bool:
        real_root = os.path.realpath(self._base)
        return os.path.realpath(path).startswith(real_root + os.sep)

    def linked(self, repository: str, digest: str) -> bool:
        """True when ``repository`` has the blob (distribution's layer link names the digest)."""
        algorithm, hexdigest = _checked(repository, digest)
        link = self._base / "repositories" / repository / "_layers" / algorithm / hexdigest / "link"
        if not self._inside(link):
            return False
        try:
            fd = os.open(link, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            return (
                stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, MAX_LINK_BYTES).strip() == digest.encode()
            )
        finally:
            os.close(fd)

    def open(self, repository: str, digest: str) -> BlobFile | None:
        """The blob's file, if ``repository`` has it and it is a regular file under the root."""
        if not self.linked(repository, digest):
            return None
        algorithm, hexdigest = _checked(repository, digest)
        data = self._base / "blobs" / algorithm / hexdigest[:2] / hexdigest / "data"
        if not self._inside(data):
            return None
        try:
            fd = os.open(data, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        return BlobFile(fd, info.st_size)


def _checked(repository: str, digest: str) -> tuple[str, str]:
    """(algorithm, hex) of a digest, once name and digest are known to be safe path parts."""
    if not valid_repository_name(repository) or not DIGEST.fullmatch(digest):
        raise ValueError("not a repository name and digest")
    algorithm, _, hexdigest = digest.partition(":")
    return algorithm, hexdigest
