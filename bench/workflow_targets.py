"""The workflow benchmark's view of the twin's targets: empty them between reps, where each holds a
tag (the registry's tag link file, then one HEAD), and the execution a push started."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.bench_image import manifest_digest
from ecr_replicate_local.environment import LocalEnvironment


def empty_targets(env: LocalEnvironment) -> None:
    """Stop every target registry (by PID), delete its storage, start it again on the same port."""
    assert env.regions is not None
    for region in env.regions.target_regions:
        reg = env.regions.registry(region)
        reg.stop()
        shutil.rmtree(reg.root / "data", ignore_errors=True)
        env.regions.restart(region)


def target_hosts(env: LocalEnvironment) -> dict[str, str]:
    assert env.regions is not None
    return {region: env.regions.registry(region).host for region in env.regions.target_regions}


def find_execution(env: LocalEnvironment, repo: str, tag: str) -> str | None:
    """The ARN of the execution the push of ``repo:tag`` started, once its event has arrived."""
    for started in list(env.executions):
        detail = started.event["detail"]
        if detail["repository-name"] == repo and detail.get("image-tag") == tag:
            return started.arn
    return None


def tag_links(env: LocalEnvironment, repo: str, tag: str) -> dict[str, Path]:
    """Per target region, the file in which its registry records what ``repo:tag`` names
    (distribution's filesystem layout): reading it costs the registry nothing."""
    assert env.regions is not None
    repositories = Path("docker", "registry", "v2", "repositories")
    return {
        region: env.regions.registry(region).storage
        / repositories
        / repo
        / "_manifests"
        / "tags"
        / tag
        / "current"
        / "link"
        for region in env.regions.target_regions
    }


def linked_digest(link: Path) -> str | None:
    try:
        return link.read_text().strip()
    except OSError:
        return None


def served_digest(host: str, repo: str, tag: str) -> str | None:
    try:
        return manifest_digest(host, repo, tag)
    except OSError as exc:
        return f"unreachable ({exc})"
