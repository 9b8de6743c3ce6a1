"""A whole local deployment: regions (registries), the local AWS (moto + the real ASL and handlers)
and the webhook bridge that turns pushes into ECR events. Started in order, stopped in reverse,
by PID, on exit or a signal. Used by ``ecr-replicate local demo|up``, the e2e tests and the
workflow benchmark."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ecr_replicate.errors import ReplicationError
from ecr_replicate_local.regions import LocalRegions
from ecr_replicate_local.signals import signals_ignored

NOTIFICATION_WAIT = 10.0
DELIVERY_ATTEMPTS = 3  # the EventBridge rule target's RetryPolicy, scaled down
DELIVERY_BACKOFF = 0.1


def deliver(aws: Any, event: dict[str, Any], name: str, rule: str = "EcrPushRule") -> str:
    """What the rule's target does with an event: start the execution (an execution of that
    name already started counts as delivered), retrying; after the last attempt the event goes to
    the rule's dead-letter queue with EventBridge's attributes, and the error is raised."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    for attempt in range(1, DELIVERY_ATTEMPTS + 1):
        try:
            return str(aws.start_execution(event, name=name))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code == "ExecutionAlreadyExists":
                return str(aws.state_machine_arn).replace(":stateMachine:", ":execution:") + f":{name}"
            if attempt == DELIVERY_ATTEMPTS:
                dead_letter(aws, event, rule, code=code, message=str(exc), attempts=attempt)
                raise
            time.sleep(DELIVERY_BACKOFF * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def dead_letter(
    aws: Any, event: dict[str, Any], rule: str, *, code: str, message: str, attempts: int
) -> None:
    """Send ``event`` to ``rule``'s dead-letter queue as EventBridge does: the event as the body,
    why it was not delivered as message attributes."""
    queue = aws.dead_letter_queue(rule)
    rule_arn = f"arn:aws:events:{aws.source_region}:{aws.account}:rule/{rule}"
    if queue is None:
        return
    text = {"DataType": "String"}
    aws.client("sqs").send_message(
        QueueUrl=queue,
        MessageBody=json.dumps(event),
        MessageAttributes={
            "ERROR_CODE": {**text, "StringValue": code},
            "ERROR_MESSAGE": {**text, "StringValue": message[:1000]},
            "RULE_ARN": {**text, "StringValue": rule_arn},
            "TARGET_ARN": {**text, "StringValue": str(aws.state_machine_arn)},
            "RETRY_ATTEMPTS": {"DataType": "Number", "StringValue": str(attempts - 1)},
            "EXHAUSTED_RETRY_CONDITION": {**text, "StringValue": "MaximumRetryAttempts"},
        },
    )


@dataclass
class StartedExecution:
    event: dict[str, Any]
    arn: str

    @property
    def label(self) -> str:
        detail = self.event["detail"]
        tag = detail.get("image-tag")
        name = f"{detail['repository-name']}:{tag}" if tag else detail["repository-name"]
        return f"{name} ({detail['image-digest'][:19]})"


class LocalEnvironment:
    """Regions + local AWS + webhook bridge, started in order and stopped in reverse."""

    def __init__(
        self,
        source_region: str,
        target_regions: list[str],
        *,
        data_dir: Path | None = None,
        runtime: str = "lambda",
    ) -> None:
        self.source_region = source_region
        self.target_regions = target_regions
        self.data_dir = data_dir
        self.runtime = runtime
        self.regions: LocalRegions | None = None
        self.aws: Any = None
        self.bridge: Any = None
        self.executions: list[StartedExecution] = []
        self._changed = threading.Condition()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalEnvironment:
        from ecr_replicate_local.engine import LocalAws  # noqa: PLC0415 - moto is heavy
        from ecr_replicate_local.webhook import WebhookBridge  # noqa: PLC0415

        try:
            self.bridge = WebhookBridge(self._on_event, account="123456789012", region=self.source_region)
            self.bridge.start()
            self.regions = LocalRegions(
                self.source_region,
                self.target_regions,
                data_dir=self.data_dir,
                notification_url=self.bridge.url,
            ).start()
            self.aws = LocalAws(
                regions=self.regions.endpoints(),
                source_region=self.source_region,
                parameters={"TargetRegions": ",".join(self.target_regions), "CopyRuntime": self.runtime},
            )
            self.bridge.account = self.aws.account
            self.aws.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the bridge, the local AWS and every registry (by PID). Safe to call twice.

        A second Ctrl-C during the stop is ignored: it would leave registries running.
        """
        with signals_ignored():
            self._stop()

    def _stop(self) -> None:
        bridge, self.bridge = self.bridge, None
        aws, self.aws = self.aws, None
        regions, self.regions = self.regions, None
        for step in (
            bridge.stop if bridge is not None else None,
            aws.stop if aws is not None else None,
            regions.cleanup if regions is not None else None,
        ):
            if step is None:
                continue
            try:
                step()
            except Exception as exc:  # keep stopping the rest
                print(f"warning: while stopping: {exc}", file=sys.stderr)

    def __enter__(self) -> LocalEnvironment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- executions -----------------------------------------------------------------------------

    def _on_event(self, event: dict[str, Any]) -> None:
        from ecr_replicate_local.ecr_mirror import record_push  # noqa: PLC0415
        from ecr_replicate_local.webhook import execution_name  # noqa: PLC0415

        aws, regions = self.aws, self.regions
        if aws is None or regions is None:
            return
        # ECR's control plane knows every pushed image; locally moto plays it, so record the push
        # there too (backfill and verify list the source through the ECR API).
        try:
            record_push(aws.client("ecr"), regions.source.host, event)
        except Exception as exc:  # replication goes on; only listings would miss the image
            print(f"warning: could not record the push in local ECR: {exc}", file=sys.stderr)
        arn = deliver(aws, event, execution_name(event))
        with self._changed:
            self.executions.append(StartedExecution(event, arn))
            self._changed.notify_all()

    def wait_for_execution(self, repository: str, digest: str, timeout: float = 30.0) -> StartedExecution:
        """The execution the push of ``repository@digest`` started (once its event has arrived)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for started in self.executions:
                    detail = started.event["detail"]
                    if detail["repository-name"] == repository and detail["image-digest"] == digest:
                        return started
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no push event for {repository}@{digest} within {timeout:.0f}s")
                self._changed.wait(left)

    def sfn(self) -> Any:
        return self.aws.client("stepfunctions")

    def notification_for(
        self, execution_arn: str, timeout: float = NOTIFICATION_WAIT
    ) -> dict[str, Any] | None:
        """The notification message of ``execution_arn`` (SNS -> the engine's queue), if any."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.aws.notifications():
                if message.get("executionArn") == execution_arn:
                    return dict(message)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def digest_check(self, repository: str, tag: str, out: TextIO) -> bool:
        """HEAD the tag in every region; True when every target's digest equals the source's."""
        from ecr_replicate.oci.describe import head_digest  # noqa: PLC0415
        from ecr_replicate.oci.registry_config import RegistryConfig  # noqa: PLC0415
        from ecr_replicate.oci.transport import RetryPolicy  # noqa: PLC0415

        assert self.regions is not None
        digests: dict[str, str] = {}
        for region in self.regions.regions:
            host = self.regions.registry(region).host
            try:
                found = head_digest(
                    f"{host}/{repository}:{tag}",
                    config=RegistryConfig(plain_http=True),  # the bare local registries
                    retry=RetryPolicy(attempts=1),
                )
                digests[region] = found or "missing"
            except ReplicationError as exc:
                digests[region] = f"unreachable ({type(exc).__name__})"
        source = digests[self.source_region]
        all_match = source.startswith("sha256:")
        print(f"Digest check of {repository}:{tag}:", file=out)
        for region, digest in digests.items():
            if region == self.source_region:
                verdict = "source"
            elif digest == source and source.startswith("sha256:"):
                verdict = "match"
            else:
                verdict = "MISMATCH"
                all_match = False
            print(f"  {region:<16} {digest:<73} {verdict}", file=out)
        print(f"  {'all regions match the source' if all_match else 'NOT all regions match'}", file=out)
        return all_match
