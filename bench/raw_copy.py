"""The raw limit the copy benchmarks compare with: per blob ``curl GET | curl PUT``, no copier.

``raw_copy`` (per blob: POST an upload, then ``curl GET src blob | curl -T - PUT <Location>&digest=``,
``jobs`` pipelines in parallel; then the manifest) is the anchor of ``copy_bench``,
``workflow_bench`` and ``twin_cost_bench``; ``run_process`` times any tool's whole process.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.bench_image import DOCKER_MANIFEST, MANIFEST_ACCEPT, BenchError, Blob, connection, start_upload
from bench.bench_image import scheme as current_scheme
from ecr_replicate_local.registry_pusher import request_target, with_digest


@dataclass
class Run:
    seconds: float
    ok: bool
    error: str = ""


def run_process(argv: Sequence[str]) -> Run:
    start = time.perf_counter()
    proc = subprocess.run(list(argv), capture_output=True, timeout=900, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()[-1:]
        return Run(seconds, False, f"exit {proc.returncode}: {' '.join(tail)[:300]}")
    return Run(seconds, True)


def curl_argv(ca_file: Path | None = None) -> list[str]:
    curl = ["curl", "-sS", "--fail", "--no-progress-meter"]
    return curl if ca_file is None else [*curl, "--cacert", str(ca_file)]


def curl_pipe(get_argv: list[str], put_argv: list[str]) -> None:
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


def raw_copy(
    src: str, dst: str, repo: str, tag: str, blobs: Sequence[Blob], jobs: int, ca_file: Path | None = None
) -> Run:
    """The raw limit: per blob, POST an upload (stdlib, one small request), then
    ``curl GET src blob | curl -T - PUT <Location>&digest=`` (monolithic PUT: one request carries
    the body and completes the upload), ``jobs`` pipelines in parallel; then manifest GET | PUT."""
    curl = curl_argv(ca_file)
    base = f"{current_scheme()}://"

    def one(blob: Blob) -> None:
        conn = connection(dst)
        try:
            location = start_upload(conn, repo)
        finally:
            conn.close()
        put_url = f"{base}{dst}{request_target(with_digest(location, blob.digest))}"
        curl_pipe(
            [*curl, "-o", "-", f"{base}{src}/v2/{repo}/blobs/{blob.digest}"],
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
        curl_pipe(
            [*curl, "-o", "-", "-H", f"Accept: {MANIFEST_ACCEPT}", f"{base}{src}/v2/{repo}/manifests/{tag}"],
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
                f"{base}{dst}/v2/{repo}/manifests/{tag}",
            ],
        )
    except BenchError as exc:
        return Run(time.perf_counter() - start, False, str(exc))
    return Run(time.perf_counter() - start, True)
