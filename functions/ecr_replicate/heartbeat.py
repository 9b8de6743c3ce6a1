"""Copy heartbeats: how far a region's copy is, recorded by the copy step, read by ``status``.

The Step Functions history says *that* a region is copying, not how far it is: a task reports
nothing until it returns, and ``SendTaskHeartbeat`` exists only for callback tasks
(``.waitForTaskToken``), which our Lambda and CodeBuild steps are not. So the copy step (Lambda or
CodeBuild, one code path) writes its own heartbeat: one small JSON object per execution and
region, ``progress/<execution name>/<region>.json`` in the deployment's progress bucket
(``PROGRESS_BUCKET``), rewritten every :data:`INTERVAL_SECONDS` while the copy runs and once when
it ends. The bucket expires the objects after a day.

Why an S3 object: the writer needs ``s3:PutObject`` on ``progress/*`` and the reader
``s3:GetObject`` on the same prefix, nothing broader (no ListBucket: ``status`` knows the
execution and the regions from the history); a read is one GET per copying region; it costs
nothing while idle; and it works the same locally, where the twin's S3 is moto's.

The heartbeat keeps going while no byte moves, so a reader tells "alive but stalled" (fresh
heartbeat, rate 0) from "gone" (stale heartbeat). Writing progress never fails a copy: errors are
logged, and after :data:`MAX_WRITE_FAILURES` in a row the recorder stops trying.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ecr_replicate.aws_names import REGION_RE
from ecr_replicate.config import Settings

logger = logging.getLogger(__name__)

SCHEMA = 1
PREFIX = "progress/"
INTERVAL_SECONDS = 2.0
RATE_WINDOW_SECONDS = 10.0
MAX_WRITE_FAILURES = 3
MAX_BODY_BYTES = 4096
COPYING, FINISHED, FAILED = "copying", "finished", "failed"
#: Step Functions execution names (1-80 characters), restricted to what needs no escaping in a key
EXECUTION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")

Write = Callable[[str, bytes], None]


def object_key(execution: str, region: str) -> str | None:
    """``progress/<execution>/<region>.json``; None when either name is not one we write."""
    if not EXECUTION_NAME_RE.fullmatch(execution) or not REGION_RE.fullmatch(region):
        return None
    return f"{PREFIX}{execution}/{region}.json"


@dataclass(frozen=True)
class Heartbeat:
    """One region's copy, as last recorded."""

    execution: str
    region: str
    runtime: str  # lambda | codebuild
    state: str  # copying | finished | failed
    bytes_copied: int  # moved over the wire so far
    bytes_present: int  # blobs the target already had (skipped) or mounted: nothing to move
    bytes_total: int  # the image: every blob once plus its manifests (the plan's sizeBytes)
    blobs_copied: int
    blobs_present: int
    rate: float  # bytes/s over the last RATE_WINDOW_SECONDS
    started: float  # epoch seconds
    updated: float

    def to_json(self) -> bytes:
        return json.dumps({"schema": SCHEMA, **asdict(self)}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Heartbeat:
        """Parse and check a heartbeat object; ValueError for anything else."""
        if len(body) > MAX_BODY_BYTES:
            raise ValueError("heartbeat too large")
        data = json.loads(body)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError("not a heartbeat of this version")
        values: dict[str, Any] = {}
        for name, kind in cls.__annotations__.items():
            value = data.get(name)
            if kind == "str":
                if not isinstance(value, str) or len(value) > 100:
                    raise ValueError(f"heartbeat field {name}")
            elif kind == "int":
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
                    raise ValueError(f"heartbeat field {name}")
            elif not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1e13:
                raise ValueError(f"heartbeat field {name}")
            values[name] = value
        return cls(**values)

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.updated)


class HeartbeatRecorder:
    """The copier's progress callback that also writes a :class:`Heartbeat` every ``interval``.

    Use as a context manager around the copy: entering starts a daemon thread that writes the
    first heartbeat at once and then one every ``interval`` (the copy does not wait for a write:
    an S3 PUT on AWS takes tens of milliseconds); leaving stops it, waits for a write in flight,
    and writes the last one (``finished``, or ``failed`` when the block raised). ``__call__``
    takes the copier's ``CopyProgress`` events from any thread.
    """

    def __init__(
        self,
        write: Write,
        *,
        execution: str,
        region: str,
        runtime: str,
        total_bytes: int,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = object_key(execution, region)
        if key is None:
            raise ValueError(f"no heartbeat key for execution {execution[:80]!r}, region {region[:40]!r}")
        self.key = key
        self._write = write
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        started = clock()
        self._beat = Heartbeat(execution, region, runtime, COPYING, 0, 0, max(0, total_bytes), 0, 0, 0.0,
                               started, started)  # fmt: skip
        self._samples: deque[tuple[float, int]] = deque([(started, 0)])

    # --- the copier's callback ---------------------------------------------------------------

    def __call__(self, event: Any) -> None:
        kind, size, moved = str(event.event), int(event.size), int(event.bytes)
        with self._lock:
            beat = self._beat
            if kind == "blob-progress":
                self._beat = _replace(beat, bytes_copied=max(0, beat.bytes_copied + moved))
            elif kind == "blob-done":
                self._beat = _replace(beat, blobs_copied=beat.blobs_copied + 1)
            elif kind in ("blob-skipped", "blob-mounted"):
                self._beat = _replace(
                    beat, blobs_present=beat.blobs_present + 1, bytes_present=beat.bytes_present + size
                )

    # --- writing -----------------------------------------------------------------------------

    def snapshot(self, state: str = COPYING) -> Heartbeat:
        """The heartbeat as it would be written now (rate over the last window)."""
        now = self._clock()
        with self._lock:
            beat = self._beat
            samples = self._samples
            samples.append((now, beat.bytes_copied))
            while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_SECONDS:
                samples.popleft()
            first_time, first_bytes = samples[0]
            elapsed = now - first_time
            rate = max(0.0, (beat.bytes_copied - first_bytes) / elapsed) if elapsed > 0 else 0.0
            self._beat = _replace(beat, state=state, rate=round(rate, 1), updated=now)
            return self._beat

    def write(self, state: str = COPYING) -> None:
        with self._writing:  # one write at a time, in the order taken: the thread's and the caller's
            if self._failures >= MAX_WRITE_FAILURES:
                return
            beat = self.snapshot(state)
            try:
                self._write(self.key, beat.to_json())
                self._failures = 0
            except Exception as exc:  # progress is best effort: never fail the copy for it
                self._failures += 1
                level = logging.WARNING if self._failures in (1, MAX_WRITE_FAILURES) else logging.DEBUG
                giving_up = "; giving up" if self._failures >= MAX_WRITE_FAILURES else ""
                logger.log(level, "could not record copy progress (%s: %s)%s", type(exc).__name__,
                           str(exc)[:200], giving_up)  # fmt: skip

    def _run(self) -> None:
        self.write()
        while not self._stop.wait(self._interval):
            self.write()

    def __enter__(self) -> HeartbeatRecorder:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 5)
        self.write(FAILED if exc_type is not None else FINISHED)


def _replace(beat: Heartbeat, **changes: Any) -> Heartbeat:
    return Heartbeat(**{**asdict(beat), **changes})


def s3_writer(s3_client: Any, bucket: str) -> Write:
    """Heartbeats as objects of ``bucket`` (``s3:PutObject`` on ``progress/*``)."""

    def write(key: str, body: bytes) -> None:
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    return write


def read(s3_client: Any, bucket: str, execution: str, region: str) -> Heartbeat | None:
    """The heartbeat of ``region`` in ``execution``; None when there is none (yet) or it is unreadable.

    Without ``s3:ListBucket`` a missing object answers 403, with it 404: both mean "none"."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    key = object_key(execution, region)
    if key is None:
        return None
    try:
        answer = s3_client.get_object(Bucket=bucket, Key=key)
        body = answer["Body"].read(MAX_BODY_BYTES + 1)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "AccessDenied", "403"):
            return None
        raise
    except BotoCoreError:
        raise
    try:
        beat = Heartbeat.from_json(body)
    except ValueError:
        logger.debug("unreadable heartbeat %s", key)
        return None
    return beat if beat.execution == execution and beat.region == region else None


@functools.lru_cache(maxsize=8)
def s3_client(region: str) -> Any:
    """An S3 client for heartbeats: short timeouts and two attempts (a heartbeat can wait)."""
    import boto3  # noqa: PLC0415 - only the AWS side needs it
    from botocore.config import Config  # noqa: PLC0415

    config = Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 2})
    make: Callable[..., Any] = boto3.client
    return make("s3", region_name=region, config=config)


def writer(settings: Settings, clients: Callable[[str], Any] = s3_client) -> Write | None:
    """Where the copy step of this deployment records heartbeats; None without ``PROGRESS_BUCKET``."""
    if settings.progress_bucket is None:
        return None
    return s3_writer(clients(settings.source_region), settings.progress_bucket)
