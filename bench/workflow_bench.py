#!/usr/bin/env python3
"""Workflow benchmark: push -> every target region replicated, vs the raw copy of the same image.

The workflow is the real local one, wired as ``ecr-replicate local demo`` wires it
(``ecr_replicate_local.environment.LocalEnvironment``): one ``docker-registry`` per region behind
its https ECR front (tokens, IAM per call, the layer host's redirect), the source's webhook ->
``ECR Image Action`` event -> EventBridge's rule target -> moto's Step Functions interpreter running
``statemachine/replicate.asl.json`` with the handlers from ``template.yaml``, each in its own
worker process as its role. The raw anchor copies between the bare registries.

Clock: starts when the manifest PUT of the push (its last step) returns; stops when a HEAD on
every target region's tag answers the source digest (sent once the registry's tag file names
it: the wait costs the registries nothing). The anchors, measured in the same
run on the same (emptied) target registries, to all targets at once with the workflow's
per-region parallelism: ``raw``, the limit ``curl GET | curl PUT`` of every blob and then the
manifest between the bare registries; ``raw via fronts``, the same with curl through the ECR
fronts the workflow uses (https, tokens, the layer host's redirect; ``bench/raw_through_fronts.py``).
Every copy is verified before its time counts. Prints medians, ratios and PASS/MISS against
issue #4's target (<= 1.5x raw), writes ``bench/results/workflow-<time>.json``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import copy_bench_table as table
from bench.bench_image import (
    DOCKER_MANIFEST,
    BenchError,
    Image,
    MiB,
    Pusher,
    make_image,
    make_layer,
    put_manifest,
    verify_copy,
)
from bench.copy_bench import tool_versions
from bench.process_cpu import Snapshot, reaped, snapshot, spent
from bench.raw_copy import raw_copy
from bench.raw_through_fronts import raw_copy_through_fronts
from bench.workflow_report import (
    CPU_ROLES,
    FULL_CASES,
    QUICK_CASES,
    Case,
    RawRun,
    WorkflowRun,
    case_row,
    print_cpu,
    print_table,
)
from bench.workflow_targets import (
    empty_targets,
    find_execution,
    linked_digest,
    served_digest,
    tag_links,
    target_hosts,
)
from ecr_replicate.oci.copy import DEFAULT_JOBS
from ecr_replicate_local.environment import LocalEnvironment
from ecr_replicate_local.regions import parse_regions
from ecr_replicate_local.signals import interrupts_as_keyboard_interrupt

ROOT = Path(__file__).resolve().parent.parent

SETUP_TAG = "setup"  # the first push of each image: warm-up run, and the tag the raw copy reads
SETUP_SEED_BASE = 3000  # layer seeds of this benchmark's images (own digests, shared cache)
STATUS_EVERY = 2.0  # seconds between DescribeExecution calls while waiting (a failed run ends the wait)


def cpu_by_role(env: LocalEnvironment, before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds of one measured run, per role: ``twin`` is this process (the ECR fronts and
    their layer hosts, moto, the webhook bridge, the poller); ``copy workers`` the Lambda
    runtime's processes (the zygote and the functions' workers, the copy among them); the
    registries; ``curl`` the raw copies' processes (reaped or live)."""
    assert env.regions is not None
    pids = env.regions.pids()
    source = pids[env.regions.source_region]
    targets = {pids[region] for region in env.regions.target_regions}
    roles = dict.fromkeys(CPU_ROLES, 0.0)
    roles["curl"] = reaped(before, after)
    for pid, (command, cpu) in spent(before, after).items():
        if pid == os.getpid():
            role = "twin"
        elif pid == source:
            role = "source registry"
        elif pid in targets:
            role = "target registries"
        elif command == "curl":
            role = "curl"
        elif command.startswith("python"):
            role = "copy workers"
        else:
            role = "other"
        roles[role] += cpu
    return {role: round(cpu, 3) for role, cpu in roles.items()}


# ---------------------------------------------------------------- measurements


def time_workflow(
    env: LocalEnvironment, image: Image, repo: str, tag: str, poll: float, timeout: float
) -> WorkflowRun:
    """Push the manifest of ``image`` as ``repo:tag`` (its blobs are in the source already) and
    time it until every target serves the tag at the source digest; then check the execution.

    Each target's tag file is watched (free), and once it names the digest a HEAD confirms that
    the registry serves it: the clock stops for that target when the HEAD returns. (Polling with
    HEADs every few ms would cost each registry about 1.4 ms of CPU per request, taken from the
    copy being measured.)"""
    assert env.regions is not None
    sfn = env.sfn()
    pending = target_hosts(env)
    links = tag_links(env, repo, tag)
    run = WorkflowRun(tag=tag, seconds=0.0, ok=False)
    last_seen: dict[str, str | None] = dict.fromkeys(pending)
    cpu_before = snapshot()
    put_manifest(env.regions.source.host, repo, tag, image.manifest, DOCKER_MANIFEST)
    t0 = time.perf_counter()  # the push's final step has returned
    next_status_check = STATUS_EVERY
    while pending:
        now = time.perf_counter() - t0
        if not run.execution_arn:
            run.execution_arn = find_execution(env, repo, tag) or ""
            if run.execution_arn:
                run.event_seconds = now
        for region, host in list(pending.items()):
            last_seen[region] = linked_digest(links[region])
            if last_seen[region] == image.digest:
                last_seen[region] = served_digest(host, repo, tag)
            if last_seen[region] == image.digest:
                run.region_seconds[region] = time.perf_counter() - t0
                del pending[region]
        if not pending:
            break
        if run.execution_arn and now >= next_status_check:  # an ended run will not tag any more
            next_status_check = now + STATUS_EVERY
            status = sfn.describe_execution(executionArn=run.execution_arn)["status"]
            if status != "RUNNING":
                run.execution_status = status
                run.error = f"execution {status} with targets not at the digest: {last_seen}"
                return run
        if now > timeout:
            run.error = f"timeout after {timeout:.0f}s; targets: {last_seen}; execution {run.execution_arn}"
            return run
        time.sleep(poll)
    run.seconds = max(run.region_seconds.values())
    run.cpu = cpu_by_role(env, cpu_before, snapshot())
    if not run.execution_arn:
        run.error = "targets tagged, but no execution was started by the push (not the workflow?)"
        return run
    desc = env.aws.wait(run.execution_arn, timeout=timeout)
    run.execution_end_seconds = time.perf_counter() - t0
    run.execution_status = str(desc["status"])
    output = json.loads(desc.get("output") or "{}")
    run.execution_regions = [
        {k: r.get(k) for k in ("region", "status", "seconds", "bytesCopied", "blobsCopied", "blobsSkipped")}
        for r in output.get("regions", [])
    ]
    if run.execution_status != "SUCCEEDED":
        run.error = f"execution {run.execution_status}: {desc.get('error')} {str(desc.get('cause'))[:300]}"
        return run
    try:
        for host in target_hosts(env).values():
            verify_copy(host, repo, tag, image)
    except BenchError as exc:
        run.error = f"verification: {exc}"
        return run
    run.ok = True
    return run


def time_raw(env: LocalEnvironment, image: Image, repo: str, jobs: int) -> RawRun:
    """The raw limit to every target at once: per target, ``jobs`` ``curl GET | curl PUT`` blob
    pipes in parallel, then the manifest (``bench.raw_copy.raw_copy``); timed until all end."""
    assert env.regions is not None
    src = env.regions.source.host
    hosts = target_hosts(env)
    cpu_before = snapshot()
    start = time.perf_counter()

    def one(host: str) -> tuple[bool, str, float]:
        r = raw_copy(src, host, repo, SETUP_TAG, image.blobs, jobs)
        return r.ok, r.error, time.perf_counter() - start

    with ThreadPoolExecutor(len(hosts)) as pool:
        results = dict(zip(hosts, pool.map(one, hosts.values()), strict=True))
    seconds = time.perf_counter() - start
    cpu = cpu_by_role(env, cpu_before, snapshot())
    per_target = {region: s for region, (_, _, s) in results.items()}
    errors = [f"{region}: {err}" for region, (ok, err, _) in results.items() if not ok]
    if errors:
        return RawRun(seconds, False, "; ".join(errors), per_target, cpu)
    try:
        for host in hosts.values():
            verify_copy(host, repo, SETUP_TAG, image)
    except BenchError as exc:
        return RawRun(seconds, False, f"verification: {exc}", per_target, cpu)
    return RawRun(seconds, True, "", per_target, cpu)


def time_raw_fronts(env: LocalEnvironment, image: Image, repo: str, jobs: int) -> RawRun:
    """The raw copy through the ECR fronts, to every target at once (operator's tokens)."""
    assert env.regions is not None
    credentials, config = env.operator_registry_access()
    regions = env.regions.target_regions
    fronts = {region: env.front_host(region) for region in regions}
    source = env.front_host(env.source_region)
    tokens = {host: credentials.get(host)[1] for host in [source, *fronts.values()]}
    cpu_before = snapshot()
    seconds, ok, error, per_host = raw_copy_through_fronts(
        source, list(fronts.values()), tokens, str(config.ca_file), repo, SETUP_TAG, image.blobs, jobs
    )
    cpu = cpu_by_role(env, cpu_before, snapshot())
    per_target = {region: per_host.get(host, 0.0) for region, host in fronts.items()}
    if not ok:
        return RawRun(seconds, False, error, per_target, cpu)
    try:
        for host in target_hosts(env).values():
            verify_copy(host, repo, SETUP_TAG, image)
    except BenchError as exc:
        return RawRun(seconds, False, f"verification: {exc}", per_target, cpu)
    return RawRun(seconds, True, "", per_target, cpu)


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 1 rep, 1x16 MiB and 8x16 MiB images")
    p.add_argument("--reps", type=int, default=None, help="repetitions per image (default 3; quick 1)")
    p.add_argument(
        "--regions",
        default="us-east-1,eu-west-1,ap-southeast-1",
        metavar="SRC,T1,T2",
        help="source region then targets (default: 2 targets, as the local demo)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help=f"blob parallelism per target region, for the workflow's copy (COPY_JOBS) and the raw "
        f"pipes (default: the copier's default, {DEFAULT_JOBS})",
    )
    p.add_argument(
        "--runtime",
        choices=("lambda", "codebuild"),
        default="lambda",
        help="where the workflow's copy runs (CopyRuntime; default lambda, as the demo)",
    )
    p.add_argument("--poll", type=float, default=0.01, help="seconds between looks at the targets' tag files")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per workflow run")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ecr-replicate-bench-cache")
    p.add_argument("--output", type=Path, default=None, help="results JSON (default bench/results/...)")
    args = p.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 3)
    return args


def run_case(
    env: LocalEnvironment, case: Case, image: Image, args: argparse.Namespace, jobs: int
) -> tuple[WorkflowRun, list[WorkflowRun], list[RawRun], list[RawRun]]:
    """Fill the source, run the workflow once untimed (warm-up), then ``reps`` x (workflow, raw)
    in alternating order, every measured copy to emptied target registries."""
    assert env.regions is not None
    repo = f"bench/workflow-{case.name.replace(' ', '').lower()}"
    Pusher(env.regions.source.host, jobs=jobs).push_blobs(image, repo)
    warmup = time_workflow(env, image, repo, SETUP_TAG, args.poll, args.timeout)
    status = "ok" if warmup.ok else f"FAILED {warmup.error}"
    print(f"  {case.name:8} warm-up (untimed): {warmup.seconds:7.2f}s {status}", flush=True)
    workflow_runs: list[WorkflowRun] = []
    raw_runs: list[RawRun] = []
    fronts_runs: list[RawRun] = []
    kinds = ("workflow", "raw", "fronts")
    for rep in range(args.reps):
        order = kinds[rep % 3 :] + kinds[: rep % 3]  # each goes first once in three reps
        for what in order:
            empty_targets(env)
            if what == "workflow":
                run = time_workflow(env, image, repo, f"r{rep + 1}", args.poll, args.timeout)
                workflow_runs.append(run)
                ok, seconds, error = run.ok, run.seconds, run.error
                regions = " ".join(f"{k}={v:.2f}" for k, v in run.region_seconds.items())
                event, end = table.fmt(run.event_seconds), table.fmt(run.execution_end_seconds)
                detail = f"event {event}; {regions}; end {end}"
            else:
                raw = (
                    time_raw(env, image, repo, jobs)
                    if what == "raw"
                    else time_raw_fronts(env, image, repo, jobs)
                )
                (raw_runs if what == "raw" else fronts_runs).append(raw)
                ok, seconds, error = raw.ok, raw.seconds, raw.error
                detail = " ".join(f"{k}={v:.2f}" for k, v in raw.per_target.items())
            status = "ok" if ok else f"FAILED {error}"
            print(f"  {case.name:8} {what:8} rep {rep + 1}: {seconds:7.2f}s ({detail}) {status}", flush=True)
    return warmup, workflow_runs, raw_runs, fronts_runs


def pids_alive(pids: Sequence[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        alive.append(pid)
    return alive


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    source, targets = parse_regions(args.regions)
    jobs = args.jobs or DEFAULT_JOBS
    cases = QUICK_CASES if args.quick else FULL_CASES

    images: dict[str, Image] = {}
    for n, case in enumerate(cases):
        seeds = [SETUP_SEED_BASE + 100 * n + i for i in range(case.layers)]
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:  # hashing and zlib release the GIL
            layers = list(pool.map(lambda s, c=case: make_layer(args.cache, c.layer_mib * MiB, s), seeds))
        images[case.name] = make_image(layers)
    print(
        f"images: {', '.join(f'{c.name} ({images[c.name].size / MiB:.1f} MiB)' for c in cases)}; "
        f"regions {source} -> {', '.join(targets)}; jobs per target {jobs}; runtime {args.runtime}; "
        f"reps {args.reps} ({time.perf_counter() - t0:.1f}s to prepare layers)",
        flush=True,
    )

    overrides = {} if args.jobs is None else {"COPY_JOBS": str(args.jobs)}  # the copy step's Settings
    registry_pids: list[int] = []
    per_case: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    with (
        interrupts_as_keyboard_interrupt(),
        LocalEnvironment(source, targets, runtime=args.runtime, function_overrides=overrides) as env,
    ):
        assert env.regions is not None
        hosts = ", ".join(f"{r}={env.front_host(r)}->{h}" for r, h in env.regions.endpoints().items())
        print(f"local environment up ({time.perf_counter() - t0:.1f}s): {hosts}", flush=True)
        for case in cases:
            warmup, wf, raw, fronts = run_case(env, case, images[case.name], args, jobs)
            rows.append(case_row(case, images[case.name], wf, raw, fronts))
            per_case[case.name] = {
                "warmup": asdict(warmup),
                "workflow": [asdict(r) for r in wf],
                "raw": [asdict(r) for r in raw],
                "rawFronts": [asdict(r) for r in fronts],
            }
            registry_pids = [p for p in env.regions.pids().values() if p is not None]
    leftover = pids_alive(registry_pids)  # every registry this run started must be gone now

    print()
    print_table(rows)
    print_cpu(rows)
    print(
        "\nworkflow: manifest PUT returned -> HEAD on every target answers the source digest "
        f"(once its tag file, looked at every {args.poll * 1000:.0f} ms, names it); raw: first blob "
        "POST -> manifest PUT returned on every target (bare registries, then through the ECR "
        "fronts); medians. 'event at': the push's event had started the execution; "
        "'execution end': Summarize and Notify done."
    )
    if leftover:
        print(f"registries still running after stop: PIDs {leftover}")

    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "jobsPerTarget": jobs,
        "regions": {"source": source, "targets": targets},
        "machine": {"cpus": os.cpu_count(), "loadavgBefore": load_before, "loadavgAfter": os.getloadavg()},
        "tools": tool_versions(),
        "cases": per_case,
        "table": rows,
        "registryPids": registry_pids,
        "leftoverPids": leftover,
        "seconds": time.perf_counter() - t0,
    }
    out = args.output or ROOT / "bench" / "results" / f"workflow-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out} ({results['seconds']:.0f}s)")
    failed = leftover or any(
        not r["ok"]
        for c in per_case.values()
        for r in [c["warmup"], *c["workflow"], *c["raw"], *c["rawFronts"]]
    )
    if failed:
        print("some run FAILED, did not verify, or left a process: its figure is left out (see above)")
        return 2
    return 1 if any(r["verdict"] == "MISS" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
