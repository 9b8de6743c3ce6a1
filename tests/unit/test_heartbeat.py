"""Copy heartbeats: the copy step records bytes as it goes (ecr_replicate.heartbeat), ``status``
reads them (ecr_replicate_cli.heartbeats); S3 is moto's, as in the local twin."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecr_replicate import heartbeat, workflow
from ecr_replicate.config import Settings
from ecr_replicate.heartbeat import COPYING, FAILED, FINISHED, Heartbeat, HeartbeatRecorder
from ecr_replicate.model import parse_copy_input
from ecr_replicate.oci.copy import CopyProgress, CopyResult
from ecr_replicate.oci.reference import Reference
from ecr_replicate_cli.heartbeats import HeartbeatReader
from ecr_replicate_cli.region_rows import COPYING as ROW_COPYING
from ecr_replicate_cli.region_rows import RegionRow
from ecr_replicate_cli.status_table import plain_row
from ecr_replicate_local.template import Template

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "ecr-replicate-progress"
EXECUTION = "ecr-push-13cde686-328b-6117-af20-0e5566167482"
MIB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """A heartbeat writer keeping every body written, by key."""

    def __init__(self, failures: int = 0) -> None:
        self.bodies: dict[str, list[Heartbeat]] = {}
        self.failures = failures
        self.attempts = 0

    def __call__(self, key: str, body: bytes) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise OSError("bucket unreachable")
        self.bodies.setdefault(key, []).append(Heartbeat.from_json(body))


class Entered:
    """A recorder entered, once its thread's first write (which the copy does not wait for) is done."""

    def __init__(self, recorder: HeartbeatRecorder, store: Store) -> None:
        self.recorder, self.store = recorder, store

    def __enter__(self) -> HeartbeatRecorder:
        beat = self.recorder.__enter__()
        deadline = time.monotonic() + 5
        while self.store.attempts < 1:
            assert time.monotonic() < deadline, "no first heartbeat from the thread"
            time.sleep(0.001)
        return beat

    def __exit__(self, *exc: Any) -> None:
        self.recorder.__exit__(*exc)


def recorder(store: Store, clock: Clock, **kwargs: Any) -> Entered:
    options: dict[str, Any] = {"execution": EXECUTION, "region": "eu-west-1", "runtime": "lambda"}
    options.update(total_bytes=100 * MIB, interval=3600.0, clock=clock, **kwargs)
    return Entered(HeartbeatRecorder(store, **options), store)


def test_entering_does_not_wait_for_the_first_write() -> None:
    """The copy starts at once: the first heartbeat is written by the thread (an S3 PUT takes
    tens of milliseconds on AWS), and leaving waits for it before the last one."""
    release = threading.Event()
    bodies: list[Heartbeat] = []

    def slow(key: str, body: bytes) -> None:
        release.wait(5)
        bodies.append(Heartbeat.from_json(body))

    beat = HeartbeatRecorder(slow, execution=EXECUTION, region="eu-west-1", runtime="lambda",
                             total_bytes=MIB, interval=3600.0)  # fmt: skip
    started = time.monotonic()
    with beat:
        assert time.monotonic() - started < 1 and bodies == []
        release.set()
    assert [b.state for b in bodies] == [COPYING, FINISHED]


def test_bytes_blobs_and_rate_are_recorded_from_the_copiers_events() -> None:
    store, clock = Store(), Clock()
    with recorder(store, clock) as beat:
        beat(CopyProgress("blob-skipped", "sha256:a", 10 * MIB))
        beat(CopyProgress("blob-started", "sha256:b", 60 * MIB))
        clock.now += 2
        beat(CopyProgress("blob-progress", "sha256:b", 60 * MIB, 20 * MIB))
        beat.write()
        clock.now += 2
        beat(CopyProgress("blob-progress", "sha256:b", 60 * MIB, 40 * MIB))
        beat(CopyProgress("blob-done", "sha256:b", 60 * MIB))
    beats = store.bodies[f"progress/{EXECUTION}/eu-west-1.json"]
    first, middle, last = beats
    assert first.state == COPYING and first.bytes_copied == 0 and first.bytes_total == 100 * MIB
    assert middle.bytes_copied == 20 * MIB and middle.bytes_present == 10 * MIB and middle.blobs_present == 1
    assert middle.rate == pytest.approx(10 * MIB)  # 20 MiB in 2 s
    assert last.state == FINISHED and last.bytes_copied == 60 * MIB and last.blobs_copied == 1
    assert last.rate == pytest.approx(15 * MIB) and last.updated == clock.now


def test_a_retried_blob_takes_its_bytes_back() -> None:
    store, clock = Store(), Clock()
    with recorder(store, clock) as beat:
        beat(CopyProgress("blob-progress", "sha256:b", 60 * MIB, 30 * MIB))
        beat(CopyProgress("blob-progress", "sha256:b", 60 * MIB, -30 * MIB))  # the upload restarts
    assert store.bodies[f"progress/{EXECUTION}/eu-west-1.json"][-1].bytes_copied == 0


def test_a_failed_copy_leaves_a_failed_heartbeat() -> None:
    store, clock = Store(), Clock()
    with pytest.raises(RuntimeError), recorder(store, clock):
        raise RuntimeError("registry down")
    assert store.bodies[f"progress/{EXECUTION}/eu-west-1.json"][-1].state == FAILED


def test_writing_progress_never_fails_the_copy_and_gives_up_after_three_failures() -> None:
    store, clock = Store(failures=100), Clock()
    with recorder(store, clock) as beat:
        for _ in range(10):
            beat.write()
    assert store.attempts == heartbeat.MAX_WRITE_FAILURES


def test_the_heartbeat_thread_writes_while_nothing_moves() -> None:
    """A stalled copy still beats (fresh time, rate 0): stalled is not gone."""
    store = Store()
    with HeartbeatRecorder(store, execution=EXECUTION, region="eu-west-1", runtime="codebuild",
                           total_bytes=1, interval=0.01):  # fmt: skip
        deadline = time.monotonic() + 5
        while len(store.bodies.get(f"progress/{EXECUTION}/eu-west-1.json", [])) < 4:
            assert time.monotonic() < deadline, "no heartbeat from the thread"
            time.sleep(0.01)


@pytest.mark.parametrize(
    ("execution", "region"),
    [
        ("../etc", "eu-west-1"),
        ("a/b", "eu-west-1"),
        ("x" * 81, "eu-west-1"),
        (EXECUTION, "eu-west-1/../x"),
        ("", "eu-west-1"),
    ],
)
def test_keys_only_for_names_that_need_no_escaping(execution: str, region: str) -> None:
    assert heartbeat.object_key(execution, region) is None
    with pytest.raises(ValueError):
        HeartbeatRecorder(Store(), execution=execution, region=region, runtime="lambda", total_bytes=0)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"schema": 2}).encode(),
        b"{" + b" " * 5000 + b"}",
    ],
)
def test_an_unreadable_heartbeat_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        Heartbeat.from_json(body)


def test_field_types_and_bounds_are_checked() -> None:
    good = json.loads(
        Heartbeat(EXECUTION, "eu-west-1", "lambda", COPYING, 1, 0, 2, 0, 0, 1.0, 1.0, 2.0).to_json()
    )
    assert Heartbeat.from_json(json.dumps(good).encode()).bytes_copied == 1
    for field, value in (("bytes_copied", True), ("bytes_copied", -1), ("rate", "fast"), ("region", 7)):
        with pytest.raises(ValueError):
            Heartbeat.from_json(json.dumps({**good, field: value}).encode())


# --- the copy step writes, status reads ---------------------------------------------------------


def settings(**extra: str) -> Settings:
    return Settings.from_env({"AWS_REGION": "us-east-1", "TARGET_REGIONS": "eu-west-1",
                              "ACCOUNT_ID": "123456789012", **extra})  # fmt: skip


def copy_input(execution: str | None = EXECUTION) -> Any:
    return parse_copy_input({
        "region": "eu-west-1", "repository": "team/app", "tag": "v1", "digest": "sha256:" + "a" * 64,
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "sizeBytes": 4 * MIB,
        "sourceRegion": "us-east-1", "sourceRegistry": "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "targetRegistry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "runtime": "codebuild",
        **({"executionName": execution} if execution else {}),
    })  # fmt: skip


def result(source: Reference, target: Reference) -> CopyResult:
    return CopyResult(status="COPIED", source=source, target=target, digest="sha256:" + "a" * 64,
                      media_type="application/vnd.oci.image.manifest.v1+json", bytes_copied=3 * MIB,
                      blobs_copied=1)  # fmt: skip


def copier_moving(megabytes: int) -> Any:
    def copy(source: Reference, target: Reference, **options: Any) -> CopyResult:
        progress = options.get("progress")
        assert progress is not None, "copy_region passes the heartbeat recorder as the copier's progress"
        progress(CopyProgress("blob-progress", "sha256:b", megabytes * MIB, megabytes * MIB))
        return result(source, target)

    return copy


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_copy_region_records_heartbeats_that_status_reads(s3: Any) -> None:
    config = settings(PROGRESS_BUCKET=BUCKET)
    write = heartbeat.writer(config, lambda region: s3)
    assert write is not None
    workflow.copy_region(copy_input(), config, copier=copier_moving(3), heartbeat=write)
    beats = HeartbeatReader(BUCKET, "us-east-1", lambda region: s3)(
        EXECUTION, ["eu-west-1", "ap-southeast-1"]
    )
    assert list(beats) == ["eu-west-1"]  # no heartbeat for a region that never copied
    beat = beats["eu-west-1"]
    assert (beat.state, beat.bytes_copied, beat.bytes_total, beat.runtime) == (
        FINISHED,
        3 * MIB,
        4 * MIB,
        "codebuild",
    )


def test_no_bucket_or_no_execution_name_means_no_heartbeat(s3: Any) -> None:
    assert heartbeat.writer(settings(), lambda region: s3) is None
    store = Store()

    def copy(source: Reference, target: Reference, **options: Any) -> CopyResult:
        assert "progress" not in options
        return result(source, target)

    workflow.copy_region(copy_input(execution=None), settings(), copier=copy, heartbeat=store)
    assert store.attempts == 0


def test_a_reader_that_cannot_read_says_so_once_and_goes_on(s3: Any) -> None:
    reader = HeartbeatReader("no-such-bucket", "us-east-1", lambda region: s3, min_interval=0)
    assert reader(EXECUTION, ["eu-west-1", "ap-southeast-1"]) == {}
    assert reader.problem is not None and "NoSuchBucket" in reader.problem
    assert reader.problem.startswith("copy progress unreadable in s3://no-such-bucket")


def test_a_row_copying_shows_bytes_of_total_and_rate() -> None:
    beat = Heartbeat(EXECUTION, "eu-west-1", "lambda", COPYING, 100 * MIB, 43 * MIB, 286 * MIB, 3, 2,
                     12.5 * MIB, 1.0, 1_000.0)  # fmt: skip
    row = RegionRow(index=0, region="eu-west-1", state=ROW_COPYING, seconds=9.3)
    line = plain_row(row, beat, now=1_001.0)
    assert " ".join(line.split()) == "eu-west-1 copying 9.3 s 143.0 MiB of 286.0 MiB (50%), 12.5 MiB/s"
    assert "no heartbeat for 90 s" in plain_row(row, beat, now=1_090.0)


# --- the template gives the copy steps the bucket, and nothing more ------------------------------


def test_the_template_lets_both_copy_steps_write_heartbeats_and_nothing_else() -> None:
    tpl = Template(ROOT / "template.yaml", region="us-east-1", account="123456789012",
                   parameters={"TargetRegions": "eu-west-1"})  # fmt: skip
    kinds = ["AWS::S3::Bucket", "AWS::IAM::ManagedPolicy", "AWS::Serverless::Function"]
    kinds += ["AWS::CodeBuild::Project"]
    resources = tpl.resources_of_type(*kinds)
    bucket = tpl.resolve(resources["ProgressBucket"]["Properties"])
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 1
    statements = tpl.resolve(resources["CopyImagesPolicy"]["Properties"]["PolicyDocument"])["Statement"]
    s3 = [s for s in statements if str(s["Action"]).startswith("s3:")]
    assert len(s3) == 1 and s3[0]["Action"] == "s3:PutObject"
    assert str(s3[0]["Resource"]).endswith("/progress/*")
    function = tpl.resolve(resources["CopyImageFunction"]["Properties"])
    assert "PROGRESS_BUCKET" in function["Environment"]["Variables"]
    build = tpl.resolve(resources["CopyBuildProject"]["Properties"])
    assert "PROGRESS_BUCKET" in [
        variable["Name"] for variable in build["Environment"]["EnvironmentVariables"]
    ]
    assert "ProgressBucketName" in tpl.data["Outputs"]
