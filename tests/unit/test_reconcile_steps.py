"""The reconcile workflow's steps (ecr_replicate.reconcile) over fake ECR listings and registries,
moto's S3: what drifted where, the Map items written, what healed, the one notification."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecr_replicate import reconcile
from ecr_replicate.batch import MAX_EXECUTION_NAME, child_name
from ecr_replicate.config import Settings
from ecr_replicate.errors import ConfigurationError, InvalidInputError
from ecr_replicate.model import ManualRequest, parse
from ecr_replicate.reconcile_model import DriftFound, ReconcileInput

SOURCE, EU, AP = "us-east-1", "eu-west-1", "ap-southeast-1"
A, B, C, R, X = (f"sha256:{c * 64}" for c in "abcde")


def host(region: str) -> str:
    return f"123456789012.dkr.ecr.{region}.amazonaws.com"


@dataclass
class FakeEcr:
    """DescribeRepositories / DescribeImages pages of one region (one page each)."""

    images: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # repository -> imageDetails
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def get_paginator(self, name: str) -> FakeEcr.Paginator:
        return FakeEcr.Paginator(self, name)

    @dataclass
    class Paginator:
        ecr: FakeEcr
        name: str

        def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
            self.ecr.calls.append((self.name, kwargs))
            assert kwargs["PaginationConfig"]["PageSize"] <= 1000
            if self.name == "describe_repositories":
                yield {"repositories": [{"repositoryName": name} for name in self.ecr.images]}
                return
            status = kwargs["filter"]["tagStatus"]
            details = self.ecr.images[kwargs["repositoryName"]]
            yield {"imageDetails": [d for d in details if status == "ANY" or d.get("imageTags")]}


def detail(digest: str, *tags: str, subject: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"imageDigest": digest, "imageTags": list(tags)}
    if subject:
        found["subjectManifestDigest"] = subject
    return found


@pytest.fixture
def world() -> dict[str, Any]:
    """The source: app v1 (A), v2 (B), skip-me (C, excluded by the tag filter), a referrer R of A,
    an orphan referrer of a deleted digest. eu-west-1: v1 only, and a tag the source deleted;
    ap-southeast-1: v1 on another digest, v2, the referrer."""
    ecr = {
        SOURCE: FakeEcr({"team/app": [detail(A, "v1"), detail(B, "v2"), detail(C, "skip-me"),
                                      detail(R, subject=A), detail(X, subject="sha256:" + "9" * 64)]}),
        EU: FakeEcr({"team/app": [detail(A, "v1"), detail(B, "old")]}),
        AP: FakeEcr({"team/app": [detail(X, "v1"), detail(B, "v2"), detail(R)]}),
    }  # fmt: skip
    registries = {
        host(EU): {":v1": A},
        host(AP): {":v1": X, ":v2": B, f"@{R}": R},
    }
    return {"ecr": ecr, "registries": registries}


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "source_region": SOURCE,
        "target_regions": (EU, AP),
        "account_id": "123456789012",
        "tag_exclude": ("skip-*",),
        "items_bucket": "items",
    }
    values.update(overrides)
    return Settings(**values)


def head_of(registries: dict[str, dict[str, str]], asked: list[str] | None = None) -> Any:
    def head(registry: str, repository: str, reference: str) -> str | None:
        if asked is not None:
            asked.append(f"{registry}/{repository}{reference}")
        return registries.get(registry, {}).get(reference)

    return head


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=SOURCE)
        client.create_bucket(Bucket="items")
        yield client


def read(s3: Any, key: str) -> Any:
    return json.loads(s3.get_object(Bucket="items", Key=key)["Body"].read())


def find(world: dict[str, Any], s3: Any, dry_run: bool = False, **kwargs: Any) -> DriftFound:
    return reconcile.find_drift(
        ReconcileInput(dryRun=dry_run),
        settings(),
        source_ecr=world["ecr"][SOURCE],
        ecr_of=lambda region: world["ecr"][region],
        head=head_of(world["registries"], kwargs.get("asked")),
        s3=s3,
        execution_name="sched:2026-01-16T03:00:00Z/abc",
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:x:y",
    )


def test_find_drift_writes_only_the_drifted_images_with_their_regions(world, s3) -> None:
    asked: list[str] = []
    found = find(world, s3, asked=asked)
    assert (found.checked, found.drifted) == (3, 3)  # v1, v2, the referrer; skip-me filtered out
    assert found.drift_by_region == {EU: 2, AP: 1}
    assert found.deleted_in_source == 1
    assert found.run_name == "sched-2026-01-16T03-00-00Z-abc"  # Step Functions' name characters
    # one HEAD per image and region; the referrer by digest; the orphan referrer not at all
    assert len(asked) == 6 and f"{host(EU)}/team/app@{R}" in asked
    images = read(s3, found.images_key or "")
    assert [(i["tag"], i["regions"]) for i in images] == [("v1", [AP]), ("v2", [EU])]
    referrers = read(s3, found.referrers_key or "")
    assert [(i["tag"], i["digest"], i["regions"]) for i in referrers] == [(None, R, [EU])]
    assert (found.image_count, found.referrer_count) == (2, 1)
    names = [i["name"] for i in images + referrers]
    assert len(set(names)) == 3 and all(len(n) <= MAX_EXECUTION_NAME for n in names)
    for entry in images + referrers:  # each item is a valid manual request of the child run
        parse(ManualRequest, {k: v for k, v in entry.items() if k != "name"}, "item")
        assert entry["origin"] == f"reconcile:{found.run_name}"
    drift = read(s3, found.drift_key)
    assert [e["tag"] for e in drift["images"]] == ["v1", "v2", None]
    assert drift["deletedInSource"] == [{"region": EU, "repository": "team/app", "tag": "old", "digest": B}]


def test_a_dry_run_writes_the_drift_report_and_no_item_list(world, s3) -> None:
    found = find(world, s3, dry_run=True)
    assert found.drifted == 3 and found.images_key is None and found.referrers_key is None
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="items")["Contents"]]
    assert keys == [found.drift_key]


def test_report_says_what_healed_what_still_fails_and_what_only_the_targets_hold(world, s3, capsys) -> None:
    found = find(world, s3)
    # after the run: eu-west-1 got v2 but not the referrer; ap-southeast-1 got v1
    world["registries"][host(EU)][":v2"] = B
    world["registries"][host(AP)][":v1"] = A
    summary = reconcile.report(found, settings(), s3=s3, head=head_of(world["registries"]))
    assert (summary.status, summary.drifted, summary.healed, summary.remaining) == ("FAILED", 3, 2, 1)
    assert [
        (r.region, r.drift_found, r.healed, r.remaining, r.deleted_in_source) for r in summary.regions
    ] == [
        (EU, 2, 1, 1, 1),
        (AP, 1, 1, 0, 0),
    ]
    assert summary.still_failing == [f"team/app@{R[:19]} ({EU})"]
    assert summary.deleted_in_source == [f"{EU} team/app:old"]
    assert summary.text.startswith(
        "FAILED: 3 of 3 image(s) from us-east-1 drifted; 2 healed, 1 still failing"
    )
    assert "Deleted in the source, kept in the targets: eu-west-1 team/app:old" in summary.text
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    per_region = {b["TargetRegion"]: b for b in blobs}
    assert per_region[EU]["DriftFound"] in (2, [2.0]) and per_region[EU]["DriftRemaining"] in (1, [1.0])
    assert per_region[AP]["DriftHealed"] in (1, [1.0])


def test_report_of_a_run_that_healed_everything_and_of_one_with_no_drift(world, s3) -> None:
    found = find(world, s3)
    healed = {host(EU): {":v1": A, ":v2": B, f"@{R}": R}, host(AP): {":v1": A, ":v2": B, f"@{R}": R}}
    assert reconcile.report(found, settings(), s3=s3, head=head_of(healed)).status == "HEALED"
    again = find({**world, "registries": healed}, s3)
    assert again.drifted == 0 and again.images_key is None
    summary = reconcile.report(again, settings(), s3=s3, head=head_of(healed))
    assert summary.status == "IN_SYNC" and summary.text.startswith("IN SYNC: 3 image(s)")


def test_a_dry_run_report_lists_the_drift_and_emits_no_metric(world, s3, capsys) -> None:
    found = find(world, s3, dry_run=True)
    summary = reconcile.report(found, settings(), s3=s3, head=head_of({}))
    assert summary.status == "DRY_RUN" and summary.healed == 0 and summary.remaining == 3
    assert "nothing was replicated" in summary.text and "Drifted: " in summary.text
    assert '"_aws"' not in capsys.readouterr().out


@dataclass
class Recorder:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def put_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("put_events", kwargs))
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("publish", kwargs))
        return {"MessageId": "m-1"}


def test_one_event_always_and_one_mail_unless_a_dry_run(world, s3) -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:topic"
    for dry_run, mails in ((False, 1), (True, 0)):
        summary = reconcile.report(find(world, s3, dry_run=dry_run), settings(), s3=s3, head=head_of({}))
        recorder = Recorder()
        reconcile.notify(summary, settings(topic_arn=topic), sns_client=recorder, events_client=recorder)
        events = [kw for name, kw in recorder.calls if name == "put_events"]
        assert events[0]["Entries"][0]["DetailType"] == "Reconcile Completed"
        assert json.loads(events[0]["Entries"][0]["Detail"])["kind"] == "reconcile"
        published = [kw for name, kw in recorder.calls if name == "publish"]
        assert len(published) == mails
        if mails:
            assert published[0]["Subject"] == "ECR reconcile FAILED: 3 drifted, 3 still failing"
            assert json.loads(published[0]["Message"])["email"] == summary.text


def test_reconcile_input_and_configuration_are_checked(world, s3) -> None:
    for bad in ({"dryRun": "yes"}, {"dryRun": True, "all": True}, {"dry_run": 1}):
        with pytest.raises(InvalidInputError):
            parse(ReconcileInput, bad, "reconcile input")
    assert parse(ReconcileInput, {}, "reconcile input").dry_run is False
    with pytest.raises(ConfigurationError, match="ITEMS_BUCKET"):
        reconcile.find_drift(
            ReconcileInput(), settings(items_bucket=None), source_ecr=world["ecr"][SOURCE],
            ecr_of=lambda r: world["ecr"][r], head=head_of({}), s3=s3,
        )  # fmt: skip
    s3.put_object(Bucket="items", Key="reconcile/x/drift.json", Body=b'{"not": "a report"}')
    with pytest.raises(InvalidInputError, match="not one reconcile wrote"):
        reconcile.read_report(s3, "items", "reconcile/x/drift.json")


def test_child_names_keep_their_unique_suffix_within_80_characters() -> None:
    long = "x" * 200
    assert child_name(long, "i123456").endswith("-i123456") and len(child_name(long, "i123456")) == 80
    assert child_name("a b/c", "1") == "a-b-c-1"
