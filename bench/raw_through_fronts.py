"""The raw copy of an image through the local ECR fronts: what curl alone can do against the same
https endpoints the workflow uses (the second anchor of ``bench/workflow_bench.py``).

Per blob, as ECR documents an upload: POST an upload on the target's front, then ``curl GET
<source front>/blobs/<digest> -L`` (the 307 to the source's layer host; curl sends no credentials
there) ``| curl -X PATCH -T - <Location>`` (the whole blob in one PATCH), then an empty ``PUT
<Location>&digest=``; ``jobs`` blobs in parallel per target; then the manifest GET | PUT. Every
request carries ``Authorization: Basic AWS:<token>`` from the operator's
``GetAuthorizationToken`` (read from a 0600 header file, never on a command line) and trusts the
run's CA only.
"""

from __future__ import annotations

import base64
import http.client
import os
import ssl
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.bench_image import DOCKER_MANIFEST, MANIFEST_ACCEPT, BenchError
from bench.raw_copy import Run
from ecr_replicate_local.registry_pusher import request_target, with_digest

CURL = ["curl", "-sS", "--fail", "--no-progress-meter"]


def _header_file(directory: Path, name: str, token: str) -> str:
    path = directory / f"{name}.header"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    basic = base64.b64encode(f"AWS:{token}".encode()).decode()
    with os.fdopen(fd, "w") as handle:
        handle.write(f"Authorization: Basic {basic}\n")
    return f"@{path}"


def _pipe(get_argv: list[str], put_argv: list[str]) -> None:
    get = subprocess.Popen(get_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert get.stdout is not None
    put = subprocess.Popen(put_argv, stdin=get.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    get.stdout.close()
    _, put_err = put.communicate(timeout=900)
    _, get_err = get.communicate(timeout=60)
    if get.returncode or put.returncode:
        raise BenchError(
            f"curl pipe: GET rc={get.returncode} {get_err[:200]!r}; PUT rc={put.returncode} {put_err[:200]!r}"
        )


def _location(headers: str) -> str:
    for line in headers.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "location":
            return value.strip()
    return ""


def _request(host: str, context: ssl.SSLContext, auth: str, method: str, target: str) -> tuple[int, str]:
    name, _, port = host.rpartition(":")
    conn = http.client.HTTPSConnection(name, int(port), context=context, timeout=300)
    try:
        header = Path(auth[1:]).read_text().split(":", 1)[1].strip()
        conn.request(method, target, headers={"Authorization": header, "Content-Length": "0"})
        response = conn.getresponse()
        response.read()
        return response.status, str(response.headers.get("Location") or "")
    finally:
        conn.close()


def raw_copy_through_fronts(
    source: str,
    targets: Sequence[str],
    tokens: dict[str, str],
    ca_file: str,
    repo: str,
    tag: str,
    blobs: Sequence[Any],
    jobs: int,
) -> tuple[float, bool, str, dict[str, float]]:
    """Copy ``repo:tag`` (``blobs``: objects with ``digest`` and ``size``) from the ``source``
    front to every ``targets`` front at once; (seconds, ok, error, seconds per target).
    ``tokens``: front host -> registry password."""
    context = ssl.create_default_context(cafile=ca_file)
    tls = ["--cacert", ca_file]
    with tempfile.TemporaryDirectory(prefix="raw-fronts-") as tmp:
        auth = {
            host: _header_file(Path(tmp), f"h{n}", token) for n, (host, token) in enumerate(tokens.items())
        }
        start = time.perf_counter()

        def one_blob(target: str, blob: Any) -> None:
            status, location = _request(target, context, auth[target], "POST", f"/v2/{repo}/blobs/uploads/")
            if status != 202 or not location:
                raise BenchError(f"POST upload on {target}: HTTP {status}")
            headers = Path(tmp) / f"{blob.digest[7:19]}-{target.replace(':', '-')}.headers"
            get = [
                *CURL,
                *tls,
                "-L",
                "-H",
                auth[source],
                "-o",
                "-",
                f"https://{source}/v2/{repo}/blobs/{blob.digest}",
            ]
            patch = [*CURL, *tls, "-X", "PATCH", "-T", "-", "-H", auth[target], "-H", "Expect:",
                     "-H", "Content-Type: application/octet-stream", "-D", str(headers), "-o", "/dev/null",
                     f"https://{target}{request_target(location)}"]  # fmt: skip
            _pipe(get, patch)
            after = _location(headers.read_text()) or location  # the session's state moves on
            status, _ = _request(
                target, context, auth[target], "PUT", request_target(with_digest(after, blob.digest))
            )
            if status != 201:
                raise BenchError(f"PUT ?digest on {target}: HTTP {status}")

        def one_target(target: str) -> float:
            with ThreadPoolExecutor(jobs) as pool:
                list(pool.map(lambda blob: one_blob(target, blob), blobs))
            _pipe(
                [*CURL, *tls, "-H", auth[source], "-H", f"Accept: {MANIFEST_ACCEPT}", "-o", "-",
                 f"https://{source}/v2/{repo}/manifests/{tag}"],
                [*CURL, *tls, "-T", "-", "-H", auth[target], "-H", f"Content-Type: {DOCKER_MANIFEST}",
                 "-H", "Expect:", "-o", "/dev/null", f"https://{target}/v2/{repo}/manifests/{tag}"],
            )  # fmt: skip
            return time.perf_counter() - start

        try:
            with ThreadPoolExecutor(len(targets)) as pool:
                per_target = dict(zip(targets, pool.map(one_target, targets), strict=True))
        except BenchError as exc:
            return time.perf_counter() - start, False, str(exc), {}
        return time.perf_counter() - start, True, "", per_target


__all__ = ["Run", "raw_copy_through_fronts"]
