#!/usr/bin/env python3
"""Reliability report (issue 6): figures, not claims. Prints, for this machine, now:

1. fault injection: N cold copies of a multi-layer multi-arch image through proxies injecting
   500/503, 429 + Retry-After, resets mid-body and slow answers at a set rate (default 50 at 10%),
   with the production retry policy; completed with the source digest, requests, faults, retries,
   seconds against the same copies fault-free; after every copy the target is audited (every
   stored manifest's blobs present at their size, every tag on a whole image);
2. a region down during a workflow run (moto's interpreter running the real ASL and handlers):
   the other region completes, the notification names the failed region and the cause, the run
   ends ReplicationFailed, a re-run of that region heals it; and the same event delivered twice:
   bytes copied by the second run;
3. integrity: a source serving wrong bytes / a wrong length -> the error class, the target tag.

Run: ``.venv/bin/python -m bench.reliability_report [--copies 50] [--rate 0.1] [--seed 6]``.
Writes ``bench/results/reliability-<time>.json`` too. The checks themselves are tested (smaller)
in tests/reliability; see docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ecr_replicate.errors import ReplicationError
from ecr_replicate.oci.transport import RetryPolicy
from ecr_replicate_local import sample_images as si
from ecr_replicate_local.registry import LocalRegistry
from tests.support.audit import audit_registry, tag_digest
from tests.support.fault_proxy import FaultProxy
from tests.support.faults import FaultRun, run_copies
from tests.support.plain_http import copy_plain

ROOT = Path(__file__).resolve().parent.parent


def faults_section(copies: int, rate: float, seed: int, layer_kib: int) -> dict[str, Any]:
    with LocalRegistry.temporary("source") as source, LocalRegistry.temporary("target") as target:
        image = si.push_index(source.host, "app", "v1", layer_count=4, layer_size=layer_kib * 1024, seed=seed)
        size = sum(image.all_blobs().values())
        print(
            f"image: OCI index, 2 platforms x (config + 4 layers), {size / 1e6:.2f} MB, {image.digest[:19]}"
        )

        def one(rate_: float, prefix: str) -> FaultRun:
            return run_copies(
                source,
                target,
                f"{source.host}/app:v1",
                image.digest,
                copies=copies,
                rate=rate_,
                seed=seed,
                retry_after="1",
                slow_seconds=0.3,
                repository_prefix=prefix,
            )

        clean = one(0.0, "clean/app")
        faulty = one(rate, "faulty/app")
    final = faulty.final_audit
    hard = sum(n for kind, n in faulty.faults.items() if kind != "slow")
    rows = [
        ("completed with the source digest", f"{faulty.exact}/{copies}", f"{clean.exact}/{copies}"),
        ("copy errors", str(len(faulty.errors)), str(len(clean.errors))),
        ("requests (both proxies)", str(faulty.requests), str(clean.requests)),
        ("faults injected", f"{sum(faulty.faults.values())} {dict(sorted(faulty.faults.items()))}", "0"),
        ("retries (backoff waits)", f"{faulty.retries} for {hard} failing answers", str(clean.retries)),
        ("seconds spent backing off", f"{faulty.backoff_seconds:.1f}", f"{clean.backoff_seconds:.1f}"),
        ("total seconds", f"{faulty.seconds:.1f}", f"{clean.seconds:.1f}"),
        (
            "extra seconds vs fault-free",
            f"{faulty.seconds - clean.seconds:+.1f} "
            f"({(faulty.seconds - clean.seconds) / copies:+.2f} per copy)",
            "",
        ),
        ("audit problems after each copy", str(len(faulty.audit_problems)), str(len(clean.audit_problems))),
        (
            "final audit: manifests / blob refs / tags checked",
            f"{final.manifests} / {final.blobs} / {len(final.tags)}" if final else "-",
            "",
        ),
        ("final audit problems", str(len(final.problems)) if final else "-", ""),
    ]
    print(f"\n== 1. fault injection: {copies} copies at {rate:.0%} faults (production retry policy) ==")
    print(f"{'':50} {'faulty':>40} {'fault-free':>12}")
    for label, bad, good in rows:
        print(f"{label:50} {bad:>40} {good:>12}")
    for line in (faulty.errors + faulty.audit_problems)[:10]:
        print("  !", line)
    ok = faulty.exact == copies and not faulty.audit_problems and final is not None and not final.problems
    print(
        "RESULT:", "PASS" if ok else "FAIL", "(every copy exact, no manifest missing a blob, no partial tag)"
    )
    return {
        "copies": copies,
        "rate": rate,
        "imageBytes": size,
        "exact": faulty.exact,
        "errors": faulty.errors,
        "requests": faulty.requests,
        "faults": dict(faulty.faults),
        "retries": faulty.retries,
        "backoffSeconds": round(faulty.backoff_seconds, 2),
        "seconds": round(faulty.seconds, 2),
        "cleanSeconds": round(clean.seconds, 2),
        "extraSeconds": round(faulty.seconds - clean.seconds, 2),
        "auditProblems": faulty.audit_problems + (final.problems if final else []),
        "pass": ok,
    }


def workflow_section() -> dict[str, Any]:
    from ecr_replicate_local.local_aws import LocalAws  # noqa: PLC0415 - moto is slow to import
    from ecr_replicate_local.regions import LocalRegions  # noqa: PLC0415
    from tests.support.workflow_runs import SOURCE, TARGETS, notification, push_event, run  # noqa: PLC0415

    down = TARGETS[0]
    out: dict[str, Any] = {}
    print(f"\n== 2. workflow (moto interpreter, real ASL + handlers): {SOURCE} -> {', '.join(TARGETS)} ==")
    with (
        LocalRegions(SOURCE, TARGETS) as regions,
        LocalAws(regions=regions.endpoints(), source_region=SOURCE) as aws,
    ):
        image = si.push_index(regions.registry(SOURCE).host, "team/app", "v1", layer_size=200_000, seed=91)
        event = push_event("team/app", "v1", image.digest)
        regions.stop_region(down)
        try:
            failed = run(aws, event)
        finally:
            regions.restart(down)
        note = notification(aws, failed)
        by_region = {r["region"]: r for r in note["regions"]}
        print(f"region {down} down: execution {failed['status']} error={failed.get('error')}")
        for region in TARGETS:
            r = by_region[region]
            print(
                f"  {region:16} {r['status']:10} bytes={r.get('bytesCopied')} error={r.get('error')} "
                f"cause={str(r.get('cause'))[:110]}"
            )
        print(f"  notification failedRegions={note['failedRegions']}")
        print("  notification text: " + " | ".join(str(note["text"]).splitlines()[:4]))
        rerun = run(aws, {"repository": "team/app", "tag": "v1", "regions": [down]})
        healed = tag_digest(regions.registry(down).host, "team/app", "v1")
        print(
            f"re-run of {down}: {rerun['status']}; {down} team/app:v1 = {str(healed)[:19]} "
            f"(source {image.digest[:19]})"
        )
        region_down_ok = (
            failed["status"] == "FAILED"
            and failed.get("error") == "ReplicationFailed"
            and note["failedRegions"] == [down]
            and by_region[TARGETS[1]]["status"] == "SUCCEEDED"
            and rerun["status"] == "SUCCEEDED"
            and healed == image.digest
        )
        print("RESULT:", "PASS" if region_down_ok else "FAIL")
        out["regionDown"] = {
            "status": failed["status"],
            "error": failed.get("error"),
            "failedRegions": note["failedRegions"],
            "cause": by_region[down].get("cause"),
            "rerun": rerun["status"],
            "pass": region_down_ok,
        }

        second_image = si.push_index(
            regions.registry(SOURCE).host, "team/dup", "v1", layer_size=200_000, seed=92
        )
        event = push_event("team/dup", "v1", second_image.digest)
        first, second = run(aws, event), run(aws, event)
        bytes_first = {r["region"]: r["bytesCopied"] for r in notification(aws, first)["regions"]}
        bytes_second = {r["region"]: r["bytesCopied"] for r in notification(aws, second)["regions"]}
        dup_ok = second["status"] == "SUCCEEDED" and all(v == 0 for v in bytes_second.values())
        print(
            f"\nsame push event delivered twice: bytes copied 1st run {bytes_first}, 2nd run {bytes_second}"
        )
        print("RESULT:", "PASS" if dup_ok else "FAIL")
        out["duplicateDelivery"] = {"first": bytes_first, "second": bytes_second, "pass": dup_ok}
        for region in TARGETS:
            problems = audit_registry(regions.registry(region)).problems
            out.setdefault("auditProblems", []).extend(problems)
    return out


def integrity_section() -> dict[str, Any]:
    print("\n== 3. integrity: the source serves wrong bytes ==")
    results: dict[str, Any] = {}
    retry = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05)
    for fault, match in [
        ("corrupt", r"^GET .*/blobs/sha256:"),
        ("truncate", r"^GET .*/blobs/sha256:"),
        ("corrupt", r"^GET .*/manifests/sha256:"),
    ]:
        with LocalRegistry.temporary("source") as source, LocalRegistry.temporary("target") as target:
            image = si.push_index(source.host, "app", "v1", layer_size=100_000, seed=93)
            with FaultProxy(source.host, faults=[fault] * 50, match=match) as proxy:
                try:
                    copy_plain(
                        f"{proxy.host}/app:v1", f"{target.host}/app:v1", digest=image.digest, retry=retry
                    )
                    outcome = "COPIED (!)"
                except ReplicationError as exc:
                    outcome = f"{type(exc).__name__}: {str(exc)[:90]}"
            tag = tag_digest(target.host, "app", "v1")
            name = f"{fault} {'blob' if 'blobs' in match else 'child manifest'}"
            ok = outcome.startswith("BlobIntegrityError") and tag is None
            print(
                f"  {name:24} -> {outcome}; target tag: {'404 (absent)' if tag is None else tag[:19]}"
                f"  {'PASS' if ok else 'FAIL'}"
            )
            results[name] = {"outcome": outcome, "tagAbsent": tag is None, "pass": ok}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--rate", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--layer-kib", type=int, default=256)
    parser.add_argument("--skip-workflow", action="store_true", help="no moto engine section")
    args = parser.parse_args(argv)
    started = time.monotonic()
    report: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "loadavgBefore": os.getloadavg()},
    }
    report["faults"] = faults_section(args.copies, args.rate, args.seed, args.layer_kib)
    if not args.skip_workflow:
        report["workflow"] = workflow_section()
    report["integrity"] = integrity_section()
    print("\n== memory: see bench/copy_bench.py (peak RSS of a single 1 GiB layer copy, bench/README.md) ==")
    report["machine"]["loadavgAfter"] = os.getloadavg()
    report["seconds"] = round(time.monotonic() - started, 1)
    out = ROOT / "bench" / "results" / f"reliability-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwritten {out.relative_to(ROOT)} in {report['seconds']} s")
    passed = report["faults"]["pass"] and all(v["pass"] for v in report["integrity"].values())
    if "workflow" in report:
        passed = (
            passed
            and report["workflow"]["regionDown"]["pass"]
            and report["workflow"]["duplicateDelivery"]["pass"]
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
