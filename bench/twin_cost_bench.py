#!/usr/bin/env python3
"""Where the local twin's CPU goes: one image copied from the source to two targets through
the ECR fronts by our copier, against the raw ``curl GET | curl PUT`` copy between the bare
registries, with the CPU seconds of every process involved.

Run: ``.venv/bin/python -m bench.twin_cost_bench [--quick] [--reps 3]``.

The data path of ``bench/workflow_bench.py`` without the workflow around it: three
``docker-registry`` processes (source, two targets), each behind an ``EcrFront`` in this
process (as the twin runs them: one process for every front), and one copier process per
target (as the Copy image Lambda's workers are) copying source front -> target front with
``--jobs`` blobs in parallel, both at once. The anchor is ``bench.raw_copy.raw_copy`` to both targets
at once. Targets are emptied before each copy. CPU per process from ``/proc/<pid>/stat``
(registries), ``getrusage`` (this process: the fronts; the copiers report their own copy's CPU;
curl: reaped children). Prints medians of wall time and of CPU seconds per process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.bench_image import Image, MiB, Pusher, make_image, make_layer, verify_copy
from bench.front_stubs import bench_front
from bench.process_cpu import cpu_of
from bench.raw_copy import raw_copy
from ecr_replicate_local.ecr_front import EcrFront
from ecr_replicate_local.registry import LocalRegistry
from ecr_replicate_local.tls import LocalCertificateAuthority, ServerCertificate

REPO = "bench/twin-cost"
TAG = "v1"
TOKEN = "twin-cost-token"
SEED_BASE = 3100  # the workflow benchmark's 1 GiB image: same cached layers


def own_cpu(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def worker(config: dict[str, Any]) -> None:
    """One copier process: copy source front -> one target front, print the copy's CPU."""
    from ecr_replicate.oci.auth import StaticCredentials  # noqa: PLC0415 - the worker's imports
    from ecr_replicate.oci.copy import copy_image  # noqa: PLC0415
    from ecr_replicate.oci.registry_config import RegistryConfig  # noqa: PLC0415
    from ecr_replicate.oci.transport import Transport  # noqa: PLC0415

    https = RegistryConfig(ca_file=config["ca_file"])
    hosts = [config["source"], config["source_s3"], config["target"]]
    transport = Transport(
        credentials=StaticCredentials({config["source"]: ("AWS", TOKEN), config["target"]: ("AWS", TOKEN)}),
        registries=dict.fromkeys(hosts, https),
    )
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    cpu, wall = own_cpu(), time.perf_counter()
    result = copy_image(
        f"{config['source']}/{REPO}:{TAG}",
        f"{config['target']}/{REPO}:{TAG}",
        transport=transport,
        jobs=config["jobs"],
    )
    report = {"cpu": own_cpu() - cpu, "wall": time.perf_counter() - wall, "digest": result.digest}
    transport.close()
    sys.stdout.write(json.dumps(report) + "\n")


def make_front(region: str, upstream: str, storage: str | None, cert: ServerCertificate) -> EcrFront:
    return bench_front(
        upstream=upstream,
        region=region,
        certificate=cert,
        repository=REPO,
        token=TOKEN,
        storage=Path(storage) if storage else None,
    )


def serve_front(config: dict[str, Any]) -> None:
    """A front in a process of its own (``--front-processes``): prints its hosts, serves until
    its stdin closes."""
    cert = ServerCertificate(Path(config["cert"]), Path(config["key"]))
    with make_front(config["region"], config["upstream"], config["storage"], cert) as front:
        sys.stdout.write(json.dumps({"host": front.host, "s3_host": front.s3_host}) + "\n")
        sys.stdout.flush()
        sys.stdin.read()


class Front:
    """A front of the rig, in this process or in its own."""

    def __init__(
        self, region: str, registry: LocalRegistry, cert: ServerCertificate, *, files: bool, own: bool
    ) -> None:
        storage = str(registry.storage) if files else None
        self.process: subprocess.Popen[str] | None = None
        self.front: EcrFront | None = None
        if own:
            config = {
                "region": region,
                "upstream": registry.host,
                "storage": storage,
                "cert": str(cert.cert_file),
                "key": str(cert.key_file),
            }
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.twin_cost_bench", "--serve-front", json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self.process.stdout is not None
            hosts = json.loads(self.process.stdout.readline())
            self.host, self.s3_host = hosts["host"], hosts["s3_host"]
        else:
            self.front = make_front(region, registry.host, storage, cert).start()
            self.host, self.s3_host = self.front.host, self.front.s3_host

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop()
        if self.process is not None:
            self.process.communicate(timeout=60)


class Rig:
    def __init__(
        self,
        work: Path,
        image: Image,
        jobs: int,
        perf: Path | None = None,
        *,
        layer_files: bool = True,
        own_processes: bool = False,
    ) -> None:
        self.image = image
        self.perf = perf
        self.pyspy: Path | None = None
        self.jobs = jobs
        self.ca = LocalCertificateAuthority.create(work / "tls")
        self.source = LocalRegistry.temporary("twin-cost-src").start()
        self.targets = [LocalRegistry.temporary(f"twin-cost-t{n}").start() for n in (1, 2)]
        Pusher(self.source.host, jobs=jobs).push(image, REPO, TAG)
        self.fronts = [
            Front(region, registry, self.ca.issue(f"ecr-{region}"), files=layer_files, own=own_processes)
            for registry, region in zip(
                [self.source, *self.targets], ["us-east-1", "eu-west-1", "ap-southeast-1"], strict=True
            )
        ]

    def empty_targets(self) -> None:
        for registry in self.targets:
            registry.stop()
            shutil.rmtree(registry.root / "data", ignore_errors=True)
            registry.start()

    def registry_pids(self) -> list[int]:
        return [r.process.pid for r in [self.source, *self.targets] if r.process is not None]

    def _perf(self, pids: list[int]) -> subprocess.Popen[bytes] | None:
        """``perf record`` of these processes (all their threads) until SIGINT, if asked for."""
        if self.perf is None:
            return None
        argv = ["perf", "record", "-F", "499", "-g", "-o", str(self.perf), "-p", ",".join(map(str, pids))]
        recorder = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # perf attaches to every thread
        return recorder

    def _pyspy(self, pid: int, name: str) -> subprocess.Popen[bytes] | None:
        """py-spy's collapsed stacks of one process (on-CPU only, native frames), if asked for."""
        if self.pyspy is None:
            return None
        out = self.pyspy.with_name(f"{self.pyspy.name}-{name}.txt")
        py_spy = Path(sys.executable).with_name("py-spy")
        argv = [
            str(py_spy),
            "record",
            "--native",
            "--rate",
            "250",
            "--format",
            "raw",
            "-o",
            str(out),
            "-p",
            str(pid),
        ]
        recorder = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        return recorder

    def fronts_cpu(self) -> float:
        """CPU of the fronts: this process's, plus that of fronts in processes of their own."""
        return own_cpu() + sum(cpu_of(f.pid) for f in self.fronts if f.pid is not None)

    def registry_cpu(self) -> list[float]:
        return [cpu_of(r.process.pid) for r in [self.source, *self.targets] if r.process is not None]

    def twin(self) -> dict[str, Any]:
        source_front = self.fronts[0]
        procs = []
        for front in self.fronts[1:]:
            config = {
                "ca_file": str(self.ca.ca_file),
                "source": source_front.host,
                "source_s3": source_front.s3_host,
                "target": front.host,
                "jobs": self.jobs,
            }
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.twin_cost_bench", "--worker", json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("a copier did not start")
            procs.append(proc)
        front_pids = [f.pid for f in self.fronts if f.pid is not None]
        recorder = self._perf([os.getpid(), *front_pids, *(p.pid for p in procs), *self.registry_pids()])
        spy = self._pyspy(os.getpid(), "fronts")
        spies = [self._pyspy(proc.pid, f"copier{n}") for n, proc in enumerate(procs)]
        registries, fronts, wall = self.registry_cpu(), self.fronts_cpu(), time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, _ = proc.communicate(timeout=900)
            if proc.returncode:
                raise SystemExit(f"a copier failed: exit {proc.returncode}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
        seconds = time.perf_counter() - wall
        after = self.registry_cpu()
        for running in [recorder, spy, *spies]:
            if running is not None:
                running.send_signal(signal.SIGINT)
                running.wait(timeout=120)
        self.verify()
        return {
            "seconds": seconds,
            "fronts": self.fronts_cpu() - fronts,
            "copiers": [r["cpu"] for r in reports],
            "source": after[0] - registries[0],
            "targets": [b - a for a, b in zip(registries[1:], after[1:], strict=True)],
        }

    def raw(self) -> dict[str, Any]:
        registries, curl, wall = self.registry_cpu(), own_cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            runs = list(
                pool.map(
                    lambda t: raw_copy(self.source.host, t.host, REPO, TAG, self.image.blobs, self.jobs),
                    self.targets,
                )
            )
        seconds = time.perf_counter() - wall
        after = self.registry_cpu()
        if not all(run.ok for run in runs):
            raise SystemExit(f"raw copy failed: {[run.error for run in runs]}")
        self.verify()
        return {
            "seconds": seconds,
            "curl": own_cpu(resource.RUSAGE_CHILDREN) - curl,
            "source": after[0] - registries[0],
            "targets": [b - a for a, b in zip(registries[1:], after[1:], strict=True)],
        }

    def verify(self) -> None:
        for registry in self.targets:
            verify_copy(registry.host, REPO, TAG, self.image)

    def stop(self) -> None:
        for front in self.fronts:
            front.stop()
        for registry in [self.source, *self.targets]:
            registry.stop()
            shutil.rmtree(registry.root, ignore_errors=True)


def _total(run: dict[str, Any]) -> float:
    return sum(v if isinstance(v, float) else sum(v) for k, v in run.items() if k != "seconds")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--serve-front", help=argparse.SUPPRESS)
    parser.add_argument("--front-processes", action="store_true", help="each front in a process of its own")
    parser.add_argument("--quick", action="store_true", help="8 x 16 MiB instead of 8 x 128 MiB")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--layer-mib", type=int, default=None, help="default 128 (quick: 16)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--only", choices=("twin", "raw"), default=None)
    parser.add_argument(
        "--layer-host",
        choices=("files", "proxy"),
        default="files",
        help="the layer host reads the registry's files (the twin's way) or GETs blobs through it",
    )
    parser.add_argument(
        "--pyspy", type=Path, default=None, help="py-spy the twin copies to FILE-<process>.txt"
    )
    parser.add_argument("--perf", type=Path, default=None, help="perf record the twin copies to FILE")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "ecr-replicate-bench-cache"
    )
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    if args.serve_front:
        serve_front(json.loads(args.serve_front))
        return 0
    layer_mib = args.layer_mib or (16 if args.quick else 128)
    seeds = [SEED_BASE + i for i in range(args.layers)] if layer_mib != 100 else [3000]
    layers = [make_layer(args.cache, layer_mib * MiB, seed) for seed in seeds]
    image = make_image(layers)
    gib = image.size / (1 << 30)
    print(
        f"image {image.size / MiB:.0f} MiB to 2 targets, jobs {args.jobs}; load {os.getloadavg()}", flush=True
    )
    runs: dict[str, list[dict[str, Any]]] = {"twin": [], "raw": []}
    with tempfile.TemporaryDirectory(prefix="twin-cost-") as work:
        rig = Rig(
            Path(work),
            image,
            args.jobs,
            args.perf,
            layer_files=args.layer_host == "files",
            own_processes=args.front_processes,
        )
        rig.pyspy = args.pyspy
        try:
            for rep in range(args.reps):
                kinds = ["twin", "raw"] if rep % 2 == 0 else ["raw", "twin"]
                for kind in kinds:
                    if args.only and kind != args.only:
                        continue
                    rig.empty_targets()
                    run = rig.twin() if kind == "twin" else rig.raw()
                    runs[kind].append(run)
                    parts = ", ".join(
                        f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {'/'.join(f'{x:.2f}' for x in v)}"
                        for k, v in run.items()
                    )
                    print(f"rep {rep + 1} {kind:4}: total CPU {_total(run):.2f} s; {parts}", flush=True)
        finally:
            rig.stop()
    print(f"\nmedians, CPU-s per GiB of image (x{gib:.2f} GiB), load after {os.getloadavg()}:")
    for kind, kind_runs in runs.items():
        if not kind_runs:
            continue
        keys = kind_runs[0].keys()
        line = []
        for key in keys:
            values = [r[key] if isinstance(r[key], float) else sum(r[key]) for r in kind_runs]
            line.append(f"{key} {statistics.median(values) / (1 if key == 'seconds' else gib):.2f}")
        total = statistics.median(_total(r) for r in kind_runs) / gib
        print(f"  {kind:4}: total {total:.2f}; {', '.join(line)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
