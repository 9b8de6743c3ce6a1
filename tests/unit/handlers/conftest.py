"""Helpers for handler tests: environment, events from tests/events, Lambda context, fakes, and a
local twin (real registries behind their ECR fronts, the local AWS with the template's roles) for
the tests that run a handler against real registries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ecr_replicate.config import ENV_NAMES
from ecr_replicate.oci.copy import CopyResult
from ecr_replicate.oci.reference import Reference
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.moto_server import forget_cached_clients

EVENTS = Path(__file__).resolve().parents[2] / "events"
ACCOUNT = "123456789012"
SOURCE_REGION = "us-east-1"
TARGETS = ("eu-west-1", "ap-southeast-1")
DIGEST = "sha256:" + "ab" * 32


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@dataclass
class FakeContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{SOURCE_REGION}:{ACCOUNT}:function:test-function"
    aws_request_id: str = "req-0001"


@dataclass
class FakeDescription:
    digest: str = DIGEST
    media_type: str = "application/vnd.oci.image.index.v1+json"
    size_bytes: int = 4096


@dataclass
class FakeDescribe:
    description: FakeDescription = field(default_factory=FakeDescription)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def __call__(self, ref: Any, credentials: Any = None, config: Any = None) -> FakeDescription:
        self.calls.append((str(ref), credentials))
        return self.description


def FakeCopyResult(status: str = "COPIED", digest: str = DIGEST) -> CopyResult:
    """What copy_image() returns, with fixed counts."""
    return CopyResult(
        status=status,
        source=Reference("source.example", "team/app", "v1"),
        target=Reference("target.example", "team/app", "v1"),
        digest=digest,
        media_type="application/vnd.oci.image.index.v1+json",
        bytes_copied=2048,
        blobs_copied=2,
        blobs_skipped=1,
        seconds=0.25,
    )


@dataclass
class FakeCopier:
    result: CopyResult = field(default_factory=FakeCopyResult)
    error: Exception | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, source: Any, target: Any, **kwargs: Any) -> CopyResult:
        self.calls.append({"source": str(source), "target": str(target), **kwargs})
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A deployment's environment: source us-east-1 (also listed, so dropped), two targets."""
    for name in (*ENV_NAMES, "AWS_ENDPOINT_URL"):  # every setting Settings reads, then ours
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", SOURCE_REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", SOURCE_REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("TARGET_REGIONS", ",".join((*TARGETS, SOURCE_REGION)))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "EcrReplicateTest")
    return monkeypatch


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


@dataclass
class HandlerTwin:
    """The local twin a handler runs against: push to :meth:`push_host` (a bare registry, as
    people do), run the handler as its function's role with :meth:`as_function`; every registry
    call it makes then goes through the region's ECR front (:meth:`front`)."""

    env: LocalEnvironment

    def push_host(self, region: str = SOURCE_REGION) -> str:
        return self.env.push_host(region)

    def front(self, region: str) -> str:
        return self.env.front_host(region)

    def recorded(self, repository: str, digest: str) -> None:
        """Wait until a push to the source's bare registry is in the local ECR."""
        self.env.wait_recorded(repository, digest)

    def create_repository(self, region: str, repository: str) -> None:
        """What the Ensure step would have done before a copy (as the operator)."""
        self.env.aws.client("ecr", region).create_repository(repositoryName=repository)

    def as_function(
        self, monkeypatch: pytest.MonkeyPatch, role: str, service: str = "lambda.amazonaws.com"
    ) -> None:
        """This process becomes one of the stack's functions (or its build): the role's session
        credentials, the local AWS endpoint, the fronts as REGISTRY_ENDPOINTS with the run's CA."""
        aws = self.env.aws
        session = aws.session(aws.stack.role_arn(role), service, f"unit-{role}")
        for name, value in {
            **session.environment(),
            "AWS_ENDPOINT_URL": aws.endpoint_url,
            "REGISTRY_ENDPOINTS": json.dumps(aws.regions),
            "REGISTRY_CA_FILE": str(self.env.fronts.ca_file),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("REGISTRY_PLAIN_HTTP", raising=False)
        forget_cached_clients()  # boto3 clients cached under an earlier environment


@pytest.fixture(scope="module")  # not wider: moto's in-process mocks of other modules reset it
def twin() -> Iterator[HandlerTwin]:
    """Three regions (the handlers' source and targets), their fronts and the local AWS."""
    with LocalEnvironment(SOURCE_REGION, list(TARGETS), deliver_events=False, prewarm=False) as env:
        yield HandlerTwin(env)
    forget_cached_clients()
