"""Dry runs decide as real runs do, with the same functions, on real registries (Debian's
docker-registry on 127.0.0.1): newer push wins, present, copy."""

from __future__ import annotations

import io
from collections.abc import Callable

from ecr_replicate import dryrun
from ecr_replicate.oci.copy import SUPERSEDED, copy_image
from ecr_replicate.oci.describe import head_digest
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate_local.registry import LocalRegistry
from ecr_replicate_local.sample_images import push_image

PLAIN = RegistryConfig(plain_http=True)


def plan(
    source: LocalRegistry, target: LocalRegistry, tag: str | None, digest: str | None
) -> dryrun.ImagePlan:
    return dryrun.plan_image(
        source.host, "team/app", tag, digest, [("eu-west-1", target.host)], registry_config=lambda host: PLAIN
    )


def replicate(source: LocalRegistry, target: LocalRegistry, digest: str) -> str:
    """What the copy step does for a push of ``team/app:v1`` at ``digest`` (workflow.copy_region)."""
    result = copy_image(
        f"{source.host}/team/app:v1",
        f"{target.host}/team/app:v1",
        digest=digest,
        guard_source_tag=True,
        source_config=PLAIN,
        target_config=PLAIN,
    )
    return result.status


def test_replaying_an_older_push_is_superseded_in_the_dry_run_as_in_the_real_run(
    registry_factory: Callable[..., LocalRegistry],
) -> None:
    source, target = registry_factory("source"), registry_factory("target")
    older = push_image(source.host, "team/app", "v1", seed=1)
    assert replicate(source, target, older.digest) == "COPIED"
    newer = push_image(source.host, "team/app", "v1", seed=2)  # the tag moves on, and is replicated
    assert replicate(source, target, newer.digest) == "COPIED"

    # `rerun --dry-run` of the older push: the image by digest, under its tag
    predicted = plan(source, target, "v1", older.digest)
    (region,) = predicted.regions
    assert region.action == "superseded" and region.newer_digest == newer.digest
    assert not predicted.needs_copy
    out = io.StringIO()
    dryrun.render([predicted], out)
    assert f"superseded: the source tag now names {newer.digest[:19]} (a newer push)" in out.getvalue()
    assert "dry run: 0 copy(ies)" in out.getvalue()

    # the real rerun agrees, and leaves the newer push in place
    assert replicate(source, target, older.digest) == SUPERSEDED
    assert head_digest(f"{target.host}/team/app:v1", config=PLAIN) == newer.digest


def test_the_current_push_is_present_or_copied_as_a_real_run_would(
    registry_factory: Callable[..., LocalRegistry],
) -> None:
    source, target = registry_factory("source"), registry_factory("target")
    pushed = push_image(source.host, "team/app", "v1", seed=3)
    (region,) = plan(source, target, "v1", pushed.digest).regions
    assert region.action == "copy" and region.blobs_to_copy > 0
    assert replicate(source, target, pushed.digest) == "COPIED"
    (region,) = plan(source, target, "v1", pushed.digest).regions
    assert region.action == "present"
    (region,) = plan(source, target, "v1", None).regions  # by tag only: the tag's digest
    assert region.action == "present"
