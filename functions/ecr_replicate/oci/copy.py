"""copy_image(): digest-exact registry-to-registry copy of one image (and its referrers).

Order: resolve the source once (the target's tag is looked up at the same time: a warm copy is
those two requests) -> walk manifests (limits, cycles) -> copy every blob once, in parallel
(HEAD, mount, stream) -> put child manifests and the root by digest -> copy referrers -> guard ->
put the root under its tag, last. So a tag in the target means the whole image and the
signatures found with it are there; a later signature comes with its own push. The source's
referrers are looked up while the blobs are copied (on threads of their own), so the tag waits
for their copy, not for their discovery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ecr_replicate.errors import InvalidInputError, ReplicationError, UnsupportedManifestError
from ecr_replicate.oci.auth import CredentialProvider
from ecr_replicate.oci.blobs import BlobRoute, copy_blob
from ecr_replicate.oci.copy_report import COPIED, SUPERSEDED, CopyProgress, CopyResult, ProgressCallback
from ecr_replicate.oci.deadline import Deadline
from ecr_replicate.oci.manifest_calls import fetch_manifest, head_manifest, newer_push, put_manifest
from ecr_replicate.oci.manifest_tree import walk
from ecr_replicate.oci.manifests import Descriptor, Manifest
from ecr_replicate.oci.reference import Reference, parse_reference, validate_digest
from ecr_replicate.oci.referrers import MAX_REFERRERS, MAX_SUBJECTS, Discovery, discover, tolerated
from ecr_replicate.oci.registry_config import HTTPS, RegistryConfig, per_host
from ecr_replicate.oci.transport import RetryPolicy, Transport

logger = logging.getLogger(__name__)

DEFAULT_JOBS = 4
MAX_JOBS = 64  # the deployment's COPY_JOBS bound too: each job holds connections to both registries
MAX_TAG_RESTORES = 3
ABORT_GRACE = 2.0  # seconds an interrupted copy waits for its blob threads to end


class Concurrent:
    """``fn(*args, **kwargs)`` started in a thread now; ``result()`` returns its value or raises.

    Start one with :meth:`_Copier.look_up`: the copier's ``close()`` waits for every look-up (an
    interrupted copy shuts their sockets first), so none outlives the copy.
    """

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

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


@dataclass
class _Counts:
    copied: int = 0
    skipped: int = 0
    mounted: int = 0
    bytes: int = 0
    manifests: int = 0
    referrers: int = 0


class _Copier:
    """State of one copy_image() call: shared transport, blob futures, counters, warnings."""

    def __init__(self, transport: Transport, jobs: int, progress: ProgressCallback | None) -> None:
        self.transport = transport
        self.progress = progress
        self.lock = threading.Lock()
        self.blob_futures: dict[tuple[str, str], Future[str]] = {}
        self.counts = _Counts()
        self.warnings: list[str] = []
        self.jobs = jobs
        self.executor = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="blob")
        self.lookups: list[Concurrent] = []  # requests running beside the main thread's (look_up)

    def close(self, *, interrupted: bool = False) -> None:
        """Wait for the blob and look-up threads; ``interrupted`` (Ctrl-C): end their requests and
        wait at most ABORT_GRACE, so the person at the terminal is not kept waiting for a slow stream."""
        if not interrupted:
            self.executor.shutdown(wait=True, cancel_futures=True)
            for lookup in self.lookups:
                lookup.join()
            return
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.transport.abort()
        with self.lock:
            running = list(self.blob_futures.values())
        grace_ends = time.monotonic() + ABORT_GRACE
        wait(running, timeout=ABORT_GRACE)
        for lookup in self.lookups:
            lookup.join(max(0.0, grace_ends - time.monotonic()))

    def look_up(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Concurrent:
        """Run ``fn`` beside the copy; :meth:`close` waits for it (or, interrupted, ends it)."""
        lookup = Concurrent(fn, *args, **kwargs)
        self.lookups.append(lookup)
        return lookup

    def emit(self, event: str, digest: str, size: int = 0, moved: int = 0, repository: str = "") -> None:
        if self.progress is not None:
            self.progress(CopyProgress(event, digest, size, moved, repository))

    def warn(self, message: str) -> None:
        logger.warning("%s", message)
        with self.lock:
            self.warnings.append(message)

    def _blob_event(self, repository: str) -> Callable[[str, Descriptor, int], None]:
        def on_event(kind: str, desc: Descriptor, moved: int) -> None:
            with self.lock:
                if kind == "progress":
                    self.counts.bytes += moved
                elif kind == "done":
                    self.counts.copied += 1
                elif kind == "skipped":
                    self.counts.skipped += 1
                elif kind == "mounted":
                    self.counts.mounted += 1
            self.emit(f"blob-{kind}", desc.digest, desc.size, moved if kind == "progress" else 0, repository)

        return on_event

    def copy_blobs(self, route: BlobRoute, blobs: list[Descriptor]) -> None:
        futures: list[Future[str]] = []
        on_event = self._blob_event(route.target.repository)
        with self.lock:
            for desc in blobs:
                key = (f"{route.target.host}/{route.target.repository}", desc.digest)
                future = self.blob_futures.get(key)
                if future is None:
                    future = self.executor.submit(copy_blob, self.transport, route, desc, on_event)
                    self.blob_futures[key] = future
                futures.append(future)
        if not futures:
            return
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            error = future.exception()
            if error is not None:
                for other in pending:
                    other.cancel()
                raise error

    def put(self, target: Reference, manifest: Manifest, reference: str) -> None:
        """PUT a manifest; by digest it is a manifest copied, by tag the tag is set."""
        put_manifest(self.transport, target, manifest, reference)
        if reference == manifest.digest:
            with self.lock:
                self.counts.manifests += 1
            self.emit("manifest-put", manifest.digest, len(manifest.body), 0, target.repository)

    def copy(
        self, source: Reference, target: Reference, digest: str | None, guard: bool, referrers: bool
    ) -> tuple[str, Manifest, bool]:
        """Copy one image; returns (status, root manifest, tagged)."""
        tag = target.tag
        root, target_tagged = self.resolve(source, target, digest)
        if target_tagged:  # warm: the target's tag already names this exact image
            self.emit("tagged", root.digest, 0, 0, target.repository)
            return COPIED, root, True
        lookup: Concurrent | None = None
        if referrers:
            subjects = [root.digest, *(child.digest for child in root.children)]
            lookup = self.look_up(self.discover_referrers, source, subjects)
        by_digest = target.with_tag(None).with_digest(root.digest)
        present = head_manifest(self.transport, by_digest, root.digest, push=True) == root.digest
        if not present:
            tree = walk(self.transport, source, root, target)
            blobs: dict[str, Descriptor] = {}
            for manifest in tree:
                for desc in manifest.blobs:
                    blobs.setdefault(desc.digest, desc)
            self.copy_blobs(BlobRoute(source, target), list(blobs.values()))
            for manifest in tree:  # children first, the root last; tags come after
                self.put(target, manifest, manifest.digest)
        if lookup is not None:
            self.copy_referrers(source, target, lookup.result())
        if tag is None:
            return COPIED, root, False
        if guard:
            newer = newer_push(self.transport, source, tag, root.digest)
            if newer is not None:
                logger.info("source tag %s now points at %s, not %s: superseded", tag, newer, root.digest)
                self.emit("superseded", root.digest, 0, 0, target.repository)
                return SUPERSEDED, root, False
        self.put(target, root, tag)
        if guard and self.restore_newer_tag(source, target, tag, root.digest):
            self.emit("superseded", root.digest, 0, 0, target.repository)
            return SUPERSEDED, root, False
        self.emit("tagged", root.digest, 0, 0, target.repository)
        return COPIED, root, True

    def resolve(self, source: Reference, target: Reference, digest: str | None) -> tuple[Manifest, bool]:
        """The source's root manifest, and whether the target's tag already names its digest.

        The target's tag is looked up while the source manifest is read: one round trip, not two.
        """
        reference = digest or source.reference
        if target.tag is None:
            return fetch_manifest(self.transport, source, reference), False
        by_tag = target.with_digest(None)
        head_tag = self.look_up(head_manifest, self.transport, by_tag, target.tag, push=True)
        root = fetch_manifest(self.transport, source, reference)
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
            current = head_manifest(transport, source_tag, tag)
            if current is None or current == tagged:
                break
            if head_manifest(transport, target_repo, current, push=True) != current:
                break
            newer = fetch_manifest(transport, target_repo, current)
            put_manifest(transport, target_repo, newer, tag)
            logger.info("source tag %s moved to %s while tagging %s: tag restored", tag, current, ours)
            tagged = current
        return tagged != ours

    def discover_referrers(self, source: Reference, subjects: list[str]) -> list[Discovery]:
        """The signature tags and OCI 1.1 referrers of each subject in the source (bounded), on
        threads of their own (the blob threads are busy copying meanwhile)."""
        if len(subjects) > MAX_SUBJECTS:
            self.warn(f"referrers looked up for the first {MAX_SUBJECTS} of {len(subjects)} manifests only")
            subjects = subjects[:MAX_SUBJECTS]
        base_source = source.repository_only()
        workers = min(self.jobs, len(subjects))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="referrers") as pool:
            return list(pool.map(lambda subject: discover(self.transport, base_source, subject), subjects))

    def copy_referrers(self, source: Reference, target: Reference, found: list[Discovery]) -> None:
        """Copy what :meth:`discover_referrers` found (bounded, never fatal unless transient: a
        refused or malformed discovery or copy is a warning)."""
        base_source, base_target = source.repository_only(), target.repository_only()
        budget = MAX_REFERRERS
        done: set[str] = set()
        for discovery in found:
            for message in discovery.warnings:
                self.warn(message)
            jobs: list[tuple[Reference, Reference, str | None]] = [
                (base_source.with_tag(tag), base_target.with_tag(tag), digest)
                for tag, digest in discovery.tags
            ]
            jobs += [(base_source.with_digest(d), base_target.with_digest(d), d) for d in discovery.referrers]
            for src, dst, digest in jobs:
                if digest in done:
                    continue
                if budget == 0:
                    self.warn(f"more than {MAX_REFERRERS} referrers: the rest are not copied")
                    return
                budget -= 1
                done.add(str(digest))
                self.copy_referrer(src, dst, digest, discovery.subject, from_api=src.tag is None)

    def copy_referrer(
        self, source: Reference, target: Reference, digest: str | None, subject: str, *, from_api: bool
    ) -> None:
        try:
            if from_api:
                assert digest is not None
                manifest = fetch_manifest(self.transport, source, digest)
                if manifest.subject != subject:
                    self.warn(
                        f"referrer {digest[:19]} is listed for {subject[:19]} but its subject is "
                        f"{(manifest.subject or 'none')[:19]}: not copied"
                    )
                    return
            self.copy(source, target, digest, guard=False, referrers=False)
        except ReplicationError as exc:
            if not tolerated(exc):
                raise
            self.warn(f"referrer {source} not copied: {exc}"[:300])
            return
        with self.lock:
            self.counts.referrers += 1


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
    timeout: float | None = None,
    transport: Transport | None = None,
) -> CopyResult:
    """Copy one image digest-exactly from ``source`` to ``target`` (see docs/design.md).

    ``source_config``/``target_config``: how each registry is reached (https unless asked).
    ``timeout``: the copy's overall time budget in seconds (None: none; every read is still
    bounded by the transport's read timeout). A ``transport`` given by the caller brings its
    own settings (configs, credentials, retry policy and deadline) and they are not used.
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
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise InvalidInputError(f"jobs {jobs} is outside 1..{MAX_JOBS}")
    workers = jobs or DEFAULT_JOBS
    own_transport = transport is None
    if transport is None:
        transport = Transport(
            credentials=credentials,
            registries=per_host((src.host, source_config), (dst.host, target_config)),
            retry=retry,
            per_host_limit=max(16, 2 * workers + 4),
            deadline=Deadline(timeout),
        )
    copier = _Copier(transport, workers, progress)
    interrupted = False
    try:
        status, root, tagged = copier.copy(
            src, dst, digest, guard_source_tag and dst.tag is not None, referrers
        )
    except (KeyboardInterrupt, SystemExit):
        interrupted = True
        raise
    finally:
        copier.close(interrupted=interrupted)
        if own_transport:
            transport.close()
    counts = copier.counts
    return CopyResult(
        status=status,
        source=src,
        target=dst.with_digest(None) if dst.tag else dst.with_digest(root.digest),
        digest=root.digest,
        media_type=root.media_type,
        tagged=tagged,
        manifests_copied=counts.manifests,
        blobs_copied=counts.copied,
        blobs_skipped=counts.skipped,
        blobs_mounted=counts.mounted,
        bytes_copied=counts.bytes,
        referrers_copied=counts.referrers,
        seconds=time.monotonic() - started,
        platforms=[child.platform for child in root.children if child.platform],
        warnings=list(copier.warnings),
    )


__all__ = [  # the copy's API: copy_image and what it reports, and the helpers dry runs share
    "COPIED",
    "DEFAULT_JOBS",
    "MAX_JOBS",
    "SUPERSEDED",
    "CopyProgress",
    "CopyResult",
    "ProgressCallback",
    "copy_image",
    "newer_push",
    "walk",
]
