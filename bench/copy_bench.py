#!/usr/bin/env python3
"""Copy benchmark: our copier vs skopeo vs the raw curl limit, on the same local registries.

Run: ``make bench`` (= ``.venv/bin/python -m bench.copy_bench``), or ``--quick`` for a smoke run.
Every copy is verified (target manifest digest == source digest, every blob present at its size)
before its time counts. Prints medians, ratios and PASS/MISS against issue #2's targets, and
writes ``bench/results/copy-bench-<time>.json``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_image import (
    DOCKER_MANIFEST,
    MANIFEST_ACCEPT,
    BenchError,
    Blob,
    Image,
    MiB,
    Pusher,
    connection,
    make_image,
    make_layer,
    request_target,
    start_upload,
    verify_copy,
    with_digest,
)
from ecr_replicate_local.registry import LocalRegistry
from tests.support.fault_proxy import FaultProxy

ROOT = Path(__file__).resolve().parent.parent

REPO = "bench/app"
BIG_REPO = "bench/big"
TOOLS = ("ours", "skopeo", "raw")
CASES = ("cold", "warm", "one-new-layer")

# issue #2 / #6 targets
COLD_VS_SKOPEO = 0.60
COLD_VS_RAW = 1.10
WARM_VS_SKOPEO = 1.0
RSS_LIMIT_MB = 64.0


# ---------------------------------------------------------------- tools under test


@dataclass
class Run:
    seconds: float
    ok: bool
    error: str = ""


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
    return [binary, "copy", "--plain-http", "--jobs", str(jobs), src, dst]


def skopeo_argv(src: str, dst: str) -> list[str]:
    return [
        "skopeo",
        "--insecure-policy",
        "copy",
        "--all",
        "--preserve-digests",
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"docker://{src}",
        f"docker://{dst}",
    ]


def run_process(argv: Sequence[str]) -> Run:
    start = time.perf_counter()
    proc = subprocess.run(list(argv), capture_output=True, timeout=900, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()[-1:]
        return Run(seconds, False, f"exit {proc.returncode}: {' '.join(tail)[:300]}")
    return Run(seconds, True)


def _curl_pipe(get_argv: list[str], put_argv: list[str]) -> None:
    """``curl GET | curl PUT`` as two processes joined by a pipe (argv lists, no shell)."""
    get = subprocess.Popen(get_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert get.stdout is not None
    put = subprocess.Popen(put_argv, stdin=get.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    get.stdout.close()  # the PUT side owns the read end now
    put_out, put_err = put.communicate(timeout=900)
    _, get_err = get.communicate(timeout=60)
    if get.returncode != 0 or put.returncode != 0:
        raise BenchError(
            f"curl pipe failed: GET rc={get.returncode} {get_err[:200]!r}; "
            f"PUT rc={put.returncode} {put_err[:200]!r} {put_out[:200]!r}"
        )


def raw_copy(src: str, dst: str, repo: str, tag: str, blobs: Sequence[Blob], jobs: int) -> Run:
    """The raw limit: per blob, POST an upload (stdlib, one small request), then
    ``curl GET src blob | curl -T - PUT <Location>&digest=`` (monolithic PUT: one request carries
    the body and completes the upload), ``jobs`` pipelines in parallel; then manifest GET | PUT."""
    curl = ["curl", "-sS", "--fail", "--no-progress-meter"]

    def one(blob: Blob) -> None:
        conn = connection(dst)
        try:
            location = start_upload(conn, repo)
        finally:
            conn.close()
        put_url = f"http://{dst}{request_target(with_digest(location, blob.digest))}"
        _curl_pipe(
            [*curl, "-o", "-", f"http://{src}/v2/{repo}/blobs/{blob.digest}"],
            [
                *curl,
                "-T",
                "-",
                "-H",
                f"Content-Length: {blob.size}",
                "-H",
                "Expect:",
                "-H",
                "Content-Type: application/octet-stream",
                "-o",
                "/dev/null",
                put_url,
            ],
        )

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(one, blobs))
        _curl_pipe(
            [*curl, "-o", "-", "-H", f"Accept: {MANIFEST_ACCEPT}", f"http://{src}/v2/{repo}/manifests/{tag}"],
            [
                *curl,
                "-T",
                "-",
                "-H",
                f"Content-Type: {DOCKER_MANIFEST}",
                "-H",
                "Expect:",
                "-o",
                "/dev/null",
                f"http://{dst}/v2/{repo}/manifests/{tag}",
            ],
        )
    except BenchError as exc:
        return Run(time.perf_counter() - start, False, str(exc))
    return Run(time.perf_counter() - start, True)


# ---------------------------------------------------------------- registries


def snapshot_registry(base: LocalRegistry, name: str) -> LocalRegistry:
    """A new registry whose storage is a copy of ``base``'s: blob data files hard-linked (the
    registry never rewrites a committed blob), every small file copied."""
    reg = LocalRegistry.temporary(name)

    def link_or_copy(src: str, dst: str) -> object:
        if src.endswith("/data") and os.path.getsize(src) > MiB:
            os.link(src, dst)
            return dst
        return shutil.copy2(src, dst)

    shutil.copytree(base.root / "data", reg.root / "data", copy_function=link_or_copy)
    return reg.start()


# ---------------------------------------------------------------- measurements


@dataclass
class Samples:
    runs: dict[str, dict[str, list[Run]]] = field(
        default_factory=lambda: {case: {tool: [] for tool in TOOLS} for case in CASES}
    )

    def median(self, case: str, tool: str) -> float | None:
        runs = self.runs[case][tool]
        if not runs or not all(r.ok for r in runs):
            return None
        return statistics.median(r.seconds for r in runs)


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
        target = LocalRegistry.temporary("bench-cold").start()
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
            run = raw_copy(src, dst, REPO, tag, blobs, jobs)
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


_MAX_RSS = re.compile(rb"Maximum resident set size \(kbytes\): (\d+)")


def measure_rss(setup: Setup, argv_for: Callable[[str, str], list[str]]) -> dict[str, Any]:
    """Peak RSS (``/usr/bin/time -v``) of one copy of the single-layer image to an empty target."""
    target = LocalRegistry.temporary("bench-rss").start()
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


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}{unit}" if abs(value) < 1 else f"{value:.2f}{unit}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _verdict(checks: list[bool | None]) -> str:
    if any(c is None for c in checks):
        return "n/a"
    return "PASS" if all(checks) else "MISS"


def build_table(
    samples: Samples,
    bytes_ours: dict[str, Any] | None,
    bytes_skopeo: dict[str, Any] | None,
    needed: int,
    new_layer: int,
    rss: dict[str, dict[str, Any] | None],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for case in CASES:
        ours, sko, raw = (samples.median(case, t) for t in TOOLS)
        r_s, r_r = _ratio(ours, sko), _ratio(ours, raw)
        if case == "cold":
            target = f"<={COLD_VS_SKOPEO:.2f}x skopeo, <={COLD_VS_RAW:.2f}x raw"
            verdict = _verdict(
                [None if r_s is None else r_s <= COLD_VS_SKOPEO, None if r_r is None else r_r <= COLD_VS_RAW]
            )
        elif case == "warm":
            target = f"<={WARM_VS_SKOPEO:.1f}x skopeo"
            verdict = _verdict([None if r_s is None else r_s <= WARM_VS_SKOPEO])
        else:
            target, verdict = "(no time target)", "-"
        rows.append(
            {
                "case": f"{case} (s)",
                "ours": ours,
                "skopeo": sko,
                "raw": raw,
                "oursVsSkopeo": r_s,
                "oursVsRaw": r_r,
                "target": target,
                "verdict": verdict,
            }
        )

    def blob_bytes(m: dict[str, Any] | None) -> float | None:
        return float(m["blobBytes"]) if m and m["ok"] else None

    b_ours, b_sko = blob_bytes(bytes_ours), blob_bytes(bytes_skopeo)
    rows.append(
        {
            "case": "one-new-layer source blob bytes (MiB)",
            "ours": b_ours / MiB if b_ours is not None else None,
            "skopeo": b_sko / MiB if b_sko is not None else None,
            "raw": needed / MiB,
            "oursVsSkopeo": _ratio(b_ours, b_sko),
            "oursVsRaw": _ratio(b_ours, needed),
            "target": f"== new layer {new_layer} B + config {needed - new_layer} B",
            "verdict": _verdict([None if b_ours is None else b_ours == needed]),
            "exact": {"ours": b_ours, "skopeo": b_sko, "needed": needed, "newLayer": new_layer},
        }
    )

    def peak(m: dict[str, Any] | None) -> float | None:
        return float(m["peakRssMB"]) if m and m["ok"] else None

    rss_ours, rss_sko = peak(rss.get("ours")), peak(rss.get("skopeo"))
    rows.append(
        {
            "case": "peak RSS, single-layer image (MB)",
            "ours": rss_ours,
            "skopeo": rss_sko,
            "raw": None,
            "oursVsSkopeo": _ratio(rss_ours, rss_sko),
            "oursVsRaw": None,
            "target": f"<={RSS_LIMIT_MB:.0f} MB",
            "verdict": _verdict([None if rss_ours is None else rss_ours <= RSS_LIMIT_MB]),
        }
    )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ["case", "ours", "skopeo", "raw", "ours/skopeo", "ours/raw", "target", "verdict"]
    lines = [head]
    for r in rows:
        lines.append(
            [
                r["case"],
                _fmt(r["ours"]),
                _fmt(r["skopeo"]),
                _fmt(r["raw"]),
                _fmt(r["oursVsSkopeo"], "x"),
                _fmt(r["oursVsRaw"], "x"),
                r["target"],
                r["verdict"],
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        print(
            "  ".join(
                cell.ljust(w) if i in (0, 6) else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


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
    args = p.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 5)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    args.warm_reps = args.warm_reps or (3 if args.quick else 15)
    args.layer_mib = args.layer_mib or (16 if args.quick else 128)
    args.big_mib = args.big_mib or (128 if args.quick else 1024)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    ours = None if args.anchors_only else ours_binary()
    print(
        f"ours: {ours or 'not available (anchors only)'}; jobs={args.jobs}; "
        f"reps={args.reps} (warm {args.warm_reps}), warm-up rounds={args.warmup}",
        flush=True,
    )
    print(f"interpreter: {interpreter()}", flush=True)

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

    results: dict[str, Any] = {}
    with LocalRegistry.temporary("bench-src") as src, LocalRegistry.temporary("bench-warm") as warm:
        pusher = Pusher(src.host, jobs=args.jobs)
        for image, repo in ((v1, REPO), (v2, REPO), (big, BIG_REPO)):
            pusher.push(image, repo, "v2" if image is v2 else "v1")
        Pusher(warm.host, jobs=args.jobs).push(v1, REPO, "v1")
        setup = Setup(src, warm, v1, v2, big, [v2.config, new_layer.blob])
        print(f"registries ready ({time.perf_counter() - t0:.1f}s)", flush=True)

        # The first copies after the set-up run slower than later ones, and the rotation below
        # gives the very first slot to the same tool every run (in 6 of the 8 full runs recorded
        # before this round existed, that first cold copy was its tool's slowest of the three).
        for rep in range(args.warmup):
            for tool in TOOLS:
                run = time_case("cold", tool, setup, ours, args.jobs)
                if run is not None:
                    print(f"  warm-up        {tool:6} rep {rep + 1}: {run.seconds:7.2f}s untimed", flush=True)

        samples = Samples()
        for case in CASES:
            # a warm copy takes a tenth of a second: more repetitions cost little and steady its median
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

        bytes_ours = measure_bytes(setup, ours_for) if ours else None
        bytes_skopeo = measure_bytes(setup, skopeo_argv)
        rss: dict[str, dict[str, Any] | None] = {
            "ours": measure_rss(setup, ours_for) if ours else None,
            "skopeo": measure_rss(setup, skopeo_argv),
        }
        for name, m in rss.items():
            if m is not None:
                print(
                    f"  rss            {name:6}: {_fmt(m['peakRssMB'])} MB in {m['seconds']:.2f}s "
                    f"{'ok' if m['ok'] else 'FAILED ' + m['error']}",
                    flush=True,
                )

    needed = sum(b.size for b in setup.new_blobs)
    rows = build_table(samples, bytes_ours, bytes_skopeo, needed, new_layer.blob.size, rss)
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
        "runs": {
            case: {tool: [vars(r) for r in runs] for tool, runs in by_tool.items()}
            for case, by_tool in samples.runs.items()
        },
        "bytes": {"ours": bytes_ours, "skopeo": bytes_skopeo, "needed": needed},
        "rss": rss,
        "table": rows,
        "seconds": time.perf_counter() - t0,
    }
    out = args.output or ROOT / "bench" / "results" / f"copy-bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out} ({results['seconds']:.0f}s)")
    failed = any(not r.ok for by_tool in samples.runs.values() for runs in by_tool.values() for r in runs)
    failed |= any(m is not None and not m["ok"] for m in (bytes_ours, bytes_skopeo, *rss.values()))
    if failed:
        print("some copy FAILED or did not verify: its figure is left out (see above)")
        return 2
    return 1 if any(r["verdict"] == "MISS" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
