"""EventBridge Scheduler's side of the local stack: the template's ``AWS::Scheduler::Schedule``s
(``ReconcileSchedule``'s ``ScheduledReconcile``).

Each enabled schedule is created in the local Scheduler (``aws scheduler get-schedule --name N``
with ``local up``'s exports shows it), its expression checked as Scheduler checks it: ``rate(N
unit)`` with N a positive integer, ``cron(...)`` with six fields, ``at(yyyy-mm-ddThh:mm:ss)``; a
refused one fails the stack, as CloudFormation would roll it back.

:class:`LocalScheduler` fires the ``rate(...)`` schedules (state ``ENABLED``): every period from the
stack's start, the target state machine is started as the schedule's role, assumed as
``scheduler.amazonaws.com``, with the target's ``Input``, retried a few times; the flexible time
window is not used (each run starts at its window's opening). ``cron(...)`` and ``at(...)``
schedules are created but not fired: the twin evaluates no calendar, and a local session rarely
lasts until a daily cron time (``ReconcileSchedule=rate(5 minutes)`` shows the schedule at work;
``ecr-replicate reconcile`` starts the same run at once).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecr_replicate.errors import ConfigurationError
from ecr_replicate_local.stack_spec import role_of
from ecr_replicate_local.template import Template

SCHEDULER = "scheduler.amazonaws.com"
START_ATTEMPTS = 3
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_CRON_FIELDS = 6


@dataclass(frozen=True)
class ScheduleSpec:
    """One enabled ``AWS::Scheduler::Schedule``, resolved."""

    logical_id: str
    name: str
    expression: str
    target_arn: str
    role: str  # logical id of the role Scheduler assumes
    input: str
    enabled: bool

    @property
    def period(self) -> float | None:
        """Seconds between runs of a ``rate(...)`` schedule (None for cron and at)."""
        rate = _RATE.fullmatch(self.expression)
        if rate is None:
            return None
        return int(rate.group(1)) * _SECONDS[rate.group(2).rstrip("s")]


def check_expression(logical_id: str, expression: str) -> None:
    """Refuse what EventBridge Scheduler refuses (CreateSchedule's ValidationException)."""
    problem = None
    rate = _RATE.fullmatch(expression)
    if expression.startswith("rate("):
        if rate is None:
            problem = "a rate is rate(N minute|minutes|hour|hours|day|days)"
        elif int(rate.group(1)) < 1:
            problem = "the rate's value must be a positive integer"
    elif expression.startswith("cron(") and expression.endswith(")"):
        if len(expression[5:-1].split()) != _CRON_FIELDS:
            problem = "a cron expression has six fields (minutes hours day-of-month month day-of-week year)"
    elif expression.startswith("at(") and expression.endswith(")"):
        try:
            datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            problem = "a one-time schedule is at(yyyy-mm-ddThh:mm:ss)"
    else:
        problem = "the expression is rate(...), cron(...) or at(...)"
    if problem is not None:
        raise ConfigurationError(
            f"EventBridge Scheduler refuses the ScheduleExpression {expression[:80]!r} of {logical_id}: "
            f"{problem} (CloudFormation would roll the stack back)"
        )


def create_schedules(tpl: Template, scheduler: Any) -> list[ScheduleSpec]:
    """Create every enabled schedule of ``tpl`` with ``scheduler`` (an operator's client)."""
    specs: list[ScheduleSpec] = []
    for lid, res in tpl.resources_of_type("AWS::Scheduler::Schedule").items():
        raw = res.get("Properties") or {}
        props = tpl.resolve(raw)
        target = props.get("Target") or {}
        expression = str(props.get("ScheduleExpression", ""))
        check_expression(lid, expression)
        spec = ScheduleSpec(
            logical_id=lid,
            name=str(props.get("Name") or f"{tpl.stack_name}-{lid}"),
            expression=expression,
            target_arn=str(target.get("Arn", "")),
            role=role_of(tpl, (raw.get("Target") or {}).get("RoleArn"), f"schedule {lid}"),
            input=str(target.get("Input", "{}")),
            enabled=str(props.get("State", "ENABLED")) == "ENABLED",
        )
        scheduler.create_schedule(
            Name=spec.name,
            ScheduleExpression=expression,
            ScheduleExpressionTimezone=str(props.get("ScheduleExpressionTimezone", "UTC")),
            FlexibleTimeWindow=props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
            State="ENABLED" if spec.enabled else "DISABLED",
            Target={"Arn": spec.target_arn, "RoleArn": tpl.get_att(spec.role, "Arn"), "Input": spec.input},
            **({"Description": str(props["Description"])} if props.get("Description") else {}),
        )
        specs.append(spec)
    return specs


@dataclass(frozen=True)
class ScheduledRun:
    """A run a schedule started."""

    spec: ScheduleSpec
    arn: str

    @property
    def label(self) -> str:
        return f"{self.spec.logical_id} ({self.spec.expression})"


class LocalScheduler:
    """Fires the enabled ``rate(...)`` schedules on one thread: ``start(spec)`` starts one run;
    a failure is retried, then handed to ``failed(spec, error)``."""

    def __init__(
        self,
        specs: list[ScheduleSpec],
        start: Callable[[ScheduleSpec], object],
        failed: Callable[[ScheduleSpec, Exception], object],
        *,
        time_scale: float = 1.0,
    ) -> None:
        """``time_scale``: periods are multiplied by it (tests: 0.1 fires rate(1 minute) every 6 s)."""
        if time_scale <= 0:
            raise ConfigurationError("time_scale must be > 0")
        self._start = start
        self._failed = failed
        self._scale = time_scale
        now = time.monotonic()
        self._due = {spec: now + spec.period * time_scale for spec in specs if spec.enabled and spec.period}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="local-scheduler", daemon=True)
        if self._due:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _work(self) -> None:
        while not self._stopping.is_set():
            spec, due = min(self._due.items(), key=lambda item: item[1])
            if self._stopping.wait(max(0.0, due - time.monotonic())):
                return
            self._due[spec] = due + (spec.period or 0.0) * self._scale
            self._fire(spec)

    def _fire(self, spec: ScheduleSpec) -> None:
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start(spec)
            except Exception as exc:  # Scheduler retries (RetryPolicy), then drops the invocation
                if attempt == START_ATTEMPTS or self._stopping.wait(0.2 * attempt):
                    self._failed(spec, exc)
                    return
                continue
            return
