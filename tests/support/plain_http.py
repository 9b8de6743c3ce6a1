"""The copier's entry points for the plain-http registries tests start (docker-registry, proxies).

Registries are reached over https unless a side asks for plain http; the ``docker-registry``
processes, fault proxies and hostile servers of the tests listen on plain http, so every call
to them says so here, once.
"""

from __future__ import annotations

from typing import Any

from ecr_replicate.oci.copy import CopyResult, copy_image
from ecr_replicate.oci.describe import ImageDescription, describe_image, head_digest
from ecr_replicate.oci.reference import Reference
from ecr_replicate.oci.registry_config import RegistryConfig

PLAIN_HTTP = RegistryConfig(plain_http=True)


def copy_plain(source: str | Reference, target: str | Reference, **options: Any) -> CopyResult:
    """copy_image() with both sides over plain http."""
    return copy_image(source, target, source_config=PLAIN_HTTP, target_config=PLAIN_HTTP, **options)


def describe_plain(ref: str | Reference, **options: Any) -> ImageDescription:
    return describe_image(ref, config=PLAIN_HTTP, **options)


def head_plain(ref: str | Reference, **options: Any) -> str | None:
    return head_digest(ref, config=PLAIN_HTTP, **options)
