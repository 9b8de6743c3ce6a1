#!/usr/bin/env python3
"""Reconcile benchmark: a reconcile of N images already in sync (issue 14).

On the local twin as ``ecr-replicate local up`` runs it (one ``docker-registry`` per region
behind its https ECR front, IAM enforced, moto's Step Functions running
``statemachine/reconcile.asl.json`` with the handlers from ``template.yaml``):

1. N small OCI images (``--images``, default 200) over 10 repositories are pushed to the source
   with EventBridge delivery off, then one untimed reconcile copies them to every target (it must
   report HEALED: the bench checks the heal it relies on).
2. Each round (``--reps``) times ``ecr-replicate reconcile`` (start -> its summary printed) over
   the images now in sync, and counts what the registries answered meanwhile (the fronts'
   journal: every request, by kind) and the ECR API calls the reconcile's roles made (the twin's
   IAM enforcer counts every allowed call). Nothing may be copied: the bench checks no upload and
   no blob read reached any registry.
3. The anchor, measured in the same rounds: ``ecr-replicate verify`` of the same deployment, the
   same drift check run from the operator's process, without the workflow around it.

Prints medians and a table, writes ``bench/results/reconcile-<time>.json``. Exit status 0 when
the in-sync reconcile read no blob and wrote nothing, 1 otherwise, 2 when a run failed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ecr_replicate_cli.main import main as cli_main
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.regions import parse_regions
from ecr_replicate_local.sample_images import push_image
from ecr_replicate_local.signals import interrupts_as_keyboard_interrupt

ROOT = Path(__file__).resolve().parent.parent
REPOSITORIES = 10
RECONCILE_ROLES = ("FindDriftFunctionRole", "ReconcileReportFunctionRole", "ReconcileStateMachineRole")


@dataclass
class Round:
    command: str
    seconds: float
    exit_code: int
    requests: dict[str, int] = field(default_factory=dict)  # kind -> count, at every registry
    ecr_api: dict[str, int] = field(default_factory=dict)  # action -> calls by reconcile's roles
    summary: str = ""

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def kind(method: str, path: str) -> str:
    """What a registry request was, for the table."""
    if method in ("POST", "PATCH", "PUT", "DELETE"):
        return "write"
    if path.rstrip("/") == "/v2":
        return "auth ping"
    if "/blobs/" in path:
        return "blob read" if method == "GET" else "blob HEAD"
    if "/manifests/" in path:
        return f"manifest {method}"
    return f"other {method}"


def run_cli(env: LocalEnvironment, *args: str) -> Round:
    """One CLI command in this process (the environment ``local up`` prints), counted."""
    env.fronts.journal.clear()
    env.aws.enforcer.granted.clear()
    out = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(out):
        code = cli_main(list(args))
    seconds = time.perf_counter() - started
    requests = Counter(kind(e.method, e.path) for e in env.fronts.journal.entries())
    ecr_api: Counter[str] = Counter()
    for (who, action), calls in env.aws.enforcer.granted.items():
        if who.endswith(RECONCILE_ROLES) and not action.startswith(("states:", "lambda:")):
            ecr_api[action] += calls
    return Round(args[0], seconds, code, dict(requests), dict(ecr_api), verdict(out.getvalue()))


def verdict(output: str) -> str:
    """The line of a command's output that says how it ended."""
    lines = [line for line in output.splitlines() if line and not line.startswith("{")]
    for line in lines:
        if line.startswith(("HEALED", "IN SYNC", "FAILED", "DRY RUN")):
            return line
    return lines[-1] if lines else ""


def push_images(env: LocalEnvironment, count: int) -> None:
    host = env.push_host()
    pushed = [
        push_image(
            host,
            f"bench/svc-{n % REPOSITORIES}",
            f"v{n // REPOSITORIES}",
            fmt="oci",
            layer_count=1,
            layer_size=1024,
            seed=9000 + n,
        )
        for n in range(count)
    ]
    for image in pushed:
        env.wait_recorded(image.repository, image.digest, timeout=60)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=200, help="images in sync (default 200)")
    p.add_argument("--reps", type=int, default=3, help="timed rounds of each command (default 3)")
    p.add_argument("--regions", default="us-east-1,eu-west-1,ap-southeast-1", metavar="SRC,T1,T2")
    p.add_argument("--output", type=Path, default=None, help="results JSON (default bench/results/...)")
    return p.parse_args(argv)


def median(rounds: list[Round], value: Any) -> float:
    return float(statistics.median(value(r) for r in rounds))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    source, targets = parse_regions(args.regions)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rounds: dict[str, list[Round]] = {"reconcile": [], "verify": []}
    with interrupts_as_keyboard_interrupt(), LocalEnvironment(source, targets, deliver_events=False) as env:
        for name, value in env.aws.environment().items():
            os.environ[name] = value
        push_images(env, args.images)
        print(f"{args.images} images pushed and recorded ({time.perf_counter() - t0:.0f}s)", flush=True)
        sync = run_cli(env, "reconcile")
        print(f"sync: {sync.summary} ({sync.seconds:.0f}s)", flush=True)
        if sync.exit_code != 0 or f"{args.images} healed" not in sync.summary:
            print(f"the sync reconcile failed:\n{sync.summary}", file=sys.stderr)
            return 2
        for _ in range(args.reps):
            for command in ("reconcile", "verify"):
                measured = run_cli(env, command)
                rounds[command].append(measured)
                print(f"{command}: {measured.seconds:.2f}s, {measured.total} registry requests", flush=True)
                if measured.exit_code != 0:
                    print(f"{command} exited {measured.exit_code}:\n{measured.summary}", file=sys.stderr)
                    return 2
    regions = len(targets)
    rec, ver = rounds["reconcile"], rounds["verify"]
    writes = sum(r.requests.get("write", 0) + r.requests.get("blob read", 0) for r in rec)
    print()
    print(f"reconcile of {args.images} images in sync, {regions} target regions (medians of {args.reps}):")
    print("| | reconcile | verify (anchor) | ratio |")
    print("|---|---|---|---|")
    rs, vs = median(rec, lambda r: r.seconds), median(ver, lambda r: r.seconds)
    print(f"| wall time (s) | {rs:.2f} | {vs:.2f} | {rs / vs:.2f}x |")
    rr, vr = median(rec, lambda r: r.total), median(ver, lambda r: r.total)
    print(f"| registry requests | {rr:.0f} | {vr:.0f} | {rr / vr:.2f}x |")
    print(f"| per image | {rr / args.images:.2f} | {vr / args.images:.2f} | |")
    print(f"| per image and region | {rr / args.images / regions:.2f} | {vr / args.images / regions:.2f} | |")
    print(f"| ms per image | {1000 * rs / args.images:.1f} | {1000 * vs / args.images:.1f} | |")
    kinds = sorted({k for r in rec for k in r.requests})
    by_kind = ", ".join(f"{k} {rec[-1].requests.get(k, 0)}" for k in kinds)
    print(f"registry requests of one reconcile, by kind: {by_kind}")
    print("ECR API calls of its roles: " + ", ".join(f"{a} {n}" for a, n in sorted(rec[-1].ecr_api.items())))
    print(f"blob reads and writes during the in-sync reconciles: {writes} (must be 0)")
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "loadavgBefore": load_before, "loadavgAfter": os.getloadavg()},
        "sync": asdict(sync),
        "rounds": {name: [asdict(r) for r in measured] for name, measured in rounds.items()},
        "seconds": time.perf_counter() - t0,
    }
    out = args.output or ROOT / "bench" / "results" / f"reconcile-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out} ({results['seconds']:.0f}s)")
    return 0 if writes == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
