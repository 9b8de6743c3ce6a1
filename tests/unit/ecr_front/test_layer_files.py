"""The layer host reads blobs from the region registry's storage, as S3 is ECR's storage: only
blobs the repository has, only regular files under the root, ranges as S3 reads them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ecr_replicate_local.ecr_front.blob_store import BlobStore, Unsatisfiable, byte_range
from tests.unit.ecr_front.calls import BLOB, BLOB_DIGEST, push_blob
from tests.unit.ecr_front.conftest import REPO, Rig


def _layer_url(rig: Rig) -> str:
    push_blob(rig, REPO)
    response = rig.request("GET", f"/v2/{REPO}/blobs/{BLOB_DIGEST}")
    assert response.status == 307
    location: str = response.headers["Location"]
    return location


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=10-", (10, 99)),
        ("bytes=90-500", (90, 99)),  # clipped to the object
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),  # a suffix longer than the object: all of it
        ("bytes=5-1", None),  # last before first: S3 sends the whole object
        ("bytes=0-1,5-6", None),  # several ranges: S3 does not support them, sends it whole
        ("items=0-9", None),
        ("bytes=a-b", None),
        ("bytes=-", None),
    ],
)
def test_ranges_are_read_as_s3_reads_them(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_a_range_starting_past_the_end_is_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        byte_range(header, 100)


def test_the_layer_host_serves_from_the_registrys_files_even_with_the_registry_stopped(rig: Rig) -> None:
    url = _layer_url(rig)
    rig.registry.stop()  # S3 is the storage: no request reaches the registry process
    served = rig.http.request("GET", url, retries=False)
    assert served.status == 200 and served.data == BLOB
    assert served.headers["Content-Length"] == str(len(BLOB))
    assert served.headers["ETag"] == f'"{BLOB_DIGEST}"' and served.headers["Server"] == "AmazonS3"


def test_ranges_through_the_layer_host(rig: Rig) -> None:
    url = _layer_url(rig)
    size = len(BLOB)
    tail = rig.http.request("GET", url, headers={"Range": "bytes=-7"}, retries=False)
    assert tail.status == 206 and tail.data == BLOB[-7:]
    assert tail.headers["Content-Range"] == f"bytes {size - 7}-{size - 1}/{size}"
    whole = rig.http.request("GET", url, headers={"Range": "bytes=0-1,4-5"}, retries=False)
    assert whole.status == 200 and whole.data == BLOB
    past = rig.http.request("GET", url, headers={"Range": f"bytes={size}-"}, retries=False)
    assert past.status == 416
    assert past.headers["Content-Range"] == f"bytes */{size}"
    body = past.data.decode()
    assert "<Code>InvalidRange</Code>" in body and f"<ActualObjectSize>{size}</ActualObjectSize>" in body


def test_a_front_without_the_storage_fetches_layers_from_the_registry(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(storage=None)
    url = _layer_url(rig)
    assert rig.http.request("GET", url, retries=False).data == BLOB
    part = rig.http.request("GET", url, headers={"Range": "bytes=3-8"}, retries=False)
    assert part.status == 206 and part.data == BLOB[3:9]


def test_only_blobs_the_repository_has_are_served(rig: Rig) -> None:
    push_blob(rig, REPO)
    store = BlobStore(rig.registry.storage)
    found = store.open(REPO, BLOB_DIGEST)
    assert found is not None and found.size == len(BLOB)
    found.close()
    assert store.open("team/other", BLOB_DIGEST) is None  # the bytes exist, but not in that repository
    assert store.open(REPO, "sha256:" + "0" * 64) is None
    with pytest.raises(ValueError, match="repository name"):
        store.open("../team", BLOB_DIGEST)


def _layout(root: Path, data: bytes, repository: str = "team/app") -> tuple[str, Path, Path]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    hexdigest = digest.split(":", 1)[1]
    base = root / "docker" / "registry" / "v2"
    link = base / "repositories" / repository / "_layers" / "sha256" / hexdigest / "link"
    link.parent.mkdir(parents=True)
    link.write_text(digest)
    blob = base / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data"
    blob.parent.mkdir(parents=True)
    return digest, link, blob


def test_a_blob_file_must_be_a_regular_file_named_by_its_link(tmp_path: Path) -> None:
    data = b"layer"
    digest, link, blob = _layout(tmp_path / "root", data)
    store = BlobStore(tmp_path / "root")
    blob.write_bytes(data)
    served = store.open("team/app", digest)
    assert served is not None
    assert b"".join(served.part(1, 3)) == data[1:4]  # read, then closed
    assert served.fd == -1

    link.write_text("sha256:" + "1" * 64)  # the link names another blob
    assert store.open("team/app", digest) is None
    link.write_text(digest)

    secret = tmp_path / "outside"
    secret.write_bytes(b"not a layer")
    blob.unlink()
    os.symlink(secret, blob)  # a symlink, out of the root
    assert store.open("team/app", digest) is None
    blob.unlink()
    blob.mkdir()  # not a regular file
    assert store.open("team/app", digest) is None
