"""What the source holds and what each target has: the inputs of backfill, verify, reconcile, dry runs.

* The source is listed through ECR's control plane (``DescribeRepositories``, ``DescribeImages``;
  boto3 paginators, page size 1000, the most ECR accepts): it knows push times (``--since``),
  tags and, for an OCI 1.1 referrer, its subject (``subjectManifestDigest``), which the OCI
  distribution API does not. Locally, moto's ECR is that control plane: the webhook bridge
  records every push to the source registry in it, as ECR does on AWS.
* Targets are checked over the registry API: one manifest ``HEAD`` per image and region (a
  digest comparison, no blob read), a few in parallel, over one pooled transport (connections and
  tokens reused from one HEAD to the next).
* What a target holds that the source no longer has is read from the target region's control
  plane (``DescribeImages``): reported, never deleted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from ecr_replicate.ecr import aws_call
from ecr_replicate.errors import ReplicationError
from ecr_replicate.oci.manifest_calls import head_manifest
from ecr_replicate.oci.reference import parse_reference
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate.oci.transport import RetryPolicy, Transport

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000  # ECR's list APIs refuse more
HEAD_JOBS = 8  # manifest HEADs in flight per command (well under BatchGetImage's 2,000/s)


@dataclass(frozen=True)
class SourceImage:
    """One tag of the source (``repository:tag`` -> ``digest``), or one untagged referrer
    (``repository@digest`` with the ``subject`` it refers to)."""

    repository: str
    tag: str | None
    digest: str
    pushed_at: datetime | None = None
    size_bytes: int | None = None
    subject: str | None = None

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest[:19]}"

    @property
    def reference(self) -> str:
        """What to ask a registry for: ``:tag``, or ``@digest`` for an untagged referrer."""
        return f":{self.tag}" if self.tag else f"@{self.digest}"

    @property
    def is_referrer(self) -> bool:
        return self.tag is None and self.subject is not None

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.repository, 1 if self.tag is None else 0, self.tag or "", self.digest)


def matches(value: str, patterns: Sequence[str]) -> bool:
    """Glob match (``fnmatch``, case-sensitive); no pattern matches everything."""
    return not patterns or any(fnmatchcase(value, pattern) for pattern in patterns)


def list_repositories(ecr: Any, patterns: Sequence[str] = ()) -> list[str]:
    names: list[str] = []
    with aws_call("ecr:DescribeRepositories"):
        pages = ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": PAGE_SIZE})
        for page in pages:
            names.extend(str(repo["repositoryName"]) for repo in page.get("repositories", []))
    return sorted(name for name in names if matches(name, patterns))


def _image_details(ecr: Any, repository: str, tag_status: str) -> Iterable[dict[str, Any]]:
    with aws_call("ecr:DescribeImages"):
        pages = ecr.get_paginator("describe_images").paginate(
            repositoryName=repository,
            filter={"tagStatus": tag_status},
            PaginationConfig={"PageSize": PAGE_SIZE},
        )
        for page in pages:
            yield from page.get("imageDetails", [])


def list_images(
    ecr: Any,
    repositories: Sequence[str] = (),
    tags: Sequence[str] = (),
    since: datetime | None = None,
    *,
    referrers: bool = False,
) -> list[SourceImage]:
    """Every tagged image of the matching repositories, one entry per tag, sorted.

    ``since``: only images pushed at or after it. Untagged images (e.g. the platform manifests of
    a multi-arch image) are not listed: they are copied with the index that references them.
    ``referrers``: also every untagged OCI 1.1 referrer whose subject is in its repository (tag
    globs do not apply to referrers: they belong to a digest, not to a tag).
    """
    images: list[SourceImage] = []
    for repository in list_repositories(ecr, repositories):
        found: list[SourceImage] = []
        digests: set[str] = set()
        for detail in _image_details(ecr, repository, "ANY" if referrers else "TAGGED"):
            digest = str(detail["imageDigest"])
            digests.add(digest)
            pushed = detail.get("imagePushedAt")
            if since is not None and (pushed is None or pushed < since):
                continue
            image_tags = detail.get("imageTags") or []
            subject = detail.get("subjectManifestDigest")
            if not image_tags and subject:
                found.append(SourceImage(repository, None, digest, pushed, detail.get("imageSizeInBytes"),
                                         str(subject)))  # fmt: skip
            for tag in image_tags:
                if matches(tag, tags):
                    found.append(
                        SourceImage(repository, str(tag), digest, pushed, detail.get("imageSizeInBytes"))
                    )
        # a referrer whose subject is gone (deleted in the source) has nothing to be copied next to
        images.extend(image for image in found if image.subject is None or image.subject in digests)
    return sorted(images, key=SourceImage.sort_key)


@dataclass(frozen=True)
class TargetTag:
    """A ``repository:tag`` a target region holds."""

    region: str
    repository: str
    tag: str
    digest: str

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}"


def target_only(
    source: Sequence[SourceImage],
    regions: Sequence[str],
    ecr_of: Callable[[str], Any],
    *,
    keep: Callable[[str, str | None], bool],
    repositories: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> list[TargetTag]:
    """Tags each target region holds that the source does not (deleted in the source, or pushed
    to the target directly), in the repositories ``keep(repository, None)`` and tags
    ``keep(repository, tag)`` accept. ``ecr_of(region)``: an ECR client of that region."""
    in_source = {(image.repository, image.tag) for image in source if image.tag is not None}
    extra: list[TargetTag] = []
    for region in regions:
        ecr = ecr_of(region)
        for repository in list_repositories(ecr, repositories):
            if not keep(repository, None):
                continue
            for detail in _image_details(ecr, repository, "TAGGED"):
                for tag in detail.get("imageTags") or []:
                    name = str(tag)
                    if (repository, name) not in in_source and matches(name, tags) and keep(repository, name):
                        extra.append(TargetTag(region, repository, name, str(detail["imageDigest"])))
    return sorted(extra, key=lambda t: (list(regions).index(t.region), t.repository, t.tag))  # regions' order


# --- targets -----------------------------------------------------------------------------------

#: (host, repository, reference ":tag" | "@digest") -> digest or None; raises ReplicationError
HeadFunction = Callable[[str, str, str], str | None]


class RegistryHeads:
    """Manifest HEADs over one pooled transport (bounded retries): a :data:`HeadFunction`.

    ``registry_config(host)`` says how to reach each registry (``Settings.registry_config``).
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        registry_config: Callable[[str], RegistryConfig],
        credentials: Any = None,
        hosts: Iterable[str] = (),
    ) -> None:
        self.transport = Transport(
            credentials=credentials,
            registries={host: registry_config(host) for host in hosts},
            retry=RetryPolicy(attempts=3),
        )
        self._config = registry_config
        self._lock = threading.Lock()

    @classmethod
    def for_targets(cls, settings: Any, credentials: Any = None) -> RegistryHeads:
        """HEADs for the target registries of ``settings`` (a ``config.Settings``)."""
        hosts = [settings.registry_host(region) for region in settings.target_regions]
        return cls(settings.registry_config, credentials, hosts)

    def __call__(self, host: str, repository: str, reference: str) -> str | None:
        with self._lock:
            if host not in self.transport.registries:
                self.transport.registries[host] = self._config(host).check(host)
        ref = parse_reference(f"{host}/{repository}{reference}")
        return head_manifest(self.transport, ref, ref.reference)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RegistryHeads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def head_function(registry_config: Callable[[str], RegistryConfig], credentials: Any = None) -> HeadFunction:
    """A :class:`RegistryHeads` (kept for callers that do not close it: its connections are)."""
    return RegistryHeads(registry_config, credentials)


@dataclass(frozen=True)
class TargetState:
    region: str
    digest: str | None  # None: the tag (or the referrer's digest) is missing in the region
    error: str | None = None  # the region could not be checked


def target_states(
    images: Iterable[SourceImage],
    regions: Sequence[str],
    registry: Callable[[str], str],
    head: HeadFunction,
    *,
    jobs: int = HEAD_JOBS,
) -> dict[SourceImage, list[TargetState]]:
    """For every image, what each region's registry answers for it (HEAD only)."""
    hosts = {region: registry(region) for region in regions}
    work = [(image, region) for image in images for region in regions]

    def check(pair: tuple[SourceImage, str]) -> TargetState:
        image, region = pair
        try:
            return TargetState(region, head(hosts[region], image.repository, image.reference))
        except ReplicationError as exc:
            logger.debug("HEAD %s in %s failed: %s", image.name, region, exc)
            return TargetState(region, None, f"{type(exc).__name__}: {exc}"[:200])

    found: dict[SourceImage, list[TargetState]] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for (image, _), state in zip(work, pool.map(check, work), strict=True):
            found.setdefault(image, []).append(state)
    return found


def replicated_everywhere(image: SourceImage, states: Sequence[TargetState]) -> bool:
    return all(state.error is None and state.digest == image.digest for state in states)
