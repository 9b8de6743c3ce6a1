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
re-runs R alone (``ecr-replicate rerun --region R``). ``up`` (:mod:`ecr_replicate_local.up`)
leaves the environment running and replicates every push until Ctrl-C. Everything started is
stopped, by PID, on exit or a signal.

The terminal shows only what these commands print: one live table per run (plain lines when
stdout is not a terminal), with each region's bytes and rate from the copy heartbeats. The
functions' JSON log lines and the twin's own log records go to a log file named at start
(:mod:`ecr_replicate_local.run_log`), or to stderr with ``--verbose``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ecr_replicate.errors import InvalidInputError, ReplicationError
from ecr_replicate_cli import rerun, status
from ecr_replicate_cli.heartbeats import HeartbeatReader
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.regions import parse_regions
from ecr_replicate_local.run_log import RunLog
from ecr_replicate_local.signals import interrupts_as_keyboard_interrupt
from ecr_replicate_local.up import print_regions, run_up

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


def progress_reader(env: LocalEnvironment) -> HeartbeatReader | None:
    """Reads the copy heartbeats of ``env``'s runs (as the operator), if its stack records them."""
    bucket = env.aws.stack.buckets.get("ProgressBucket") if env.aws.stack else None
    if not bucket:
        return None
    return HeartbeatReader(bucket, env.source_region, lambda region: env.aws.client("s3", region))


def _follow(env: LocalEnvironment, arn: str, out: TextIO) -> status.ExecutionView:
    print(f"Execution {arn}", file=out, flush=True)
    view = status.watch(
        env.sfn(),
        arn,
        out=out,
        follow=True,
        timeout=EXECUTION_TIMEOUT,
        show_text=False,
        progress=progress_reader(env),
    )
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


def _environment(
    args: argparse.Namespace, source: str, targets: list[str], log: RunLog, **options: Any
) -> LocalEnvironment:
    return LocalEnvironment(
        source,
        targets,
        data_dir=args.data,
        runtime=args.runtime,
        template=args.template,
        log=log.fd,
        **options,
    )


def run_demo(args: argparse.Namespace, log: RunLog, out: TextIO = sys.stdout) -> int:
    source, targets = parse_regions(args.regions)
    fail_region = args.fail_region
    if fail_region is not None and fail_region not in targets:
        raise InvalidInputError(
            f"--fail-region {fail_region} is not one of the targets ({', '.join(targets)})"
        )
    with interrupts_as_keyboard_interrupt(), _environment(args, source, targets, log) as env:
        print_regions(env, "source", out)
        print(f"Local AWS (moto Step Functions, IAM enforced) at {env.aws.endpoint_url}", file=out)
        print(log.describe(), file=out, flush=True)
        if fail_region is not None:
            env.regions.stop_region(fail_region)  # type: ignore[union-attr]
            print(f"Fault demo: stopped the registry of {fail_region}", file=out, flush=True)
        pushed = _push_sample(env.push_host(), out)
        started = env.wait_for_execution(DEMO_REPOSITORY, pushed.digest)
        view = _follow(env, started.arn, out)
        ok = digest_check(env, DEMO_REPOSITORY, DEMO_TAG, out)
        if fail_region is None:
            if not (ok and view.status == "SUCCEEDED"):
                _explain_denials(env, out)
                return 1
            return 0
        print(
            f"Restarting the registry of {fail_region}, then: ecr-replicate rerun --region "
            f"{fail_region} {started.arn}",
            file=out,
            flush=True,
        )
        env.regions.restart(fail_region)  # type: ignore[union-attr]
        new_arn = rerun.rerun(env.sfn(), started.arn, regions=[fail_region], out=out)
        if new_arn is None:
            return 1
        healed = _follow(env, new_arn, out)
        ok = digest_check(env, DEMO_REPOSITORY, DEMO_TAG, out)
        if not (ok and healed.status == "SUCCEEDED"):
            _explain_denials(env, out)
            return 1
        return 0


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
    parser.add_argument(
        "--template",
        type=Path,
        metavar="FILE",
        help="the SAM template to run (default: the repository's template.yaml)",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="the functions' and the twin's logs on stderr"
    )


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
    """Errors, Ctrl-C (after everything started was stopped): ``ecr_replicate_cli.exits``."""
    with RunLog(f"local-{args.action}", verbose=args.verbose) as log:
        if args.action == "demo":
            return run_demo(args, log)
        source, targets = parse_regions(args.regions)
        environment = _environment(
            args, source, targets, log, drop_events=args.drop_events, drop_seed=args.drop_seed
        )
        with interrupts_as_keyboard_interrupt(), environment as env:
            run_up(env, sys.stdout, log.describe())
    return 0
