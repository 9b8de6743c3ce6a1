"""What the source holds and what each target has: the inputs of backfill, verify and dry runs.

* The source is listed through ECR's control plane (``DescribeRepositories``, ``DescribeImages``;
  boto3 paginators, page size 1000, the most ECR accepts): it knows push times (``--since``) and
  tags, which the OCI distribution API does not. Locally, moto's ECR is that control plane: the
  webhook bridge records every push to the source registry in it
  (:func:`ecr_replicate_local.ecr_mirror.record_push`), as ECR does on AWS.
* Targets are checked over the registry API: one manifest ``HEAD`` per image and region (a
  digest comparison, no blob read), a few in parallel per registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from ecr_replicate.ecr import aws_call
from ecr_replicate.errors import ReplicationError
from ecr_replicate.oci.describe import head_digest
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate.oci.transport import RetryPolicy

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000  # ECR's list APIs refuse more
HEAD_JOBS = 8  # manifest HEADs in flight per command (well under BatchGetImage's 2,000/s)


@dataclass(frozen=True, order=True)
class SourceImage:
    """One tag of the source: ``repository:tag`` -> ``digest``."""

    repository: str
    tag: str
    digest: str
    pushed_at: datetime | None = None
    size_bytes: int | None = None

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}"


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


def list_images(
    ecr: Any,
    repositories: Sequence[str] = (),
    tags: Sequence[str] = (),
    since: datetime | None = None,
) -> list[SourceImage]:
    """Every tagged image of the matching repositories, one entry per tag, sorted.

    ``since``: only images pushed at or after it. Untagged images (e.g. the platform manifests of
    a multi-arch image) are not listed: they are copied with the index that references them.
    """
    images: list[SourceImage] = []
    for repository in list_repositories(ecr, repositories):
        with aws_call("ecr:DescribeImages"):
            pages = ecr.get_paginator("describe_images").paginate(
                repositoryName=repository,
                filter={"tagStatus": "TAGGED"},
                PaginationConfig={"PageSize": PAGE_SIZE},
            )
            for page in pages:
                for detail in page.get("imageDetails", []):
                    pushed = detail.get("imagePushedAt")
                    if since is not None and (pushed is None or pushed < since):
                        continue
                    for tag in detail.get("imageTags") or []:
                        if matches(tag, tags):
                            images.append(
                                SourceImage(
                                    repository=repository,
                                    tag=str(tag),
                                    digest=str(detail["imageDigest"]),
                                    pushed_at=pushed,
                                    size_bytes=detail.get("imageSizeInBytes"),
                                )
                            )
    return sorted(images)


# --- targets -----------------------------------------------------------------------------------

#: (host, repository, tag) -> digest or None; raises ReplicationError when the registry fails
HeadFunction = Callable[[str, str, str], str | None]


def head_function(registry_config: Callable[[str], RegistryConfig], credentials: Any = None) -> HeadFunction:
    """A manifest HEAD through the copier's transport (bounded retries); ``registry_config(host)``
    says how to reach each registry (``Settings.registry_config``)."""
    retry = RetryPolicy(attempts=3)

    def head(host: str, repository: str, tag: str) -> str | None:
        return head_digest(
            f"{host}/{repository}:{tag}", credentials, config=registry_config(host), retry=retry
        )

    return head


@dataclass(frozen=True)
class TargetState:
    region: str
    digest: str | None  # None: the tag is missing in the region
    error: str | None = None  # the region could not be checked


def target_states(
    images: Iterable[SourceImage],
    regions: Sequence[str],
    registry: Callable[[str], str],
    head: HeadFunction,
    *,
    jobs: int = HEAD_JOBS,
) -> dict[SourceImage, list[TargetState]]:
    """For every image, what each region's registry answers for ``repository:tag`` (HEAD only)."""
    hosts = {region: registry(region) for region in regions}
    work = [(image, region) for image in images for region in regions]

    def check(pair: tuple[SourceImage, str]) -> TargetState:
        image, region = pair
        try:
            return TargetState(region, head(hosts[region], image.repository, image.tag))
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
