"""copy_image(): digest-exact registry-to-registry copy of one image (and its referrers).

Order: resolve the source once -> walk manifests (limits, cycles) -> copy every blob once, in
parallel (HEAD, mount, stream) -> put child manifests -> guard -> put the root under its tag.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ecr_replicate.errors import UnsupportedManifestError
from ecr_replicate.oci import api
from ecr_replicate.oci.blobs import BlobRoute, copy_blob
from ecr_replicate.oci.lazy_logging import get_logger
from ecr_replicate.oci.manifests import MAX_INDEX_DEPTH, MAX_MANIFESTS, Descriptor, Manifest
from ecr_replicate.oci.reference import Reference, parse_reference, validate_digest
from ecr_replicate.oci.registry_config import HTTPS, RegistryConfig, per_host
from ecr_replicate.oci.transport import RetryPolicy, Transport

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor
    from typing import Any

    from ecr_replicate.oci.auth import CredentialProvider

logger = get_logger(__name__)  # logging.getLogger, imported when a record can be emitted

DEFAULT_JOBS = 4
REFERRER_TAG_SUFFIXES = (".sig", ".att", ".sbom")
MAX_TAG_RESTORES = 3
COPIED = "COPIED"
SUPERSEDED = "SUPERSEDED"


class CopyProgress:
    """One progress event.

    ``event``: blob-started | blob-progress | blob-done | blob-skipped | blob-mounted |
    manifest-put | tagged | superseded. ``bytes`` is the delta moved by this event.
    """

    __slots__ = ("bytes", "digest", "event", "repository", "size")

    def __init__(self, event: str, digest: str, size: int = 0, bytes: int = 0, repository: str = "") -> None:
        self.event = event
        self.digest = digest
        self.size = size
        self.bytes = bytes
        self.repository = repository

    def __repr__(self) -> str:
        fields = (self.event, self.digest, self.size, self.bytes, self.repository)
        return f"CopyProgress{fields!r}"


class CopyResult:
    """What one copy_image() call did (``to_dict()`` is the camelCase contract)."""

    def __init__(
        self,
        *,
        status: str,
        source: str,
        target: str,
        digest: str,
        media_type: str,
        tagged: bool = False,
        manifests_copied: int = 0,
        blobs_copied: int = 0,
        blobs_skipped: int = 0,
        blobs_mounted: int = 0,
        bytes_copied: int = 0,
        referrers_copied: int = 0,
        seconds: float = 0.0,
        platforms: list[str] | None = None,
    ) -> None:
        self.status = status
        self.source = source
        self.target = target
        self.digest = digest
        self.media_type = media_type
        self.tagged = tagged
        self.manifests_copied = manifests_copied
        self.blobs_copied = blobs_copied
        self.blobs_skipped = blobs_skipped
        self.blobs_mounted = blobs_mounted
        self.bytes_copied = bytes_copied
        self.referrers_copied = referrers_copied
        self.seconds = seconds
        self.platforms = platforms or []

    def __repr__(self) -> str:
        return f"CopyResult({self.to_dict()!r})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "source": self.source,
            "target": self.target,
            "digest": self.digest,
            "mediaType": self.media_type,
            "tagged": self.tagged,
            "manifestsCopied": self.manifests_copied,
            "blobsCopied": self.blobs_copied,
            "blobsSkipped": self.blobs_skipped,
            "blobsMounted": self.blobs_mounted,
            "bytesCopied": self.bytes_copied,
            "referrersCopied": self.referrers_copied,
            "seconds": round(self.seconds, 3),
        }


ProgressCallback = Callable[[CopyProgress], None]


def newer_push(transport: Transport, source: Reference, tag: str, digest: str) -> str | None:
    """The newer-push-wins decision: None while the source's ``tag`` still names ``digest``, else
    the digest it names now ("" when the tag is gone): a newer push owns the tag, and copying
    ``digest`` under it would be superseded. Dry runs ask the same question (``dryrun.py``)."""
    current = api.head_manifest(transport, source.with_digest(None), tag)
    return None if current == digest else (current or "")


def walk(
    transport: Transport,
    source: Reference,
    root: Manifest,
    target: Reference | None = None,
) -> list[Manifest]:
    """Manifests of the tree, children before parents (root last), each digest once.

    With ``target``, subtrees whose manifest the target already has are not descended into.
    """
    ordered: list[Manifest] = []
    seen: set[str] = set()

    def visit(manifest: Manifest, path: tuple[str, ...]) -> None:
        if len(path) > MAX_INDEX_DEPTH:
            raise UnsupportedManifestError(
                f"index nesting deeper than {MAX_INDEX_DEPTH} at {manifest.digest}"
            )
        for child in manifest.children:
            if child.digest in path:
                raise UnsupportedManifestError(f"manifest cycle through {child.digest}")
            if child.digest in seen:
                continue
            seen.add(child.digest)
            if len(seen) > MAX_MANIFESTS:
                raise UnsupportedManifestError(f"more than {MAX_MANIFESTS} manifests in one image")
            if target is not None and api.head_manifest(transport, target, child.digest, push=True):
                continue
            visit(api.fetch_manifest(transport, source, child.digest), (*path, child.digest))
        ordered.append(manifest)

    seen.add(root.digest)
    visit(root, (root.digest,))
    return ordered


class Concurrent:
    """``fn(*args, **kwargs)`` started in a thread now; ``result()`` returns its value or raises.

    As a context manager, leaving the block waits for the thread, also when the block raises:
    that error is the one reported, and no look-up outlives the copy.
    """

    __slots__ = ("_error", "_thread", "_value")

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller of result()
                self._error = exc

        self._thread = threading.Thread(target=run, name="lookup", daemon=True)
        self._thread.start()

    def __enter__(self) -> Concurrent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class _Copier:
    """State of one copy_image() call: shared transport, blob futures, counters."""

    def __init__(self, transport: Transport, jobs: int, progress: ProgressCallback | None) -> None:
        self.transport = transport
        self.jobs = jobs
        self.progress = progress
        self.lock = threading.Lock()
        self.blob_futures: dict[tuple[str, str], Future[str]] = {}
        self.counts = {"copied": 0, "skipped": 0, "mounted": 0, "bytes": 0, "manifests": 0, "referrers": 0}
        self.executor: ThreadPoolExecutor | None = None  # started by the first blob (a warm copy has none)

    def _pool(self) -> ThreadPoolExecutor:
        if self.executor is None:
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - imports logging

            self.executor = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="blob")
        return self.executor

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def emit(self, event: str, digest: str, size: int = 0, moved: int = 0, repository: str = "") -> None:
        if self.progress is not None:
            self.progress(CopyProgress(event, digest, size, moved, repository))

    def _blob_event(self, repository: str) -> Callable[[str, Descriptor, int], None]:
        def on_event(kind: str, desc: Descriptor, moved: int) -> None:
            if kind == "progress":
                with self.lock:
                    self.counts["bytes"] += moved
            elif kind in ("skipped", "mounted", "done"):
                with self.lock:
                    self.counts["copied" if kind == "done" else kind] += 1
            self.emit(f"blob-{kind}", desc.digest, desc.size, moved if kind == "progress" else 0, repository)

        return on_event

    def copy_blobs(self, route: BlobRoute, blobs: list[Descriptor]) -> None:
        futures: list[Future[str]] = []
        on_event = self._blob_event(route.target.repository)
        with self.lock:
            for desc in blobs:
                key = (route.target.host + "/" + route.target.repository, desc.digest)
                future = self.blob_futures.get(key)
                if future is None:
                    future = self._pool().submit(copy_blob, self.transport, route, desc, on_event)
                    self.blob_futures[key] = future
                futures.append(future)
        if not futures:
            return
        from concurrent.futures import FIRST_EXCEPTION, wait  # noqa: PLC0415 - loaded with the pool

        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            error = future.exception()
            if error is not None:
                for other in pending:
                    other.cancel()
                raise error

    def copy(
        self,
        source: Reference,
        target: Reference,
        digest: str | None,
        guard: bool,
    ) -> tuple[str, Manifest, bool, list[Manifest]]:
        """Copy one image; returns (status, root manifest, tagged, manifests of the tree)."""
        transport = self.transport
        tag = target.tag
        root, target_tagged = self.resolve(source, target, digest)
        if target_tagged:  # warm: the target's tag already names this exact image
            self.emit("tagged", root.digest, 0, 0, target.repository)
            return COPIED, root, True, [root]
        present = api.head_manifest(transport, target, root.digest, push=True) is not None
        tree = [root] if present else walk(transport, source, root, target)
        if not present:
            blobs: dict[str, Descriptor] = {}
            for manifest in tree:
                for desc in manifest.blobs:
                    blobs.setdefault(desc.digest, desc)
            self.copy_blobs(BlobRoute(source, target), list(blobs.values()))
            for manifest in tree[:-1]:
                api.put_manifest(transport, target, manifest, manifest.digest)
                with self.lock:
                    self.counts["manifests"] += 1
                self.emit("manifest-put", manifest.digest, len(manifest.body), 0, target.repository)
        if tag is None:
            if not present:
                api.put_manifest(transport, target, root, root.digest)
                with self.lock:
                    self.counts["manifests"] += 1
                self.emit("manifest-put", root.digest, len(root.body), 0, target.repository)
            return COPIED, root, False, tree
        if guard:
            newer = newer_push(transport, source, tag, root.digest)
            if newer is not None:
                logger.info("source tag %s now points at %s, not %s: superseded", tag, newer, root.digest)
                self.emit("superseded", root.digest, 0, 0, target.repository)
                return SUPERSEDED, root, False, tree
        api.put_manifest(transport, target, root, tag)
        with self.lock:
            self.counts["manifests"] += 1
        self.emit("manifest-put", root.digest, len(root.body), 0, target.repository)
        if guard and self.restore_newer_tag(source, target, tag, root.digest):
            self.emit("superseded", root.digest, 0, 0, target.repository)
            return SUPERSEDED, root, False, tree
        self.emit("tagged", root.digest, 0, 0, target.repository)
        return COPIED, root, True, tree

    def resolve(self, source: Reference, target: Reference, digest: str | None) -> tuple[Manifest, bool]:
        """The source's root manifest, and whether the target's tag already names its digest.

        The target's tag is looked up while the source manifest is read: one round trip, not two.
        """
        reference = digest or source.reference
        if target.tag is None:
            return api.fetch_manifest(self.transport, source, reference), False
        by_tag = target.with_digest(None)
        with Concurrent(api.head_manifest, self.transport, by_tag, target.tag, push=True) as head_tag:
            root = api.fetch_manifest(self.transport, source, reference)
        return root, head_tag.result() == root.digest

    def restore_newer_tag(self, source: Reference, target: Reference, tag: str, ours: str) -> bool:
        """Close the check-then-tag window of the guard; True when a newer push owns the tag.

        Between our guard check and our tag PUT, a newer push may have moved the source tag and its
        own run may already have tagged the target: our PUT would then leave the tag on the older
        digest. So after tagging, look at the source tag again; if it moved to a digest the target
        already holds, put the tag back on that digest (repeat, bounded, while pushes keep coming).
        If the target does not hold it yet, the newer run has not tagged yet and will tag last.
        """
        transport = self.transport
        source_tag, target_repo = source.with_digest(None), target.with_digest(None)
        tagged = ours
        for _ in range(MAX_TAG_RESTORES):
            current = api.head_manifest(transport, source_tag, tag)
            if current is None or current == tagged:
                break
            if api.head_manifest(transport, target_repo, current, push=True) is None:
                break
            newer = api.fetch_manifest(transport, target_repo, current)
            api.put_manifest(transport, target_repo, newer, tag)
            logger.info("source tag %s moved to %s while tagging %s: tag restored", tag, current, ours)
            tagged = current
        return tagged != ours

    def copy_referrers(self, source: Reference, target: Reference, subjects: list[str]) -> None:
        """Copy cosign-style ``sha256-<hex>.sig/.att/.sbom`` tags and OCI 1.1 referrers."""
        base_source, base_target = (
            source.with_digest(None).with_tag(None),
            target.with_digest(None).with_tag(None),
        )
        if not subjects:
            return
        # the tag list and the first subject's referrers are asked for at once
        with Concurrent(api.list_referrers, self.transport, base_source, subjects[0]) as first:
            tags = set(api.list_tags(self.transport, base_source))
        done: set[str] = set()
        referrers_api = True  # until the source answers that it has none (404/400)
        for index, subject in enumerate(subjects):
            algorithm, _, encoded = subject.partition(":")
            for suffix in REFERRER_TAG_SUFFIXES:
                tag = f"{algorithm}-{encoded}{suffix}"
                if tag in tags:
                    self.copy(base_source.with_tag(tag), base_target.with_tag(tag), None, False)
                    with self.lock:
                        self.counts["referrers"] += 1
            if index == 0:
                found = first.result()
            else:
                found = api.list_referrers(self.transport, base_source, subject) if referrers_api else None
            referrers_api = found is not None
            for referrer in found or []:
                if referrer in done:
                    continue
                done.add(referrer)
                self.copy(
                    base_source.with_digest(referrer), base_target.with_digest(referrer), referrer, False
                )
                with self.lock:
                    self.counts["referrers"] += 1


def copy_image(
    source: str | Reference,
    target: str | Reference,
    *,
    digest: str | None = None,
    guard_source_tag: bool = False,
    jobs: int | None = None,
    source_config: RegistryConfig = HTTPS,
    target_config: RegistryConfig = HTTPS,
    credentials: CredentialProvider | None = None,
    referrers: bool = True,
    progress: ProgressCallback | None = None,
    retry: RetryPolicy | None = None,
    transport: Transport | None = None,
) -> CopyResult:
    """Copy one image digest-exactly from ``source`` to ``target`` (see docs/design.md).

    ``source_config``/``target_config``: how each registry is reached (https unless asked).
    A ``transport`` given by the caller brings its own settings and they are not used.
    """
    started = time.monotonic()
    src = parse_reference(source)
    dst = parse_reference(target)
    if digest is not None:
        validate_digest(digest)
    elif src.digest is not None:
        digest = src.digest
    if dst.digest is not None and digest is not None and dst.digest != digest:
        raise UnsupportedManifestError(f"target digest {dst.digest} differs from the source digest {digest}")
    workers = max(1, jobs or DEFAULT_JOBS)
    own_transport = transport is None
    if transport is None:
        transport = Transport(
            credentials=credentials,
            registries=per_host((src.host, source_config), (dst.host, target_config)),
            retry=retry,
            per_host_limit=max(16, 2 * workers + 4),
        )
    copier = _Copier(transport, workers, progress)
    try:
        status, root, tagged, _tree = copier.copy(src, dst, digest, guard_source_tag and dst.tag is not None)
        if referrers and status == COPIED:
            subjects = [root.digest] + [child.digest for child in root.children]
            copier.copy_referrers(src, dst, subjects)
    finally:
        copier.close()
        if own_transport:
            transport.close()
    counts = copier.counts
    return CopyResult(
        status=status,
        source=str(src),
        target=str(dst.with_digest(None)) if dst.tag else str(dst.with_digest(root.digest)),
        digest=root.digest,
        media_type=root.media_type,
        tagged=tagged,
        manifests_copied=counts["manifests"],
        blobs_copied=counts["copied"],
        blobs_skipped=counts["skipped"],
        blobs_mounted=counts["mounted"],
        bytes_copied=counts["bytes"],
        referrers_copied=counts["referrers"],
        seconds=time.monotonic() - started,
        platforms=[child.platform for child in root.children if child.platform],
    )
