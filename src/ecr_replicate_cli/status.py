"""``ecr-replicate status EXECUTION [--follow] [--stack NAME]``: the per-region view of one run.

The table comes from the execution history (Map iteration events attributed to their region by
:func:`ecr_replicate_cli.region_rows.region_rows`), so it reads the same for a local execution
(``AWS_ENDPOINT_URL`` pointing at ``ecr-replicate local up``) and a real one on AWS. On a
terminal it is a live ``rich`` table; otherwise plain lines, one per region state change.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from ecr_replicate.errors import InvalidInputError, ReplicationError
from ecr_replicate.units import human_bytes
from ecr_replicate_cli.region_rows import COPYING, DONE, ENSURING, FAILED, SUPERSEDED, RegionRow, region_rows

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
_STATE_MACHINE_ARN = ":states:"
POLL_SECONDS = 0.5




@dataclass
class ExecutionView:
    """What ``status`` shows: the execution's state and one row per region."""

    arn: str
    name: str
    status: str
    state_machine_arn: str
    input: Any
    rows: list[RegionRow] = field(default_factory=list)
    text: str = ""  # the aggregate summary text once the run has ended

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def failed_regions(self) -> list[str]:
        return [row.region for row in self.rows if row.failed]


# --- AWS access -------------------------------------------------------------------------------


def arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[3] else None


def stepfunctions_client(region: str | None = None) -> Any:
    """A Step Functions client; boto3 reads ``AWS_ENDPOINT_URL`` and credentials from the environment."""
    import boto3  # noqa: PLC0415 - keep --help fast

    return boto3.client("stepfunctions", region_name=region)  # type: ignore[call-overload]


def cloudformation_client(region: str | None = None) -> Any:
    import boto3  # noqa: PLC0415

    return boto3.client("cloudformation", region_name=region)  # type: ignore[call-overload]


def stack_state_machine(cfn: Any, stack: str) -> str:
    """The replication state machine's ARN from the stack's outputs (not the backfill one)."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        raise InvalidInputError(f"stack {stack!r}: {exc.response['Error'].get('Message', exc)}") from None
    outputs = stacks[0].get("Outputs", []) if stacks else []
    machines = [
        (str(o.get("OutputKey", "")), str(o["OutputValue"]))
        for o in outputs
        if ":stateMachine:" in str(o.get("OutputValue", ""))
    ]
    if not machines:
        raise InvalidInputError(f"stack {stack!r} has no state machine ARN among its outputs")
    machines.sort(key=lambda kv: ("backfill" in kv[0].lower(), "replicat" not in kv[0].lower()))
    return machines[0][1]


def resolve_execution(
    execution: str | None,
    stack: str | None,
    *,
    cfn_factory: Callable[[], Any] = cloudformation_client,
    sfn_factory: Callable[[str | None], Any] = stepfunctions_client,
) -> str:
    """An execution ARN from an ARN, a name within ``--stack``'s state machine, or the latest one."""
    if execution and execution.startswith("arn:"):
        if ":execution:" not in execution:
            raise InvalidInputError(f"not an execution ARN: {execution[:120]!r}")
        return execution
    if not stack:
        raise InvalidInputError("give an execution ARN, or --stack NAME with an execution name")
    machine = stack_state_machine(cfn_factory(), stack)
    if execution:
        return machine.replace(":stateMachine:", ":execution:", 1) + ":" + execution
    sfn = sfn_factory(arn_region(machine))
    latest = sfn.list_executions(stateMachineArn=machine, maxResults=1).get("executions", [])
    if not latest:
        raise InvalidInputError(f"state machine {machine} has no executions yet")
    return str(latest[0]["executionArn"])


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first."""
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def _summary_text(desc: dict[str, Any]) -> str:
    if desc.get("status") == "SUCCEEDED":
        try:
            output = json.loads(desc.get("output") or "null")
        except ValueError:
            return ""
        if isinstance(output, dict):
            return str(output.get("text") or "")
        return ""
    cause = str(desc.get("cause") or "")
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("text"):
        return str(parsed["text"])
    error = str(desc.get("error") or "")
    return cause or error or (desc.get("status") or "")


def snapshot(sfn: Any, execution_arn: str) -> ExecutionView:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        desc: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
    except ClientError as exc:
        raise InvalidInputError(
            f"execution {execution_arn}: {exc.response['Error'].get('Message', exc)}"
        ) from None
    try:
        original_input = json.loads(desc.get("input") or "null")
    except ValueError:
        original_input = desc.get("input")
    view = ExecutionView(
        arn=execution_arn,
        name=str(desc.get("name") or execution_arn.rsplit(":", 1)[-1]),
        status=str(desc["status"]),
        state_machine_arn=str(desc.get("stateMachineArn") or ""),
        input=original_input,
        rows=region_rows(history(sfn, execution_arn)),
    )
    if view.done:
        view.text = _summary_text(desc)
    return view


# --- rendering --------------------------------------------------------------------------------


def lag_text(row: RegionRow) -> str:
    """Seconds from the push event to the region holding the image ("-" until known)."""
    return "-" if row.lag_seconds is None else f"{row.lag_seconds:.1f} s"


def plain_row(row: RegionRow) -> str:
    line = (
        f"{row.region:<16} {row.state:<20} {human_bytes(row.bytes_copied):>10}  "
        f"skipped {row.blobs_skipped:<3} {row.seconds:6.1f} s  lag {lag_text(row):>8}"
    )
    if row.attempts > 1 and not row.finished:
        line += f"  attempt {row.attempts}"
    if row.error:
        line += f"  {row.error}"
    return line


def rich_table(view: ExecutionView) -> Any:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"{view.name}: {view.status}", title_justify="left")
    table.add_column("region")
    table.add_column("state")
    table.add_column("bytes", justify="right")
    table.add_column("blobs skipped", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("lag", justify="right")
    table.add_column("error", overflow="fold")
    colours = {DONE: "green", FAILED: "red", COPYING: "cyan", ENSURING: "cyan", SUPERSEDED: "yellow"}
    for row in view.rows:
        colour = colours.get(row.state, "")
        retrying = f" (attempt {row.attempts})" if row.attempts > 1 and not row.finished else ""
        table.add_row(
            row.region,
            f"[{colour}]{row.state}[/]" if colour else row.state,
            human_bytes(row.bytes_copied),
            str(row.blobs_skipped),
            f"{row.seconds:.1f}",
            lag_text(row),
            (row.error or "") + retrying,
        )
    return table


class Renderer:
    """Shows successive snapshots: a live rich table on a terminal, plain lines otherwise."""

    def __init__(self, out: TextIO, *, tty: bool | None = None, show_text: bool = True) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.show_text = show_text
        self._seen: dict[str, tuple[str, str | None, int]] = {}
        self._live: Any = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, view: ExecutionView) -> None:
        if self.tty:
            if self._live is None:
                from rich.console import Console  # noqa: PLC0415
                from rich.live import Live  # noqa: PLC0415

                self._live = Live(
                    rich_table(view), console=Console(file=self.out), refresh_per_second=8, transient=False
                )
                self._live.start()
            else:
                self._live.update(rich_table(view))
            return
        for row in view.rows:
            key = (row.state, row.error, row.attempts)
            if self._seen.get(row.region) != key:
                self._seen[row.region] = key
                print(plain_row(row), file=self.out, flush=True)

    def final(self, view: ExecutionView) -> None:
        if self.tty:
            self.update(view)
            self.close()
        else:
            print(f"execution {view.name}: {view.status}", file=self.out)
            for row in view.rows:
                print(f"  {plain_row(row)}", file=self.out)
        if view.text and self.show_text:
            print(view.text, file=self.out)
        self.out.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def watch(
    sfn: Any,
    execution_arn: str,
    *,
    out: TextIO,
    follow: bool = True,
    tty: bool | None = None,
    interval: float = POLL_SECONDS,
    timeout: float | None = None,
    show_text: bool = True,
) -> ExecutionView:
    """Render the execution until it ends (or once, without ``follow``); returns the last snapshot.

    ``show_text``: print the run's summary text at the end (the demo prints the notification instead).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with Renderer(out, tty=tty, show_text=show_text) as renderer:
        view = snapshot(sfn, execution_arn)
        while follow and not view.done:
            renderer.update(view)
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(interval)
            view = snapshot(sfn, execution_arn)
        renderer.final(view)
    return view


def exit_code(view: ExecutionView) -> int:
    if not view.done:
        return 0
    return 0 if view.status == "SUCCEEDED" and not view.failed_regions else 1


# --- the command ------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "execution",
        nargs="?",
        metavar="EXECUTION_ARN",
        help="the execution ARN (or, with --stack, its name; omitted: the stack's latest execution)",
    )
    parser.add_argument("--follow", "-f", action="store_true", help="keep refreshing until the run ends")
    parser.add_argument("--stack", help="CloudFormation stack whose outputs name the state machine")
    parser.add_argument("--region", help="AWS region of the stack (default: boto3's)")


def run(args: argparse.Namespace) -> int:
    try:
        arn = resolve_execution(
            args.execution, args.stack, cfn_factory=lambda: cloudformation_client(args.region)
        )
        sfn = stepfunctions_client(arn_region(arn) or args.region)
        view = watch(sfn, arn, out=sys.stdout, follow=args.follow)
    except ReplicationError as exc:
        print(f"ecr-replicate status: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return exit_code(view)
