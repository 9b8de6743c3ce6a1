"""The copy heartbeats ``status`` shows as bytes and rate per region (:mod:`ecr_replicate.heartbeat`).

Where they are: the deployment's progress bucket, from ``--stack`` (output
``ProgressBucketName``) or the environment ``ecr-replicate local up`` prints
(``ECR_REPLICATE_PROGRESS_BUCKET``). Without one, ``status`` still works, without bytes while a
region copies. Reading needs ``s3:GetObject`` on ``progress/*`` only.

A reader never stops ``status``: a heartbeat it cannot read is left out, and the first problem is
kept in :attr:`HeartbeatReader.problem` for the table's footnote.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ecr_replicate import heartbeat
from ecr_replicate.heartbeat import Heartbeat
from ecr_replicate_cli.deployment import ENV_PROGRESS_BUCKET, PROGRESS_BUCKET_OUTPUT

MAX_PARALLEL_READS = 8
#: a heartbeat older than this, while the region is still copying, means its writer is gone
STALE_SECONDS = 3 * heartbeat.INTERVAL_SECONDS + 10


def progress_bucket(outputs: Mapping[str, str], environ: Mapping[str, str] | None = None) -> str | None:
    """The progress bucket of the deployment: the stack's output, else the environment."""
    env = os.environ if environ is None else environ
    return outputs.get(PROGRESS_BUCKET_OUTPUT) or env.get(ENV_PROGRESS_BUCKET, "").strip() or None


def s3_client(region: str | None) -> Any:
    import boto3  # noqa: PLC0415 - keep --help fast

    return boto3.client("s3", region_name=region)  # type: ignore[call-overload]


class HeartbeatReader:
    """``reader(execution name, regions) -> {region: Heartbeat}`` over one bucket."""

    def __init__(
        self,
        bucket: str,
        region: str | None,
        clients: Callable[[str | None], Any] = s3_client,
        *,
        min_interval: float = heartbeat.INTERVAL_SECONDS / 2,
    ) -> None:
        self.bucket = bucket
        self._client: Any = None
        self._clients = clients
        self._region = region
        self._min_interval = min_interval  # heartbeats change every INTERVAL_SECONDS: no need to poll faster
        self._last: tuple[float, str, tuple[str, ...], dict[str, Heartbeat]] | None = None
        self.problem: str | None = None

    def _note(self, exc: Exception) -> None:
        if self.problem is None:
            problem = f"copy progress unreadable in s3://{self.bucket}: {type(exc).__name__}: {exc}"
            self.problem = problem[:300]

    def _one(self, client: Any, execution: str, region: str) -> tuple[str, Heartbeat | None]:
        try:
            return region, heartbeat.read(client, self.bucket, execution, region)
        except Exception as exc:  # shown once as a footnote; status goes on without bytes
            self._note(exc)
            return region, None

    def __call__(self, execution: str, regions: Sequence[str]) -> dict[str, Heartbeat]:
        if not regions:
            return {}
        now = time.monotonic()
        if self._last is not None:
            when, last_execution, last_regions, beats = self._last
            same = (last_execution, last_regions) == (execution, tuple(regions))
            if same and now - when < self._min_interval:
                return dict(beats)
        beats = self._read(execution, regions)
        self._last = (now, execution, tuple(regions), beats)
        return dict(beats)

    def _read(self, execution: str, regions: Sequence[str]) -> dict[str, Heartbeat]:
        try:
            if self._client is None:  # made once, before threads share it
                self._client = self._clients(self._region)
        except Exception as exc:
            self._note(exc)
            return {}
        client = self._client
        if len(regions) == 1:
            found = [self._one(client, execution, regions[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_READS, len(regions))) as pool:
                found = list(pool.map(lambda region: self._one(client, execution, region), regions))
        return {region: beat for region, beat in found if beat is not None}
