"""A whole local deployment: regions (registries), an ECR front per region, the local AWS (moto +
the real ASL, handlers and IAM) and a webhook bridge per region. Started in order, stopped in
reverse, by PID, on exit or a signal. Used by ``ecr-replicate local demo|up``, the statemachine,
e2e, operator and reliability suites, and the workflow benchmark.

Every registry call our code makes goes through a front (``REGISTRY_ENDPOINTS`` names them,
``REGISTRY_CA_FILE`` is the run's CA). The bare registries are what people push to (the source's
address is printed for them) and what the twin reads for its bookkeeping: the local ECR (moto)
reflects what the registries hold, as ECR does on AWS -- at start each region's registry is read
into its ECR (:func:`~ecr_replicate_local.ecr_mirror.seed_from_registry`), then every push and
deletion the registries report is recorded there; the source region's pushes also become
``ECR Image Action`` events (``ECR Referrer Action`` for a manifest with a ``subject``) delivered
to EventBridge's rules (which start the workflow), unless ``deliver_events`` is off (suites that
start executions themselves). ``drop_events`` loses that percentage of the source's push events
before EventBridge (``local up --drop-events``, :mod:`~ecr_replicate_local.lost_events`): the
pushes are recorded in ECR all the same, and ``dropped`` lists their events.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecr_replicate_local.eventbridge import DELIVERY_ATTEMPTS
from ecr_replicate_local.regions import LocalRegions
from ecr_replicate_local.signals import signals_ignored

__all__ = ["DELIVERY_ATTEMPTS", "LocalEnvironment", "StartedExecution"]

logger = logging.getLogger(__name__)

NOTIFICATION_WAIT = 10.0
READY_WAIT = 60.0
MOTO_ACCOUNT = "123456789012"


@dataclass
class StartedExecution:
    event: dict[str, Any]
    arn: str

    @property
    def label(self) -> str:
        return event_label(self.event)


def names_an_image(event: Mapping[str, Any]) -> bool:
    """A tagged push or a referrer's: what people pushed (a platform manifest's push is part of
    its index's, which follows)."""
    return "image-tag" in event["detail"] or event.get("detail-type") == "ECR Referrer Action"


def event_label(event: Mapping[str, Any]) -> str:
    """``repository:tag (sha256:...)`` of a push event; a referrer's says so."""
    detail = event["detail"]
    tag = detail.get("image-tag")
    name = f"{detail['repository-name']}:{tag}" if tag else detail["repository-name"]
    kind = "referrer " if event.get("detail-type") == "ECR Referrer Action" else ""
    return f"{kind}{name} ({detail['image-digest'][:19]})"


def _at_once(steps: list[Callable[[], object]]) -> None:
    """Run the stop steps in parallel and wait for all; a failing one does not stop the others."""

    def run(step: Callable[[], object]) -> None:
        try:
            step()
        except Exception as exc:  # keep stopping the rest
            print(f"warning: while stopping: {exc}", file=sys.stderr)

    threads = [threading.Thread(target=run, args=(step,), name="stop") for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class LocalEnvironment:
    """Regions + fronts + local AWS + webhook bridges, started in order and stopped in reverse."""

    def __init__(
        self,
        source_region: str,
        target_regions: list[str],
        *,
        data_dir: Path | None = None,
        runtime: str = "lambda",
        template: Path | None = None,
        parameters: Mapping[str, str] | None = None,
        deliver_events: bool = True,
        retry_time_scale: float = 0.01,
        throttle: Any = None,
        prewarm: bool = True,
        function_overrides: Mapping[str, str] | None = None,
        drop_events: float = 0.0,
        drop_seed: int | None = None,
        log: int | None = None,
    ) -> None:
        """``log``: a file descriptor for the functions' output (``local demo|up`` give their log
        file); None: this process's stderr."""
        from ecr_replicate_local.lost_events import EventDropper  # noqa: PLC0415

        self.source_region = source_region
        self.target_regions = target_regions
        self.data_dir = data_dir
        self.template = template
        self.parameters = {
            "TargetRegions": ",".join(target_regions),
            "CopyRuntime": runtime,
            **(parameters or {}),
        }
        self.deliver_events = deliver_events
        self.retry_time_scale = retry_time_scale
        self.throttle = throttle  # an ecr_front.Throttle for the fronts, e.g. Throttle.ecr_defaults()
        self.prewarm = prewarm
        self.function_overrides = dict(function_overrides or {})
        self.log = log
        self.regions: LocalRegions | None = None
        self.fronts: Any = None
        self.aws: Any = None
        self.bridges: dict[str, Any] = {}  # region -> its registry's webhook bridge
        self.executions: list[StartedExecution] = []
        self.dropper = EventDropper(drop_events, drop_seed)  # --drop-events: lost push events
        self.dropped: list[dict[str, Any]] = []  # the source push events dropped, in order
        self.seeded: dict[str, int] = {}  # region -> tags found in its registry at start
        self._changed = threading.Condition()
        self._ready = threading.Event()

    @property
    def bridge(self) -> Any:
        """The source region's bridge (its pushes start the workflow)."""
        return self.bridges.get(self.source_region)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> LocalEnvironment:
        from ecr_replicate_local.ecr_mirror import seed_from_registry  # noqa: PLC0415
        from ecr_replicate_local.front_services import EcrCatalog, IamAuthorizer  # noqa: PLC0415
        from ecr_replicate_local.local_aws import DEFAULT_TEMPLATE, LocalAws  # noqa: PLC0415 - moto is heavy
        from ecr_replicate_local.registry_fronts import RegionFronts  # noqa: PLC0415
        from ecr_replicate_local.webhook import WebhookBridge  # noqa: PLC0415

        try:
            for region in (self.source_region, *self.target_regions):
                bridge = WebhookBridge(
                    self._on_event,
                    account=MOTO_ACCOUNT,
                    region=region,
                    # the source's pushes of manifests with a subject are ECR Referrer Actions
                    subject_of=self._subject_of if region == self.source_region else None,
                )
                self.bridges[region] = bridge.start()
            self.regions = LocalRegions(
                self.source_region,
                self.target_regions,
                data_dir=self.data_dir,
                notification_urls={region: bridge.url for region, bridge in self.bridges.items()},
            ).start()
            self.aws = LocalAws(
                regions=self.regions.endpoints(),
                source_region=self.source_region,
                parameters=self.parameters,
                template=self.template or DEFAULT_TEMPLATE,
                retry_time_scale=self.retry_time_scale,
                prewarm=self.prewarm,
                function_overrides=self.function_overrides,
                log=self.log,
            )
            self.fronts = RegionFronts(
                self.regions,
                account=MOTO_ACCOUNT,
                authorizer=IamAuthorizer(self.aws.identities, self.aws.enforcer),
                tokens=self.aws.tokens,
                repositories=EcrCatalog(MOTO_ACCOUNT),
                tls_dir=self.regions.root / "tls",
                throttle=self.throttle,
            ).start()
            self.aws.use_registries(self.fronts.endpoints(), self.fronts.ca_file)
            self.aws.start()
            for region in self.regions.regions:
                self.seeded[region] = seed_from_registry(
                    self.aws.client("ecr", region), self.regions.registry(region).host
                )
            self._ready.set()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the bridges, the local AWS, the fronts and every registry (by PID). Safe to call
        twice. A second Ctrl-C during the stop is ignored: it would leave registries running."""
        with signals_ignored():
            self._stop()

    def _stop(self) -> None:
        """In three waves, each one's parts at once (Ctrl-C in ``local up`` ends within 2 s): the
        bridges (no new event), the local AWS (no new copy), then the fronts and the registries."""
        bridges, self.bridges = list(self.bridges.values()), {}
        aws, self.aws = self.aws, None
        fronts, self.fronts = self.fronts, None
        regions, self.regions = self.regions, None
        self._ready.set()  # wake events waiting for a start that will not come
        _at_once([bridge.stop for bridge in bridges])
        _at_once([aws.stop] if aws is not None else [])
        _at_once([step for step in (fronts and fronts.stop, regions and regions.cleanup) if step])

    def __enter__(self) -> LocalEnvironment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- registries -------------------------------------------------------------------------------

    def push_host(self, region: str | None = None) -> str:
        """The bare registry of ``region`` (default: the source): where people push."""
        assert self.regions is not None
        return self.regions.registry(region or self.source_region).host

    def front_host(self, region: str) -> str:
        """The ECR front of ``region``: the registry host our code uses (``REGISTRY_ENDPOINTS``)."""
        return str(self.fronts.host(region))

    def operator_registry_access(self) -> tuple[Any, Any]:
        """(credentials, config function) for the operator to call the fronts: ECR tokens from
        the operator's ``GetAuthorizationToken``, the run's CA."""
        from ecr_replicate.credentials import EcrCredentials  # noqa: PLC0415
        from ecr_replicate.oci.registry_config import RegistryConfig  # noqa: PLC0415

        credentials = EcrCredentials(
            lambda region: self.aws.client("ecr", region), endpoints=self.fronts.endpoints()
        )
        config = RegistryConfig(ca_file=str(self.fronts.ca_file))
        return credentials, config

    def denials(self) -> list[str]:
        """What IAM refused so far, on the control planes and the fronts (which ask the same
        evaluator), one AccessDenied sentence each, oldest first, without repeats."""
        refused = [decision.message() for decision in self.aws.denials()] if self.aws else []
        return list(dict.fromkeys(refused))

    # --- events and executions ----------------------------------------------------------------

    def _on_event(self, event: dict[str, Any]) -> None:
        """A registry's push or deletion: record it in its region's ECR; a source push also goes
        to EventBridge (its rules start the workflow)."""
        from ecr_replicate_local.ecr_mirror import record_delete, record_push  # noqa: PLC0415
        from ecr_replicate_local.webhook import execution_name  # noqa: PLC0415

        self._ready.wait(READY_WAIT)
        aws, regions = self.aws, self.regions
        if aws is None or regions is None:
            return
        region = str(event["region"])
        try:
            ecr = aws.client("ecr", region)
            if event["detail"]["action-type"] == "DELETE":
                record_delete(ecr, event)
            else:
                record_push(ecr, regions.registry(region).host, event)
        except Exception as exc:  # replication goes on; only listings would miss the image
            print(f"warning: could not record the {region} push in the local ECR: {exc}", file=sys.stderr)
        if region != self.source_region or not self.deliver_events:
            return
        if event["detail"]["action-type"] == "PUSH" and self.dropper.drop():
            logger.info("dropped the push event %s (--drop-events %g%%)", event["id"], self.dropper.percent)
            with self._changed:
                self.dropped.append(event)
                self._changed.notify_all()
            return
        try:
            arns = aws.deliver_event(event, name=execution_name(event))
        except Exception as exc:  # retried, then in the rule's dead-letter queue: say so
            print(f"warning: EventBridge could not start the workflow: {exc}", file=sys.stderr)
            raise
        with self._changed:
            self.executions.extend(StartedExecution(event, arn) for arn in arns)
            self._changed.notify_all()

    def _subject_of(self, event: dict[str, Any]) -> str | None:
        """The ``subject`` of the manifest a push event names, read from its region's registry."""
        from ecr_replicate_local.ecr_mirror import RegistryReader  # noqa: PLC0415

        self._ready.wait(READY_WAIT)
        if self.regions is None:
            return None
        detail = event["detail"]
        reader = RegistryReader(self.regions.registry(str(event["region"])).host)
        try:
            manifest = reader.manifest(str(detail["repository-name"]), str(detail["image-digest"]))
        finally:
            reader.close()
        if manifest is None:
            return None
        subject = json.loads(manifest.body).get("subject")
        digest = subject.get("digest") if isinstance(subject, dict) else None
        return digest if isinstance(digest, str) else None

    def wait_recorded(
        self,
        repository: str,
        digest: str,
        region: str | None = None,
        *,
        present: bool = True,
        timeout: float = 30.0,
    ) -> None:
        """Wait until ``repository@digest`` is in (or, ``present=False``, gone from) the local ECR
        of ``region`` (default: the source): a push to a bare registry, or a deletion, reaches the
        control plane through the registry's notification."""
        ecr = self.aws.client("ecr", region or self.source_region)
        deadline = time.monotonic() + timeout
        while True:
            try:
                ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
                found = True
            except ecr.exceptions.ClientError:
                found = False
            if found == present:
                return
            if time.monotonic() > deadline:
                state = "recorded" if present else "forgotten"
                raise TimeoutError(f"{repository}@{digest} not {state} within {timeout:.0f}s")
            time.sleep(0.02)

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
        """The notification message of ``execution_arn`` (SNS -> the local queue), if any."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.aws.notifications():
                if message.get("executionArn") == execution_arn:
                    return dict(message)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
