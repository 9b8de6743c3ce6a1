"""Every metric the template's dashboard plots is one the code emits, with the same namespace and
dimensions.

What is emitted is not read from a list: the steps that emit run here (the copy Lambda on success,
skip, supersede and failure, the CodeBuild copy step, Record failure, the reconcile report) and
their EMF lines are parsed. The dashboard body is resolved as CloudFormation would and every
``SEARCH('{Namespace,Dim1,Dim2} MetricName="X"', ...)`` or explicit metric in it is checked.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecr_replicate import codebuild_step, config, reconcile, workflow
from ecr_replicate.drift import DriftReport, ImageCheck, RegionCheck
from ecr_replicate.errors import RegistryUnavailableError
from ecr_replicate.handlers import copy_image, record_failure
from ecr_replicate.inventory import SourceImage, TargetTag
from ecr_replicate.reconcile_model import DriftFound
from ecr_replicate_local.template import Template
from tests.unit.handlers.conftest import DIGEST, FakeContext, FakeCopier
from tests.unit.handlers.test_copy_image import item

ROOT = Path(__file__).resolve().parents[3]
Metric = tuple[str, frozenset[str], str]  # namespace, dimension names, metric name
SEARCH = re.compile(r"SEARCH\(\s*'\{(?P<schema>[^}]*)\}(?P<query>[^']*)'")
METRIC_NAME = re.compile(r'MetricName="(?P<name>[^"]+)"')


def emf_metrics(text: str) -> set[Metric]:
    found: set[Metric] = set()
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], frozenset(dimensions), metric["Name"]))
                    assert all(name in blob for name in dimensions)  # every dimension has its value
    return found


@pytest.fixture
def emitted(lambda_env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch) -> Iterator[set[Metric]]:
    """Run every step that emits metrics; what they printed (stdout and stderr), parsed."""
    fake = FakeCopier()
    monkeypatch.setattr(copy_image, "copier_factory", lambda: fake)
    monkeypatch.setattr(workflow, "real_copier", lambda: fake)
    monkeypatch.setattr(copy_image.credentials, "provider", "creds")
    monkeypatch.setattr(workflow, "real_head", lambda: lambda reference, **kw: None)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        context = FakeContext()
        copy_image.handler(item(eventTime="2026-01-16T01:55:10Z"), context)  # copied, with a lag
        fake.result.status = "SUPERSEDED"
        copy_image.handler(item(), context)
        copy_image.handler(item(tag=None, subject="sha256:" + "cd" * 32), context)  # referrer deferred
        fake.error = RegistryUnavailableError("down")
        with pytest.raises(RegistryUnavailableError):
            copy_image.handler(item(), context)
        fake.error = None
        record_failure.handler({**item(), "failure": {"Error": "TagImmutableError", "Cause": "x"}}, context)
        lambda_env.setenv("REPLICATION_ITEM", json.dumps(item(eventTime="2026-01-16T01:55:10Z")))
        fake.result.status = "COPIED"
        assert codebuild_step.main([]) == 0
        run_reconcile_report(lambda_env)
    yield emf_metrics(out.getvalue()) | emf_metrics(err.getvalue())


def run_reconcile_report(env: pytest.MonkeyPatch) -> None:
    env.setenv("ITEMS_BUCKET", "items")
    image = SourceImage("team/app", "v1", DIGEST)
    report = DriftReport(
        "us-east-1",
        ("eu-west-1",),
        [ImageCheck(image, [RegionCheck("eu-west-1", "missing")])],
        [TargetTag("eu-west-1", "team/app", "old", DIGEST)],
    )
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="items")
        reconcile.put_json(s3, "items", "reconcile/r/drift.json", report.to_json())
        found = DriftFound(
            run_name="r", dry_run=False, source_region="us-east-1", checked=1, drifted=1,
            drift_by_region={"eu-west-1": 1}, deleted_in_source=1, items_bucket="items",
            drift_key="reconcile/r/drift.json",
        )  # fmt: skip
        reconcile.report(found, config.current(), s3=s3, head=lambda host, repository, reference: DIGEST)


def dashboard_metrics() -> set[Metric]:
    tpl = Template(
        ROOT / "template.yaml",
        region="us-east-1",
        account="123456789012",
        parameters={"TargetRegions": "eu-west-1,ap-southeast-1"},
    )
    (dashboard,) = tpl.resources_of_type("AWS::CloudWatch::Dashboard").values()
    body = json.loads(tpl.resolve(dashboard["Properties"]["DashboardBody"]))
    found: set[Metric] = set()
    for widget in body["widgets"]:
        for entry in widget.get("properties", {}).get("metrics", []):
            found |= widget_metrics(entry)
    return found


def widget_metrics(entry: list[Any]) -> set[Metric]:
    """One ``metrics`` entry: a math expression (SEARCH) or ``[Namespace, Name, Dim, Value, ...]``."""
    options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
    expression = options.get("expression")
    if expression is not None:
        searches = list(SEARCH.finditer(expression))
        assert searches, f"an expression the test cannot read: {expression}"
        found = set()
        for search in searches:
            namespace, *dimensions = [part.strip() for part in search["schema"].split(",")]
            (name,) = METRIC_NAME.findall(search["query"])
            found.add((namespace, frozenset(dimensions), name))
        return found
    plain = [value for value in entry if not isinstance(value, dict)]
    if plain and plain[0] == "...":
        raise AssertionError("'...' shorthand: name the metric in full")
    namespace, name, *pairs = plain
    return {(namespace, frozenset(pairs[0::2]), name)}


def test_every_metric_the_dashboard_plots_is_emitted_with_its_namespace_and_dimensions(
    emitted: set[Metric],
) -> None:
    plotted = dashboard_metrics()
    assert len(plotted) >= 8
    missing = sorted((ns, sorted(dims), name) for ns, dims, name in plotted - emitted)
    assert missing == [], f"plotted but never emitted: {missing}; emitted: {sorted(m[2] for m in emitted)}"


def test_the_dashboard_covers_lag_bytes_skips_failures_and_drift(emitted: set[Metric]) -> None:
    names = {name for _, _, name in dashboard_metrics()}
    assert {
        "ReplicationLagSeconds",
        "BytesCopied",
        "BlobsSkipped",
        "ReplicationsFailed",
        "DriftFound",
    } <= names
    # the emitting steps really ran: both copy runtimes emitted the lag
    assert ("EcrReplicate", frozenset({"TargetRegion", "service"}), "ReplicationLagSeconds") in emitted


def test_a_plotted_metric_nobody_emits_is_caught() -> None:
    """The checker itself: a SEARCH naming another metric, or other dimensions, is not emitted."""
    emitted = {("EcrReplicate", frozenset({"TargetRegion", "service"}), "BytesCopied")}
    search = "SEARCH('{{{schema}}} MetricName=\"{name}\"', 'Sum', 300)"
    wrong_name = widget_metrics(
        [{"expression": search.format(schema="EcrReplicate,TargetRegion,service", name="BytesMoved")}]
    )
    wrong_dims = widget_metrics(
        [{"expression": search.format(schema="EcrReplicate,TargetRegion", name="BytesCopied")}]
    )
    assert not wrong_name <= emitted and not wrong_dims <= emitted
    assert widget_metrics(["EcrReplicate", "BytesCopied", "TargetRegion", "x", "service", "y"]) <= emitted
