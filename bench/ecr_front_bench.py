#!/usr/bin/env python3
"""The ECR front's own throughput: one large blob PATCHed and GOT through it vs straight to
the docker-registry behind it, with curl as the client (C, so the numbers are the servers').

Run: ``.venv/bin/python -m bench.ecr_front_bench [--size-mib 1024] [--runs 3]``.
Per run, alternating: PATCH of the blob in one streaming request (curl -T), then the GET of it
(through the front: the 307 and the layer host, as an ECR client sees it). Prints medians,
the front/direct ratios and the front's own CPU seconds per GiB (this process's CPU time while
curl, a child process, does the client side). Every GET is checked by size and digest.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import urllib3

from bench.front_stubs import bench_front
from ecr_replicate_local.registry import LocalRegistry
from ecr_replicate_local.tls import LocalCertificateAuthority

MiB = 1 << 20
REPO = "bench/blob"
TOKEN = "bench-token"
OCTETS = "application/octet-stream"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _make_blob(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for _ in range(size // MiB):
            chunk = os.urandom(MiB)
            digest.update(chunk)
            handle.write(chunk)
    return "sha256:" + digest.hexdigest()


class Side:
    """One way to the registry: straight (http) or through the front (https + Basic AWS)."""

    def __init__(self, name: str, base: str, pool: urllib3.PoolManager, curl_args: list[str]) -> None:
        self.name, self.base, self.pool, self.curl_args = name, base, pool, curl_args

    def _curl(self, *args: str) -> None:
        curl = shutil.which("curl") or "curl"
        subprocess.run([curl, "-sS", "--fail", *self.curl_args, *args], check=True, stdout=subprocess.DEVNULL)

    def patch(self, blob: Path, digest: str) -> tuple[float, float]:
        headers = {"Authorization": "Basic " + _basic()} if self.name == "front" else {}
        start = self.pool.request("POST", f"{self.base}/v2/{REPO}/blobs/uploads/", headers=headers)
        location = start.headers["Location"]
        if location.startswith("/"):
            location = self.base + location
        cpu, wall = _cpu(), time.perf_counter()
        curl = [shutil.which("curl") or "curl", "-sS", "--fail", *self.curl_args, "-D", "-"]
        upload = [
            "-X",
            "PATCH",
            "-T",
            str(blob),
            "-H",
            f"Content-Type: {OCTETS}",
            "-H",
            "Expect:",
            "-o",
            "/dev/null",
        ]
        out = subprocess.run([*curl, *upload, location], check=True, capture_output=True, text=True)
        elapsed, used = time.perf_counter() - wall, _cpu() - cpu
        next_location = next(
            line.split(":", 1)[1].strip()
            for line in out.stdout.splitlines()
            if line.lower().startswith("location:")
        )
        if next_location.startswith("/"):
            next_location = self.base + next_location
        done = self.pool.request("PUT", f"{next_location}&digest={digest}", headers=headers)
        if done.status != 201:
            raise SystemExit(f"{self.name}: PUT answered {done.status}: {done.data[:200]!r}")
        return elapsed, used

    def get(self, digest: str, size: int, scratch: Path) -> tuple[float, float]:
        target = scratch / f"got-{self.name}"
        cpu, wall = _cpu(), time.perf_counter()
        self._curl("-L", "-o", str(target), f"{self.base}/v2/{REPO}/blobs/{digest}")
        elapsed, used = time.perf_counter() - wall, _cpu() - cpu
        if target.stat().st_size != size:
            raise SystemExit(f"{self.name}: GET returned {target.stat().st_size} bytes, not {size}")
        target.unlink()
        return elapsed, used


def _basic() -> str:
    import base64  # noqa: PLC0415

    return base64.b64encode(f"AWS:{TOKEN}".encode()).decode()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="ecr-front-bench-") as tmp:
        scratch = Path(tmp)
        print(f"making a {args.size_mib} MiB blob ...", flush=True)
        blob = scratch / "blob"
        digest = _make_blob(blob, size)
        ca = LocalCertificateAuthority.create(scratch / "tls")
        with LocalRegistry.temporary("bench-front") as registry:
            front = bench_front(
                upstream=registry.host,
                region="eu-west-1",
                certificate=ca.issue("bench"),
                repository=REPO,
                token=TOKEN,
                storage=registry.storage,
            )
            with front:
                sides = [
                    Side("direct", registry.url, urllib3.PoolManager(), []),
                    Side(
                        "front",
                        front.url,
                        urllib3.PoolManager(ca_certs=str(ca.ca_file), cert_reqs="CERT_REQUIRED"),
                        ["--cacert", str(ca.ca_file), "-H", f"Authorization: Basic {_basic()}"],
                    ),
                ]
                results: dict[str, dict[str, list[tuple[float, float]]]] = {
                    side.name: {"patch": [], "get": []} for side in sides
                }
                for run in range(args.runs):
                    for side in sides if run % 2 == 0 else reversed(sides):
                        results[side.name]["patch"].append(side.patch(blob, digest))
                        results[side.name]["get"].append(side.get(digest, size, scratch))
                        print(f"run {run + 1} {side.name}: done", flush=True)
    gib = size / (1 << 30)
    print(f"\n{args.size_mib} MiB blob, {args.runs} runs, medians")
    medians: dict[tuple[str, str], float] = {}
    for name, steps in results.items():
        for step, samples in steps.items():
            wall = statistics.median(sample[0] for sample in samples)
            cpu = statistics.median(sample[1] for sample in samples)
            medians[(name, step)] = wall
            rate = size / MiB / wall
            print(f"  {name:6} {step:5}: {wall:6.2f} s  {rate:7.1f} MiB/s  front CPU {cpu / gib:5.2f} s/GiB")
    for step in ("patch", "get"):
        print(f"  front/direct {step}: {medians[('front', step)] / medians[('direct', step)]:.2f}x")


if __name__ == "__main__":
    main()
