#!/usr/bin/env python3
"""Copy benchmark: our copier vs skopeo vs the raw curl limit, on the same local registries.

Run: ``make bench`` (= ``.venv/bin/python -m bench.copy_bench``), or ``--quick`` for a smoke run.
Each scheme (``--schemes http,https``) has its own registries: plain http, or https with a
certificate of a throwaway CA on loopback (the path ECR takes). Every copy is verified (target
manifest digest == source digest, every blob present at its size) before its time counts.
Prints medians, ratios and PASS/MISS against issue 12's targets, and writes
``bench/results/copy-bench-<time>.json``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_image import (
    BenchError,
    Blob,
    Image,
    MiB,
    Pusher,
    make_image,
    make_layer,
    use_tls,
    verify_copy,
)
from bench.copy_bench_table import CASES, TOOLS, Samples, build_table, fmt, print_table
from bench.raw_copy import Run, raw_copy, run_process
from ecr_replicate_local.registry import LocalRegistry
from tests.support.fault_proxy import FaultProxy
from tests.support.tls import TlsFiles, TlsRegistry, make_tls_files

ROOT = Path(__file__).resolve().parent.parent

REPO = "bench/app"
BIG_REPO = "bench/big"


@dataclass
class Scheme:
    """How the registries of one run are reached: ``tls`` None = plain http."""

    name: str
    tls: TlsFiles | None = None
    cert_dir: Path | None = None  # skopeo's --src-cert-dir / --dest-cert-dir (ca.crt inside)

    def registry(self, name: str) -> LocalRegistry:
        if self.tls is None:
            return LocalRegistry.temporary(name)
        registry = TlsRegistry.temporary(name)
        assert isinstance(registry, TlsRegistry)
        registry.tls = self.tls
        return registry


SCHEME = Scheme("http")  # the scheme being measured (set by main for each run)


# ---------------------------------------------------------------- tools under test


def ours_binary() -> str | None:
    """The venv's ``ecr-replicate`` console script, if it has a ``copy`` subcommand."""
    candidate = Path(sys.executable).parent / "ecr-replicate"
    path = str(candidate) if candidate.exists() else shutil.which("ecr-replicate")
    if path is None:
        return None
    probe = subprocess.run([path, "copy", "--help"], capture_output=True, timeout=60, check=False)
    if probe.returncode != 0:
        return None
    # An installed package has its bytecode compiled; an editable checkout run with
    # PYTHONDONTWRITEBYTECODE would recompile our modules at every start and skew the warm case.
    import ecr_replicate  # noqa: PLC0415

    package_dir = Path(ecr_replicate.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package_dir)], check=True, timeout=120)
    return path


def ours_argv(binary: str, jobs: int, src: str, dst: str) -> list[str]:
    if SCHEME.tls is None:
        transport = ["--plain-http"]
    else:
        ca = str(SCHEME.tls.ca_file)
        transport = ["--src-ca-file", ca, "--dst-ca-file", ca]
    return [binary, "copy", *transport, "--jobs", str(jobs), src, dst]


def skopeo_argv(src: str, dst: str) -> list[str]:
    if SCHEME.cert_dir is None:
        transport = ["--src-tls-verify=false", "--dest-tls-verify=false"]
    else:
        transport = [f"--src-cert-dir={SCHEME.cert_dir}", f"--dest-cert-dir={SCHEME.cert_dir}"]
    return [
        "skopeo",
        "--insecure-policy",
        "copy",
        "--all",
        "--preserve-digests",
        "--quiet",
        *transport,
        f"docker://{src}",
        f"docker://{dst}",
    ]


# ---------------------------------------------------------------- registries


def snapshot_registry(base: LocalRegistry, name: str) -> LocalRegistry:
    """A new registry whose storage is a copy of ``base``'s: blob data files hard-linked (the
    registry never rewrites a committed blob), every small file copied."""
    reg = SCHEME.registry(name)

    def link_or_copy(src: str, dst: str) -> object:
        if src.endswith("/data") and os.path.getsize(src) > MiB:
            os.link(src, dst)
            return dst
        return shutil.copy2(src, dst)

    shutil.copytree(base.root / "data", reg.root / "data", copy_function=link_or_copy)
    return reg.start()


# ---------------------------------------------------------------- measurements


@dataclass
class Setup:
    src: LocalRegistry
    warm: LocalRegistry
    v1: Image
    v2: Image
    big: Image
    new_blobs: list[Blob]  # what v2 adds to v1: the new layer and the new config


def time_case(case: str, tool: str, setup: Setup, ours: str | None, jobs: int) -> Run | None:
    src = setup.src.host
    tag, image = ("v2", setup.v2) if case == "one-new-layer" else ("v1", setup.v1)
    if tool == "ours" and ours is None:
        return None
    if tool == "raw" and case == "warm":
        return None  # nothing to move: no raw figure
    if case == "cold":
        target = SCHEME.registry("bench-cold").start()
    elif case == "warm":
        target = setup.warm
    else:
        target = snapshot_registry(setup.warm, "bench-incr")
    dst = target.host
    try:
        if tool == "ours":
            assert ours is not None
            run = run_process(ours_argv(ours, jobs, f"{src}/{REPO}:{tag}", f"{dst}/{REPO}:{tag}"))
        elif tool == "skopeo":
            run = run_process(skopeo_argv(f"{src}/{REPO}:{tag}", f"{dst}/{REPO}:{tag}"))
        else:
            blobs = image.blobs if case == "cold" else setup.new_blobs
            run = raw_copy(
                src, dst, REPO, tag, blobs, jobs, ca_file=SCHEME.tls.ca_file if SCHEME.tls else None
            )
        if run.ok:
            try:
                verify_copy(dst, REPO, tag, image)
            except BenchError as exc:
                run = Run(run.seconds, False, f"verification: {exc}")
        return run
    finally:
        if target is not setup.warm:
            target.cleanup()


def measure_bytes(setup: Setup, argv_for: Callable[[str, str], list[str]]) -> dict[str, Any]:
    """Blob bytes a copier reads from the source on the one-new-layer case, counted by a
    pass-through proxy on 127.0.0.1 (the project's fault proxy with no fault configured)."""
    target = snapshot_registry(setup.warm, "bench-bytes")
    try:
        with FaultProxy(setup.src.host) as proxy:
            run = run_process(argv_for(f"{proxy.host}/{REPO}:v2", f"{target.host}/{REPO}:v2"))
            if run.ok:
                try:
                    verify_copy(target.host, REPO, "v2", setup.v2)
                except BenchError as exc:
                    run = Run(run.seconds, False, f"verification: {exc}")
            stats = proxy.stats
            return {
                "ok": run.ok,
                "error": run.error,
                "blobBytes": stats.blob_bytes_served,
                "requests": stats.requests,
                "byRoute": dict(stats.by_route),
                "blobGets": [path for method, path, _ in stats.log if method == "GET" and "/blobs/" in path],
            }
    finally:
        target.cleanup()


def measure_requests(setup: Setup, argv_for: Callable[[str, str], list[str]]) -> dict[str, Any]:
    """Requests a warm copy sends (the target already has the image under its tag), counted by
    pass-through proxies in front of the source and the target (plain http runs only)."""
    with FaultProxy(setup.src.host) as src, FaultProxy(setup.warm.host) as dst:
        run = run_process(argv_for(f"{src.host}/{REPO}:v1", f"{dst.host}/{REPO}:v1"))
        log = [f"{method} {path}" for proxy in (src, dst) for method, path, _ in proxy.stats.log]
        return {
            "ok": run.ok,
            "error": run.error,
            "requests": src.stats.requests + dst.stats.requests,
            "log": log,
        }


_MAX_RSS = re.compile(rb"Maximum resident set size \(kbytes\): (\d+)")


def measure_rss(setup: Setup, argv_for: Callable[[str, str], list[str]]) -> dict[str, Any]:
    """Peak RSS (``/usr/bin/time -v``) of one copy of the single-layer image to an empty target."""
    target = SCHEME.registry("bench-rss").start()
    try:
        argv = [
            "/usr/bin/time",
            "-v",
            *argv_for(f"{setup.src.host}/{BIG_REPO}:v1", f"{target.host}/{BIG_REPO}:v1"),
        ]
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, timeout=900, check=False)
        seconds = time.perf_counter() - start
        match = _MAX_RSS.search(proc.stderr)
        error = "" if proc.returncode == 0 else proc.stderr.decode(errors="replace")[-300:]
        if proc.returncode == 0:
            try:
                verify_copy(target.host, BIG_REPO, "v1", setup.big)
            except BenchError as exc:
                error = f"verification: {exc}"
        return {
            "ok": not error and match is not None,
            "error": error,
            "peakRssMB": int(match.group(1)) / 1024 if match else None,
            "seconds": seconds,
        }
    finally:
        target.cleanup()


# ---------------------------------------------------------------- report


def interpreter() -> str:
    """The Python that runs our copier (the venv's, as this script's): its start-up is timed too."""
    import platform  # noqa: PLC0415
    import sysconfig  # noqa: PLC0415

    try:
        shared = "libpython" in Path("/proc/self/maps").read_text()
    except OSError:
        shared = bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))
    build = "libpython shared" if shared else "libpython linked in"
    args = sysconfig.get_config_var("CONFIG_ARGS") or ""
    if "--enable-optimizations" in args:
        build += ", --enable-optimizations"
    return f"Python {platform.python_version()} at {os.path.realpath(sys.executable)} ({build})"


def tool_versions() -> dict[str, str]:
    out: dict[str, str] = {"python": interpreter()}
    for name, argv in {"skopeo": ["skopeo", "--version"], "curl": ["curl", "--version"]}.items():
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        out[name] = proc.stdout.splitlines()[0] if proc.stdout else "?"
    return out


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 1 rep, 8x16 MiB image, 128 MiB RSS image")
    p.add_argument(
        "--reps", type=int, default=None, help="repetitions per case and tool (default 5; quick 1)"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed cold copies per tool before the timed ones (default 1; quick 0)",
    )
    p.add_argument(
        "--warm-reps", type=int, default=None, help="repetitions of the warm case (default 15; quick 3)"
    )
    p.add_argument("--jobs", type=int, default=4, help="parallelism given to our copier and the raw pipes")
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--layer-mib", type=int, default=None, help="uncompressed MiB per layer (default 128)")
    p.add_argument("--big-mib", type=int, default=None, help="single-layer image for RSS (default 1024)")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ecr-replicate-bench-cache")
    p.add_argument("--anchors-only", action="store_true", help="measure skopeo and raw only")
    p.add_argument("--output", type=Path, default=None, help="results JSON (default bench/results/...)")
    p.add_argument("--schemes", default="http,https", help="comma-separated: http, https (default both)")
    args = p.parse_args(argv)
    args.schemes = [name.strip() for name in args.schemes.split(",") if name.strip()]
    if not args.schemes or any(name not in ("http", "https") for name in args.schemes):
        p.error("--schemes takes http, https or both")
    args.reps = args.reps or (1 if args.quick else 5)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    args.warm_reps = args.warm_reps or (3 if args.quick else 15)
    args.layer_mib = args.layer_mib or (16 if args.quick else 128)
    args.big_mib = args.big_mib or (128 if args.quick else 1024)
    return args


def run_scheme(
    scheme: Scheme, args: argparse.Namespace, ours: str | None, images: tuple[Image, Image, Image], t0: float
) -> dict[str, Any]:
    """Every case of one scheme, on registries of that scheme; returns samples, extras, table."""
    global SCHEME  # noqa: PLW0603 - the argv builders read the scheme being measured
    SCHEME = scheme
    use_tls(scheme.tls.ca_file if scheme.tls else None)
    v1, v2, big = images
    new_layer = v2.layers[-1]
    print(f"== {scheme.name}", flush=True)
    with scheme.registry("bench-src") as src, scheme.registry("bench-warm") as warm:
        pusher = Pusher(src.host, jobs=args.jobs)
        for image, repo in ((v1, REPO), (v2, REPO), (big, BIG_REPO)):
            pusher.push(image, repo, "v2" if image is v2 else "v1")
        Pusher(warm.host, jobs=args.jobs).push(v1, REPO, "v1")
        setup = Setup(src, warm, v1, v2, big, [v2.config, new_layer.blob])
        print(f"registries ready ({time.perf_counter() - t0:.1f}s)", flush=True)

        # The first copies after the set-up run slower than later ones, and the rotation below
        # gives the very first slot to the same tool every run: untimed warm-up rounds first.
        for rep in range(args.warmup):
            for tool in TOOLS:
                run = time_case("cold", tool, setup, ours, args.jobs)
                if run is not None:
                    print(f"  warm-up        {tool:6} rep {rep + 1}: {run.seconds:7.2f}s untimed", flush=True)

        samples = Samples()
        for case in CASES:
            for rep in range(args.warm_reps if case == "warm" else args.reps):
                order = TOOLS[rep % 3 :] + TOOLS[: rep % 3]  # rotate, so no tool always runs first
                for tool in order:
                    run = time_case(case, tool, setup, ours, args.jobs)
                    if run is None:
                        continue
                    samples.runs[case][tool].append(run)
                    status = "ok" if run.ok else f"FAILED {run.error}"
                    print(f"  {case:14} {tool:6} rep {rep + 1}: {run.seconds:7.2f}s {status}", flush=True)

        def ours_for(s: str, d: str) -> list[str]:
            assert ours is not None
            return ours_argv(ours, args.jobs, s, d)

        tools: dict[str, Callable[[str, str], list[str]] | None] = {
            "ours": ours_for if ours else None,
            "skopeo": skopeo_argv,
        }
        extras: dict[str, dict[str, Any]] = {"rss": {}}
        if scheme.tls is None:  # the counting proxies speak plain http
            extras["bytes"] = {name: measure_bytes(setup, fn) if fn else None for name, fn in tools.items()}
            extras["requests"] = {
                name: measure_requests(setup, fn) if fn else None for name, fn in tools.items()
            }
        extras["rss"] = {name: measure_rss(setup, fn) if fn else None for name, fn in tools.items()}
        for name, m in extras["rss"].items():
            if m is not None:
                print(
                    f"  rss            {name:6}: {fmt(m['peakRssMB'])} MB in {m['seconds']:.2f}s "
                    f"{'ok' if m['ok'] else 'FAILED ' + m['error']}",
                    flush=True,
                )
    needed = sum(b.size for b in setup.new_blobs)
    rows = build_table(scheme.name, samples, extras, needed, new_layer.blob.size)
    return {
        "runs": {
            case: {tool: [vars(r) for r in runs] for tool, runs in by_tool.items()}
            for case, by_tool in samples.runs.items()
        },
        "extras": extras,
        "table": rows,
        "failed": any(
            not r.ok for by_tool in samples.runs.values() for runs in by_tool.values() for r in runs
        )
        or any(m is not None and not m["ok"] for by_tool in extras.values() for m in by_tool.values()),
    }


def make_scheme(name: str, work: Path) -> Scheme:
    if name == "http":
        return Scheme("http")
    tls = make_tls_files(work / "tls", common_name="ecr-replicate bench CA")
    cert_dir = work / "skopeo-certs"
    cert_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(tls.ca_file, cert_dir / "ca.crt")  # skopeo trusts the *.crt files of a cert dir
    return Scheme("https", tls, cert_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    ours = None if args.anchors_only else ours_binary()
    print(
        f"ours: {ours or 'not available (anchors only)'}; jobs={args.jobs}; "
        f"reps={args.reps} (warm {args.warm_reps}), warm-up rounds={args.warmup}; schemes {args.schemes}",
        flush=True,
    )
    print(f"interpreter: {interpreter()}; load average {load_before}", flush=True)

    layer_size = args.layer_mib * MiB
    specs = [(layer_size, seed) for seed in range(1, args.layers + 1)]
    specs += [(layer_size, 1000), (args.big_mib * MiB, 2000)]  # the new layer; the RSS image's layer
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:  # hashing and zlib release the GIL
        *layers, new_layer, big_layer = pool.map(lambda spec: make_layer(args.cache, *spec), specs)
    v1, v2, big = make_image(layers), make_image([*layers, new_layer]), make_image([big_layer])
    print(
        f"image: {len(layers)} x {args.layer_mib} MiB gzip layers, {v1.size / MiB:.1f} MiB "
        f"({time.perf_counter() - t0:.1f}s to prepare layers)",
        flush=True,
    )
    by_scheme: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ecr-replicate-bench-") as work:
        for name in args.schemes:
            by_scheme[name] = run_scheme(make_scheme(name, Path(work)), args, ours, (v1, v2, big), t0)
    use_tls(None)
    rows = [row for result in by_scheme.values() for row in result["table"]]
    print()
    print_table(rows)
    print("\nMedians of whole-process wall time; figures are noisy under load, the ratios are what counts.")
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "loadavgBefore": load_before, "loadavgAfter": os.getloadavg()},
        "tools": {**tool_versions(), "ours": ours},
        "image": {
            "layers": len(layers),
            "layerBytes": new_layer.blob.size,
            "digest": v1.digest,
            "sizeBytes": v1.size,
            "incrementalDigest": v2.digest,
            "bigDigest": big.digest,
        },
        "schemes": by_scheme,
        "table": rows,
        "seconds": time.perf_counter() - t0,
    }
    out = args.output or ROOT / "bench" / "results" / f"copy-bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out} ({results['seconds']:.0f}s; load average {os.getloadavg()})")
    if any(result["failed"] for result in by_scheme.values()):
        print("some copy FAILED or did not verify: its figure is left out (see above)")
        return 2
    return 1 if any(r["verdict"] == "MISS" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
