"""Image lists for a Distributed Map (backfill and reconcile): one manual request per image.

Each item is the input of one replication run, ``{"repository", "tag", "digest", "regions",
"name"}`` plus, for a reconcile, ``origin`` (the run that mails one summary for all of them). The
list is written as one JSON array to S3, which the Map's ``ItemReader`` reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from ecr_replicate.ecr import aws_call
from ecr_replicate.inventory import SourceImage

MAX_EXECUTION_NAME = 80  # Step Functions' limit
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_name(text: str, limit: int = MAX_EXECUTION_NAME) -> str:
    """``text`` in the characters Step Functions allows in a name, at most ``limit`` of them."""
    return _NAME_UNSAFE.sub("-", text)[:limit]


def child_name(run_name: str, suffix: str) -> str:
    """The name of one child run: ``<run>-<suffix>``, within Step Functions' 80 characters and
    its characters (the run name is shortened, never the suffix that makes it unique)."""
    return f"{safe_name(run_name, MAX_EXECUTION_NAME - len(suffix) - 1)}-{suffix}"


def map_items(
    entries: Sequence[tuple[SourceImage, Sequence[str] | None]],
    run_name: str,
    *,
    prefix: str = "",
    origin: str | None = None,
) -> list[dict[str, Any]]:
    """One item per ``(image, regions)`` (``regions`` None: every target), named
    ``<run>-<prefix><n>``."""
    items = []
    for number, (image, regions) in enumerate(entries, start=1):
        item: dict[str, Any] = {
            "repository": image.repository,
            "tag": image.tag,
            "digest": image.digest,
            "regions": list(regions) if regions else None,
            "name": child_name(run_name, f"{prefix}{number}"),
        }
        if origin is not None:
            item["origin"] = origin
        items.append(item)
    return items


def put_items(s3: Any, bucket: str, key: str, items: Sequence[dict[str, Any]]) -> None:
    """Write the list where the Map's ItemReader will read it."""
    with aws_call("s3:PutObject"):
        s3.put_object(
            Bucket=bucket, Key=key, Body=json.dumps(list(items)).encode(), ContentType="application/json"
        )
