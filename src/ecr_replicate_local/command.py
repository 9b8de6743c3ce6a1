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
import time
from pathlib import Path
from typing import Any, TextIO

from ecr_replicate.errors import ReplicationError
from ecr_replicate_cli import rerun, status
from ecr_replicate_local.environment import LocalEnvironment, StartedExecution
from ecr_replicate_local.regions import parse_regions
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
    from ecr_replicate.oci.inspect import head_digest  # noqa: PLC0415
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


def _environment(args: argparse.Namespace, source: str, targets: list[str]) -> LocalEnvironment:
    return LocalEnvironment(source, targets, data_dir=args.data, runtime=args.runtime, template=args.template)


def run_demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    source, targets = parse_regions(args.regions)
    fail_region = args.fail_region
    if fail_region is not None and fail_region not in targets:
        print(
            f"--fail-region {fail_region} is not one of the targets ({', '.join(targets)})", file=sys.stderr
        )
        return 2
    with interrupts_as_keyboard_interrupt(), _environment(args, source, targets) as env:
        print_regions(env, "source", out)
        print(
            f"Local AWS (moto Step Functions, IAM enforced) at {env.aws.endpoint_url}", file=out, flush=True
        )
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


def run_up(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    source, targets = parse_regions(args.regions)
    with interrupts_as_keyboard_interrupt(), _environment(args, source, targets) as env:
        print_regions(env, "source: push here", out)
        _print_access(env, out)
        print("Watch runs from another terminal:", file=out)
        for name, value in env.aws.environment().items():
            print(f"  export {name}={shlex.quote(value)}", file=out)
        print(
            f"  ecr-replicate status --follow EXECUTION_ARN   (state machine {env.aws.state_machine_arn})",
            file=out,
        )
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
    parser.add_argument(
        "--template",
        type=Path,
        metavar="FILE",
        help="the SAM template to run (default: the repository's template.yaml)",
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
