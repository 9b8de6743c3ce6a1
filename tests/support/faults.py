"""The fault-injection run shared by the test and the report: N cold copies through faulty proxies.

Each copy goes to a new repository of the target (so every copy is cold and moves every blob),
through one :class:`FaultProxy` in front of the source (5xx, 429, resets mid-body, slow answers
on reads) and one in front of the target (5xx, 429, slow answers on every write and check).
After each copy the target repository is audited (:mod:`tests.support.audit`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from ecr_replicate.oci.reference import Reference, parse_reference
from ecr_replicate.oci.transport import RetryPolicy
from ecr_replicate_local.registry import LocalRegistry
from tests.support.audit import Audit, audit_registry, audit_repository
from tests.support.fault_proxy import FaultProxy
from tests.support.plain_http import copy_plain

# The target's answers to writes carry no body, so a reset mid-body can only hit source reads.
SOURCE_KINDS = ("500", "503", "429", "reset", "slow")
TARGET_KINDS = ("500", "503", "429", "slow")


class CountingSleep:
    """The retry policy's sleep: counts retries and the seconds spent backing off (and sleeps)."""

    def __init__(self, real: bool = True) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.real = real
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.calls += 1
            self.seconds += seconds
        if self.real:
            time.sleep(seconds)


@dataclass
class FaultRun:
    copies: int
    exact: int = 0
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    backoff_seconds: float = 0.0
    seconds: float = 0.0
    audit_problems: list[str] = field(default_factory=list)
    final_audit: Audit | None = None


def run_copies(
    source: LocalRegistry,
    target: LocalRegistry,
    source_ref: str,
    digest: str,
    *,
    copies: int,
    rate: float,
    seed: int,
    retry_options: dict[str, float] | None = None,
    retry_after: str = "0",
    slow_seconds: float = 0.05,
    repository_prefix: str = "rel/app",
) -> FaultRun:
    """``copies`` cold copies of ``source_ref`` (= ``digest``) through faulty proxies at ``rate``."""
    run = FaultRun(copies=copies)
    sleeper = CountingSleep()
    options = retry_options or {}
    policy = RetryPolicy(
        int(options.get("attempts", 6)),
        base_delay=options.get("base_delay", 0.25),
        max_delay=options.get("max_delay", 8.0),
        max_retry_after=options.get("max_retry_after", 30.0),
        sleep=sleeper,
    )
    source_proxy, target_proxy = (
        FaultProxy(
            upstream.host,
            rate=rate,
            kinds=kinds,
            seed=seed + offset,
            retry_after=retry_after,
            slow_seconds=slow_seconds,
        ).start()
        for offset, (upstream, kinds) in enumerate(((source, SOURCE_KINDS), (target, TARGET_KINDS)))
    )
    source_image = parse_reference(source_ref)
    tag = source_image.tag
    started = time.monotonic()
    try:
        for number in range(copies):
            name = f"{repository_prefix}-{number:03d}"
            try:
                result = copy_plain(
                    source_image.with_host(source_proxy.host),
                    Reference(target_proxy.host, name, tag=tag),
                    digest=digest,
                    guard_source_tag=True,
                    retry=policy,
                )
            except Exception as exc:
                run.errors.append(f"copy {number}: {type(exc).__name__}: {exc}")
                continue
            finally:
                audit = audit_repository(target, name)
                run.audit_problems += audit.problems
            if result.digest == digest and audit.tags.get(f"{name}:{tag}") == digest:
                run.exact += 1
            else:
                run.errors.append(f"copy {number}: target {name}:{tag} = {audit.tags.get(f'{name}:{tag}')}")
    finally:
        run.seconds = time.monotonic() - started
        source_proxy.stop()
        target_proxy.stop()
    for proxy in (source_proxy, target_proxy):
        run.requests += proxy.stats.requests
        run.faults.update(proxy.stats.faults)
    run.retries = sleeper.calls
    run.backoff_seconds = sleeper.seconds
    run.final_audit = audit_registry(target)
    return run
