"""``ecr-replicate local demo|up``: the whole workflow on one machine, no AWS account.

* regions: one ``docker-registry`` per region on 127.0.0.1 (:mod:`ecr_replicate.local.regions`);
* AWS: moto's Step Functions interpreter running ``statemachine/replicate.asl.json`` with the
  handlers named in ``template.yaml`` (:class:`ecr_replicate.local.engine.LocalAws`);
* trigger: the source registry's notification webhook turned into an ``ECR Image Action`` event
  (:mod:`ecr_replicate.local.webhook`) that starts the execution, as EventBridge does on AWS.

``demo`` pushes a synthesised two-platform image, follows the run region by region, prints the
notification and checks every region's digest against the source (exit 0 only if all match).
With ``--fail-region R``, R's registry is down during the run; the demo then restarts it and
re-runs R alone (``ecr-replicate rerun --region R``). ``up`` leaves the environment running and
replicates every push until Ctrl-C. Everything started is stopped, by PID, on exit or a signal.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from ecr_replicate.cli import rerun, status
from ecr_replicate.errors import ReplicationError
from ecr_replicate.local.regions import LocalRegions, parse_regions

DEMO_REPOSITORY = "demo/app"
DEMO_TAG = "v1"
DEMO_PLATFORMS = (("linux", "amd64"), ("linux", "arm64"))
DEMO_LAYER_BYTES = 512 * 1024
EXECUTION_TIMEOUT = 300.0
NOTIFICATION_WAIT = 10.0


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
        from ecr_replicate.local.engine import LocalAws  # noqa: PLC0415 - moto is heavy
        from ecr_replicate.local.webhook import WebhookBridge  # noqa: PLC0415

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
        from ecr_replicate.local.ecr_mirror import record_push  # noqa: PLC0415
        from ecr_replicate.local.webhook import execution_name  # noqa: PLC0415

        aws, regions = self.aws, self.regions
        if aws is None or regions is None:
            return
        # ECR's control plane knows every pushed image; locally moto plays it, so record the push
        # there too (backfill and verify list the source through the ECR API).
        try:
            record_push(aws.client("ecr"), regions.source.host, event)
        except Exception as exc:  # replication goes on; only listings would miss the image
            print(f"warning: could not record the push in local ECR: {exc}", file=sys.stderr)
        arn = aws.start_execution(event, name=execution_name(event))
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
        from ecr_replicate.oci.inspect import head_digest  # noqa: PLC0415
        from ecr_replicate.oci.transport import RetryPolicy  # noqa: PLC0415

        assert self.regions is not None
        digests: dict[str, str] = {}
        for region in self.regions.regions:
            host = self.regions.registry(region).host
            try:
                found = head_digest(f"{host}/{repository}:{tag}", retry=RetryPolicy(attempts=1))
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


# --- signals ----------------------------------------------------------------------------------


@contextlib.contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP raise KeyboardInterrupt in the main thread, so ``finally`` stops everything."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    saved: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            saved[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM/SIGHUP for the duration (main thread only)."""
    saved: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            saved[sig] = signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


# --- demo -------------------------------------------------------------------------------------


def _push_sample(host: str, out: TextIO) -> Any:
    from ecr_replicate.local.sample_images import push_index  # noqa: PLC0415

    pushed = push_index(
        host,
        DEMO_REPOSITORY,
        DEMO_TAG,
        fmt="oci",
        platforms=DEMO_PLATFORMS,
        layer_count=2,
        layer_size=DEMO_LAYER_BYTES,
        seed=int(time.time()),
    )
    platforms = ", ".join(f"{os_}/{arch}" for os_, arch in DEMO_PLATFORMS)
    print(f"Pushed {host}/{DEMO_REPOSITORY}:{DEMO_TAG} ({platforms}) {pushed.digest}", file=out, flush=True)
    return pushed


def _follow(env: LocalEnvironment, arn: str, out: TextIO) -> status.ExecutionView:
    print(f"Execution {arn}", file=out, flush=True)
    view = status.watch(env.sfn(), arn, out=out, follow=True, timeout=EXECUTION_TIMEOUT, show_text=False)
    message = env.notification_for(arn)
    print("Notification:", file=out)
    text = str(message.get("text")) if message else "(none received)"
    for line in text.splitlines():
        print(f"  {line}", file=out)
    out.flush()
    return view


def run_demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    source, targets = parse_regions(args.regions)
    fail_region = args.fail_region
    if fail_region is not None and fail_region not in targets:
        print(
            f"--fail-region {fail_region} is not one of the targets ({', '.join(targets)})", file=sys.stderr
        )
        return 2
    with interrupts_as_keyboard_interrupt(), LocalEnvironment(
        source, targets, data_dir=args.data, runtime=args.runtime
    ) as env:
        assert env.regions is not None
        print_regions(env.regions, source, "source", out)
        print(f"Local AWS (moto Step Functions) at {env.aws.endpoint_url}", file=out, flush=True)
        if fail_region is not None:
            env.regions.stop_region(fail_region)
            print(f"Fault demo: stopped the registry of {fail_region}", file=out, flush=True)
        pushed = _push_sample(env.regions.source.host, out)
        started = env.wait_for_execution(DEMO_REPOSITORY, pushed.digest)
        view = _follow(env, started.arn, out)
        ok = env.digest_check(DEMO_REPOSITORY, DEMO_TAG, out)
        if fail_region is None:
            return 0 if ok and view.status == "SUCCEEDED" else 1
        print(f"Restarting the registry of {fail_region}, then: ecr-replicate rerun --region "
              f"{fail_region} {started.arn}", file=out, flush=True)
        env.regions.restart(fail_region)
        new_arn = rerun.rerun(env.sfn(), started.arn, regions=[fail_region], out=out)
        if new_arn is None:
            return 1
        healed = _follow(env, new_arn, out)
        ok = env.digest_check(DEMO_REPOSITORY, DEMO_TAG, out)
        return 0 if ok and healed.status == "SUCCEEDED" else 1


# --- up ---------------------------------------------------------------------------------------


def print_regions(regions: LocalRegions, source: str, source_role: str, out: TextIO) -> None:
    print("Local regions (docker-registry on 127.0.0.1):", file=out)
    for region, host in regions.endpoints().items():
        print(f"  {region:<16} {host:<21} {source_role if region == source else 'target'}", file=out)


def run_up(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    source, targets = parse_regions(args.regions)
    with interrupts_as_keyboard_interrupt(), LocalEnvironment(
        source, targets, data_dir=args.data, runtime=args.runtime
    ) as env:
        assert env.regions is not None
        print_regions(env.regions, source, "source: push here", out)
        src = env.regions.source.host
        print(f"Push with any client, e.g.: skopeo copy --dest-tls-verify=false IMAGE docker://{src}/REPO:TAG",
              file=out)
        print("Watch runs from another terminal:", file=out)
        for name, value in env.aws.environment().items():
            print(f"  export {name}={shlex.quote(value)}", file=out)
        print(f"  ecr-replicate status --follow EXECUTION_ARN   (state machine {env.aws.state_machine_arn})",
              file=out)
        print("Replicating every push until Ctrl-C.", file=out, flush=True)
        sfn = env.sfn()
        reported = 0
        pending: dict[str, StartedExecution] = {}
        while True:
            with env._changed:
                env._changed.wait(0.5)
                new = env.executions[reported:]
                reported = len(env.executions)
            for started in new:
                if "image-tag" in started.event["detail"]:  # platform manifests are part of a tag push
                    print(f"push {started.label}: {started.arn}", file=out, flush=True)
                    pending[started.arn] = started
            for arn, started in list(pending.items()):
                view = status.snapshot(sfn, arn)
                if view.done:
                    del pending[arn]
                    print(f"{view.status}: {started.label}", file=out)
                    for row in view.rows:
                        print(f"  {status.plain_row(row)}", file=out)
                    out.flush()


# --- the command ------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--regions",
        metavar="SRC,T1,T2",
        help="source region then targets (default: us-east-1,eu-west-1,ap-southeast-1)",
    )
    parser.add_argument("--data", type=Path, metavar="DIR", help="registry storage (default: a temp dir)")
    parser.add_argument(
        "--runtime", choices=("lambda", "codebuild"), default="lambda", help="where each copy runs"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    demo = sub.add_parser("demo", help="push a sample image and watch it replicate to every region")
    _common(demo)
    demo.add_argument("--fail-region", metavar="REGION", help="stop this region's registry for the run")
    up = sub.add_parser("up", help="start the local regions and replicate every push until Ctrl-C")
    _common(up)


def run(args: argparse.Namespace) -> int:
    try:
        return run_demo(args) if args.action == "demo" else run_up(args)
    except ReplicationError as exc:
        print(f"ecr-replicate local {args.action}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: everything started was stopped", file=sys.stderr)
        return 130
