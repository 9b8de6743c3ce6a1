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
start executions themselves); so does CloudTrail's ``PutImage`` event of each source push, when a
rule matches it (``CloudTrailTrigger``, :mod:`~ecr_replicate_local.cloudtrail`). ``drop_events``
loses that percentage of the source's push events before EventBridge (``local up
--drop-events``, :mod:`~ecr_replicate_local.lost_events`): the pushes are recorded in ECR all the
same, and ``dropped`` lists their events.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ecr_replicate_local.cloudtrail import AfterRuns, put_image_event
from ecr_replicate_local.eventbridge import DELIVERY_ATTEMPTS
from ecr_replicate_local.push_events import StartedExecution, event_label, names_an_image
from ecr_replicate_local.regions import LocalRegions
from ecr_replicate_local.schedules import SCHEDULER, LocalScheduler, ScheduledRun, ScheduleSpec
from ecr_replicate_local.signals import signals_ignored

__all__ = ["DELIVERY_ATTEMPTS", "LocalEnvironment", "StartedExecution", "event_label", "names_an_image"]

logger = logging.getLogger(__name__)

NOTIFICATION_WAIT = 10.0
READY_WAIT = 60.0
MOTO_ACCOUNT = "123456789012"


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
        runtime: str | None = None,
        template: Path | None = None,
        parameters: Mapping[str, str] | None = None,
        deliver_events: bool = True,
        retry_time_scale: float = 0.01,
        throttle: Any = None,
        prewarm: bool = True,
        function_overrides: Mapping[str, str] | None = None,
        drop_events: float = 0.0,
        drop_seed: int | None = None,
        schedule_time_scale: float = 1.0,
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
            **({"CopyRuntime": runtime} if runtime is not None else {}),
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
        self.cloudtrail: AfterRuns | None = None  # CloudTrail's PutImage events, after the push's runs
        self.scheduler: LocalScheduler | None = None  # the template's rate(...) schedules
        self.schedule_time_scale = schedule_time_scale  # < 1: schedules fire sooner (tests)
        self.scheduled: list[ScheduledRun] = []  # the runs they started, in order
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
            self.cloudtrail = AfterRuns(self._deliver, self._ended)
            self.scheduler = LocalScheduler(
                self.aws.stack.schedules,
                self._start_scheduled,
                self._not_started,
                time_scale=self.schedule_time_scale,
            )
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
        bridges, CloudTrail and the schedules (no new event), the local AWS (no new copy), then the
        fronts and the registries."""
        bridges, self.bridges = list(self.bridges.values()), {}
        cloudtrail, self.cloudtrail = self.cloudtrail, None
        scheduler, self.scheduler = self.scheduler, None
        aws, self.aws = self.aws, None
        fronts, self.fronts = self.fronts, None
        regions, self.regions = self.regions, None
        self._ready.set()  # wake events waiting for a start that will not come
        first = [bridge.stop for bridge in bridges]
        first += [part.stop for part in (cloudtrail, scheduler) if part is not None]
        _at_once(first)
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
        arns: list[str] = []
        if event["detail"]["action-type"] == "PUSH" and self.dropper.drop():
            logger.info("dropped the push event %s (--drop-events %g%%)", event["id"], self.dropper.percent)
            with self._changed:
                self.dropped.append(event)
                self._changed.notify_all()
        else:
            arns = self._deliver(event)
        # CloudTrail records the PutImage too (its event is not one --drop-events loses)
        trail = put_image_event(event)
        if trail is not None and self.cloudtrail is not None and aws.stack.targets_for(trail):
            self.cloudtrail.submit(trail, after=arns)

    def _deliver(self, event: dict[str, Any]) -> list[str]:
        """Deliver ``event`` to EventBridge's rules; the runs it started are recorded."""
        from ecr_replicate_local.webhook import execution_name  # noqa: PLC0415

        try:
            arns: list[str] = self.aws.deliver_event(event, name=execution_name(event))
        except Exception as exc:  # retried, then in the rule's dead-letter queue: say so
            print(f"warning: EventBridge could not start the workflow: {exc}", file=sys.stderr)
            raise
        with self._changed:
            self.executions.extend(StartedExecution(event, arn) for arn in arns)
            self._changed.notify_all()
        return arns

    def _start_scheduled(self, spec: ScheduleSpec) -> str:
        """Start a schedule's target as EventBridge Scheduler does: as the schedule's role."""
        credentials = self.aws.session(self.aws.stack.role_arn(spec.role), SCHEDULER, "scheduler")
        sfn = self.aws.client("stepfunctions", credentials=credentials)
        answer = sfn.start_execution(stateMachineArn=spec.target_arn, name=uuid.uuid4().hex, input=spec.input)
        with self._changed:
            self.scheduled.append(ScheduledRun(spec, str(answer["executionArn"])))
            self._changed.notify_all()
        return str(answer["executionArn"])

    def _not_started(self, spec: ScheduleSpec, error: Exception) -> None:
        print(f"warning: schedule {spec.name} could not start its target: {error}", file=sys.stderr)

    def _ended(self, execution_arn: str) -> bool:
        status = self.sfn().describe_execution(executionArn=execution_arn)["status"]
        return bool(status != "RUNNING")

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

    def wait_for_execution(
        self, repository: str, digest: str, timeout: float = 30.0, *, via_cloudtrail: bool = False
    ) -> StartedExecution:
        """The execution the push of ``repository@digest`` started (once its event has arrived);
        ``via_cloudtrail``: the one CloudTrail's PutImage event started (``CloudTrailTrigger``)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for started in self.executions:
                    same_push = started.repository == repository and started.digest == digest
                    if same_push and started.via_cloudtrail == via_cloudtrail:
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
