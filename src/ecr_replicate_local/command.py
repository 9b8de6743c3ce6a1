"""``ecr-replicate local demo|up``: the whole workflow on one machine, no AWS account.

* regions: one ``docker-registry`` per region on 127.0.0.1 (:mod:`ecr_replicate_local.regions`),
  each behind an https ECR front that authenticates and authorises every call
  (:mod:`ecr_replicate_local.registry_fronts`);
* AWS: moto's Step Functions interpreter running ``statemachine/replicate.asl.json`` with the
  handlers named in ``template.yaml``, each function as its own role, IAM enforced
  (:class:`ecr_replicate_local.local_aws.LocalAws`);
* trigger: the source registry's notification webhook turned into an ``ECR Image Action`` event
  (:mod:`ecr_replicate_local.webhook`) that starts the execution, as EventBridge does on AWS.

``demo`` pushes a synthesised two-platform image, follows the run region by region, prints the
notification and checks every region's digest against the source (exit 0 only if all match; on a
failure it lists what IAM refused).
With ``--fail-region R``, R's registry is down during the run; the demo then restarts it and
re-runs R alone (``ecr-replicate rerun --region R``). ``up`` leaves the environment running and
replicates every push until Ctrl-C. Everything started is stopped, by PID, on exit or a signal.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from ecr_replicate.errors import ReplicationError
from ecr_replicate_cli import rerun, status
from ecr_replicate_local.environment import LocalEnvironment, StartedExecution, event_label, names_an_image
from ecr_replicate_local.local_run import LocalRun, add_arguments, outcome_line, run_summary
from ecr_replicate_local.schedules import ScheduledRun
from ecr_replicate_local.signals import interrupts_as_keyboard_interrupt

DEMO_REPOSITORY = "demo/app"
DEMO_TAG = "v1"
DEMO_PLATFORMS = (("linux", "amd64"), ("linux", "arm64"))
DEMO_LAYER_BYTES = 512 * 1024
EXECUTION_TIMEOUT = 300.0


# --- demo -------------------------------------------------------------------------------------


def _push_sample(host: str, out: TextIO) -> Any:
    from ecr_replicate_local.sample_images import push_index  # noqa: PLC0415

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
    summary = run_summary(env.sfn(), arn)
    if summary.get("status") == "SKIPPED":  # not mailed: say why nothing was copied
        print(f"SKIPPED (no notification): {summary.get('reason')}", file=out, flush=True)
        return view
    message = env.notification_for(arn)
    print("Notification:", file=out)
    text = str(message.get("text")) if message else "(none received)"
    for line in text.splitlines():
        print(f"  {line}", file=out)
    out.flush()
    return view


def digest_check(env: LocalEnvironment, repository: str, tag: str, out: TextIO) -> bool:
    """HEAD the tag through every region's ECR front (as the operator); True when every target's
    digest equals the source's."""
    from ecr_replicate.oci.describe import head_digest  # noqa: PLC0415
    from ecr_replicate.oci.transport import RetryPolicy  # noqa: PLC0415

    credentials, config = env.operator_registry_access()
    digests: dict[str, str] = {}
    for region in (env.source_region, *env.target_regions):
        try:
            found = head_digest(
                f"{env.front_host(region)}/{repository}:{tag}",
                credentials,
                config=config,
                retry=RetryPolicy(attempts=1),
            )
            digests[region] = found or "missing"
        except ReplicationError as exc:
            digests[region] = f"unreachable ({type(exc).__name__})"
    source = digests[env.source_region]
    all_match = source.startswith("sha256:")
    print(f"Digest check of {repository}:{tag}:", file=out)
    for region, digest in digests.items():
        if region == env.source_region:
            verdict = "source"
        elif digest == source and source.startswith("sha256:"):
            verdict = "match"
        else:
            verdict = "MISMATCH"
            all_match = False
        print(f"  {region:<16} {digest:<73} {verdict}", file=out)
    print(f"  {'all regions match the source' if all_match else 'NOT all regions match'}", file=out)
    return all_match


def _explain_denials(env: LocalEnvironment, out: TextIO) -> None:
    """What IAM refused during the run (the local AWS and the ECR fronts), if anything."""
    refused = env.denials()
    if refused:
        print("Refused by IAM (the template's roles lack these permissions):", file=out)
        for line in refused:
            print(f"  {line}", file=out)
    out.flush()


def print_parameters(run: LocalRun, out: TextIO) -> None:
    for line in run.parameter_lines():
        print(line, file=out)
    out.flush()


def _cloudtrail_run(env: LocalEnvironment, run: LocalRun, digest: str, out: TextIO) -> bool:
    """With CloudTrailTrigger=true the push also runs for CloudTrail's PutImage event: follow it."""
    if run.parameters.values.get("CloudTrailTrigger") != "true":
        return True
    started = env.wait_for_execution(DEMO_REPOSITORY, digest, EXECUTION_TIMEOUT, via_cloudtrail=True)
    print("CloudTrailTrigger=true: CloudTrail's PutImage event started a second run", file=out, flush=True)
    return _follow(env, started.arn, out).status == "SUCCEEDED"


def run_demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    run = LocalRun.from_args(args)
    fail_region = args.fail_region
    if fail_region is not None and fail_region not in run.targets:
        print(
            f"--fail-region {fail_region} is not one of the targets ({', '.join(run.targets)})",
            file=sys.stderr,
        )
        return 2
    with interrupts_as_keyboard_interrupt(), run.environment() as env:
        print_regions(env, "source", out)
        print_parameters(run, out)
        print(
            f"Local AWS (moto Step Functions, IAM enforced) at {env.aws.endpoint_url}", file=out, flush=True
        )
        if fail_region is not None:
            env.regions.stop_region(fail_region)  # type: ignore[union-attr]
            print(f"Fault demo: stopped the registry of {fail_region}", file=out, flush=True)
        pushed = _push_sample(env.push_host(), out)
        started = env.wait_for_execution(DEMO_REPOSITORY, pushed.digest)
        view = _follow(env, started.arn, out)
        if run_summary(env.sfn(), started.arn).get("status") == "SKIPPED":
            return 0 if view.status == "SUCCEEDED" else 1  # the parameters' filters said so
        ok = digest_check(env, DEMO_REPOSITORY, DEMO_TAG, out)
        if fail_region is not None:
            return _heal(env, fail_region, started.arn, out)
        ok = _cloudtrail_run(env, run, pushed.digest, out) and ok
        if not (ok and view.status == "SUCCEEDED"):
            _explain_denials(env, out)
            return 1
        return 0


def _heal(env: LocalEnvironment, fail_region: str, arn: str, out: TextIO) -> int:
    """The fault demo's second half: restart the region's registry, re-run it alone."""
    print(
        f"Restarting the registry of {fail_region}, then: ecr-replicate rerun --region {fail_region} {arn}",
        file=out,
        flush=True,
    )
    env.regions.restart(fail_region)  # type: ignore[union-attr]
    new_arn = rerun.rerun(env.sfn(), arn, regions=[fail_region], out=out)
    if new_arn is None:
        return 1
    healed = _follow(env, new_arn, out)
    ok = digest_check(env, DEMO_REPOSITORY, DEMO_TAG, out)
    if not (ok and healed.status == "SUCCEEDED"):
        _explain_denials(env, out)
        return 1
    return 0


# --- up ---------------------------------------------------------------------------------------


def print_regions(env: LocalEnvironment, source_role: str, out: TextIO) -> None:
    """Each region's ECR front (https, what our code uses) and its docker-registry."""
    print("Local regions (an https ECR front per region, in front of its docker-registry):", file=out)
    for region in (env.source_region, *env.target_regions):
        role = source_role if region == env.source_region else "target"
        front, registry = f"https://{env.front_host(region)}", env.push_host(region)
        print(f"  {region:<16} {front:<29} registry {registry:<21} {role}", file=out)


def _print_access(env: LocalEnvironment, out: TextIO) -> None:
    src = env.push_host()
    front = env.front_host(env.source_region)
    cert_dir = env.fronts.cert_dir
    print("Push with any client to the source's registry (plain http, for people), e.g.:", file=out)
    print(f"  skopeo copy --dest-tls-verify=false IMAGE docker://{src}/REPO:TAG", file=out)
    print(f"Our code reaches the regions through their ECR fronts (CA: {env.fronts.ca_file}).", file=out)
    print("To call a front by hand (with the exports below; a token of your own role):", file=out)
    print(
        f'  skopeo inspect --cert-dir {shlex.quote(str(cert_dir))} --creds "AWS:$(aws ecr get-login-password '
        f'--region {env.source_region})" docker://{front}/REPO:TAG',
        file=out,
    )


def _announce_drops(env: LocalEnvironment, out: TextIO) -> None:
    if env.dropper.percent > 0:
        seed = f", seed {env.dropper.seed}" if env.dropper.seed is not None else ""
        print(
            f"Dropping {env.dropper.percent:g}% of push events before they reach the workflow "
            f"(--drop-events{seed}), as EventBridge may lose them: `ecr-replicate reconcile` heals "
            "what they leave behind.",
            file=out,
        )


def run_up(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    run = LocalRun.from_args(args)
    environment = run.environment(drop_events=args.drop_events, drop_seed=args.drop_seed)
    with interrupts_as_keyboard_interrupt(), environment as env:
        print_regions(env, "source: push here", out)
        print_parameters(run, out)
        _print_access(env, out)
        print("Watch runs from another terminal:", file=out)
        for name, value in env.aws.environment().items():
            print(f"  export {name}={shlex.quote(value)}", file=out)
        print(
            f"  ecr-replicate status --follow EXECUTION_ARN   (state machine {env.aws.state_machine_arn})",
            file=out,
        )
        _announce_drops(env, out)
        print("Replicating every push until Ctrl-C.", file=out, flush=True)
        follow_pushes(env, out)
    return 0


def follow_pushes(env: LocalEnvironment, out: TextIO, stop: threading.Event | None = None) -> None:
    """``local up``'s report: a line per tagged push (or referrer) as its run starts, or as its
    event is dropped (``--drop-events``); its outcome (SKIPPED with the reason, or how the run
    ended and where it copied) and a row per region when it ends; the same for the runs a
    schedule starts (ReconcileSchedule), with their summary; until ``stop`` is set (never,
    without one)."""
    sfn = env.sfn()
    reported = dropped = scheduled = 0
    pending: dict[str, StartedExecution | ScheduledRun] = {}
    while stop is None or not stop.is_set():
        with env._changed:
            env._changed.wait(0.5)
            new = env.executions[reported:]
            reported = len(env.executions)
            lost = env.dropped[dropped:]
            dropped = len(env.dropped)
            ticks = env.scheduled[scheduled:]
            scheduled = len(env.scheduled)
        for event in filter(names_an_image, lost):
            print(f"dropped the event of push {event_label(event)}: not replicated", file=out, flush=True)
        for started in new:
            if names_an_image(started.event):  # platform manifests are part of a tag push
                print(f"push {started.label}: {started.arn}", file=out, flush=True)
                pending[started.arn] = started
        for tick in ticks:
            print(f"scheduled {tick.label}: {tick.arn}", file=out, flush=True)
            pending[tick.arn] = tick
        for arn, watched in list(pending.items()):
            view = status.snapshot(sfn, arn)
            if view.done:
                del pending[arn]
                summary = run_summary(sfn, arn)
                if isinstance(watched, ScheduledRun):  # e.g. the reconcile workflow: its summary
                    print(f"{view.status}: scheduled {watched.label}", file=out)
                    rows = [str(line) for line in str(summary.get("text") or "").splitlines()]
                else:
                    print(outcome_line(watched.label, view, summary), file=out)
                    rows = [status.plain_row(row) for row in view.rows]
                for row in rows:
                    print(f"  {row}", file=out)
                out.flush()


# --- the command ------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--regions",
        metavar="SRC,T1,T2",
        help="source region then targets (default: us-east-1,eu-west-1,ap-southeast-1)",
    )
    parser.add_argument("--data", type=Path, metavar="DIR", help="registry storage (default: a temp dir)")
    add_arguments(parser)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    demo = sub.add_parser("demo", help="push a sample image and watch it replicate to every region")
    _common(demo)
    demo.add_argument("--fail-region", metavar="REGION", help="stop this region's registry for the run")
    up = sub.add_parser("up", help="start the local regions and replicate every push until Ctrl-C")
    _common(up)
    up.add_argument(
        "--drop-events",
        type=float,
        default=0.0,
        metavar="PERCENT",
        help="lose this share of push events before they reach the workflow (reconcile heals them)",
    )
    up.add_argument("--drop-seed", type=int, metavar="N", help="seed of --drop-events (repeatable runs)")


def run(args: argparse.Namespace) -> int:
    try:
        return run_demo(args) if args.action == "demo" else run_up(args)
    except ReplicationError as exc:
        print(f"ecr-replicate local {args.action}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: everything started was stopped", file=sys.stderr)
        return 130
