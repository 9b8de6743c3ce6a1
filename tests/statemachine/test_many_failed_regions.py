"""40 target regions, every one down, through the real ASL on the local engine: each failed
region keeps a record of at most 1 KiB, so the Map's output, the state after it and the
notification stay far below Step Functions' 256 KiB (``States.DataLimitExceeded`` has no Catch)
and SNS's and EventBridge's 256 KiB message limits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from ecr_replicate.aws_names import REGION_RE
from ecr_replicate.failures import MAX_RECORD_BYTES
from ecr_replicate_local.local_aws import LocalAws
from ecr_replicate_local.registry import LocalRegistry, free_port
from ecr_replicate_local.sample_images import push_image
from tests.statemachine.conftest import SOURCE, ecr_push_event

pytestmark = pytest.mark.xdist_group("statemachine-many-failed-regions")

LIMIT = 256 * 1024  # Step Functions state / SNS message / EventBridge entry
REGIONS = 40  # the inline Map's concurrency limit, and MAX_REGIONS of a manual request


def forty_regions() -> list[str]:
    session = boto3.session.Session()
    names: set[str] = set()
    for partition in session.get_available_partitions():
        names.update(session.get_available_regions("ecr", partition_name=partition))
    usable = sorted(name for name in names if name != SOURCE and REGION_RE.fullmatch(name))
    assert len(usable) >= REGIONS
    return usable[:REGIONS]


@pytest.fixture(scope="module")
def down() -> Iterator[tuple[LocalAws, LocalRegistry, list[str]]]:
    """The source registry up; 40 target regions whose registry port refuses connections."""
    regions = forty_regions()
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    with (
        LocalRegistry.temporary(SOURCE) as source,
        LocalAws(
            regions={SOURCE: source.host, **dict.fromkeys(regions, dead)},
            source_region=SOURCE,
            parameters={"TargetRegions": ",".join(regions), "MaxConcurrency": str(REGIONS)},
        ) as aws,
    ):
        yield aws, source, regions


def size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def state_after(history: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    event = next(e for e in reversed(history) if e["type"] == kind)
    details = next(v for k, v in event.items() if k.endswith("EventDetails"))
    output: dict[str, Any] = json.loads(details["output"])
    return output


def test_forty_failed_regions_stay_small_from_map_to_notification(down) -> None:
    aws, source, regions = down
    image = push_image(source.host, "team/everywhere", "v1", seed=41)
    arn = aws.start_execution(ecr_push_event("team/everywhere", "v1", image.digest), name=uuid.uuid4().hex)
    done = aws.wait(arn, timeout=240)
    assert done["status"] == "FAILED" and done["error"] == "ReplicationFailed", done

    history = aws.history(arn)
    after_map = state_after(history, "MapStateExited")
    records = after_map["regions"]
    assert sorted(r["region"] for r in records) == regions
    for record in records:
        assert record["status"] == "FAILED" and record["error"] == "RegistryUnavailableError", record
        assert "127.0.0.1" in record["cause"] and "stackTrace" not in record["cause"]  # the message only
        assert size(record) <= MAX_RECORD_BYTES
    assert size(records) <= REGIONS * MAX_RECORD_BYTES
    assert size(after_map) < LIMIT // 2

    summary = state_after(history, "TaskStateExited")  # Notify's output: the Summary + published ids
    assert summary["failedRegions"] == regions
    assert size(summary) < LIMIT // 2
    notes = [n for n in aws.notifications() if n.get("executionArn") == arn]
    assert len(notes) == 1 and notes[0]["failedRegions"] == regions
    sns_message = json.dumps({"default": json.dumps(notes[0]), "email": notes[0]["text"]})
    assert len(sns_message.encode()) < LIMIT // 2
