"""Driving ``ecr-replicate local up`` in-process, as the command runs it: its own argument parser,
:class:`~ecr_replicate_local.local_run.LocalRun` (the parameters, regions and environment it
builds) and its push report (:func:`~ecr_replicate_local.up.follow_pushes`) on a thread."""

from __future__ import annotations

import argparse
import io
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

from ecr_replicate_cli import main as cli
from ecr_replicate_local import command, up
from ecr_replicate_local.local_run import LocalRun


def local_args(*argv: str) -> argparse.Namespace:
    """``ecr-replicate local ARGV`` parsed by the command's parser (as ``ecr_replicate_cli.main`` does)."""
    parser = argparse.ArgumentParser(prog="ecr-replicate local")
    command.configure(parser)
    return parser.parse_args(list(argv))


class PushReport:
    """``local up``'s report of pushes and their outcomes, collected from a thread."""

    def __init__(self, env: Any) -> None:
        self.out = io.StringIO()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=up.follow_pushes,
            args=(env, self.out, up.RegistryWatch(env, self.out), self._stop),
            name="local-up-report",
            daemon=True,
        )
        self._thread.start()

    @property
    def text(self) -> str:
        return self.out.getvalue()

    def line(self, pattern: str, timeout: float = 120, after: str = "") -> str:
        """The first report line matching ``pattern`` (a regex), once it has been printed (after
        the first line holding ``after``, if given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text, cut = self.text, self.text.find(after)
            found = re.search(pattern, text[cut + len(after) :], re.M) if cut >= 0 else None
            if found:
                text = text[cut + len(after) :]
                start = text.rfind("\n", 0, found.start()) + 1
                end = text.find("\n", found.end())
                return text[start : end if end >= 0 else None]
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} in local up's report:\n{self.text}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@contextmanager
def local_up(*argv: str, **options: Any) -> Iterator[tuple[LocalRun, Any, PushReport]]:
    """``local up ARGV``'s run, its started environment (``options``: the twin's test knobs, e.g.
    ``schedule_time_scale``) and its push report."""
    args = local_args("up", *argv)
    run = LocalRun.from_args(args)
    with run.environment(drop_events=args.drop_events, drop_seed=args.drop_seed, **options) as env:
        report = PushReport(env)
        try:
            yield run, env, report
        finally:
            report.stop()


def status_output(env: Any, execution_arn: str, monkeypatch: Any) -> str:
    """What ``ecr-replicate status ARN`` prints, with the environment ``local up`` exports."""
    for name, value in env.aws.environment().items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["status", execution_arn])
    assert code == 0, out.getvalue()
    return out.getvalue()


def operator_client(env: Any, service: str, region: str | None = None) -> Any:
    """A client with the operator's credentials ``local up`` prints (what a user's boto3 or aws CLI uses)."""
    exported = env.aws.environment()
    import boto3  # noqa: PLC0415

    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=region or exported["AWS_REGION"],
        endpoint_url=exported["AWS_ENDPOINT_URL"],
        aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
    )


def max_regions_at_once(history: list[dict[str, Any]]) -> int:
    """The most Map iterations (regions) running at the same time, in the history's event order."""
    running = most = 0
    for event in sorted(history, key=lambda e: e["id"]):
        if event["type"] == "MapIterationStarted":
            running += 1
            most = max(most, running)
        elif event["type"] in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            running -= 1
    return most


def plan_output(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The Plan step's output (the Lambda's Payload) from a run's history."""
    import json  # noqa: PLC0415

    for event in history:
        details = event.get("taskSucceededEventDetails")
        if details and details.get("resourceType") == "lambda":
            payload = json.loads(details["output"])["Payload"]
            if "items" in payload and "maxConcurrency" in payload:
                return dict(payload)
    raise AssertionError("no Plan output in the history")
