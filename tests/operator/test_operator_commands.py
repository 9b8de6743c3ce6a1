"""backfill, verify, replicate and their dry runs against real registries and moto's Step Functions."""

from __future__ import annotations

import json

from ecr_replicate_local.sample_images import Pusher, push_image
from tests.operator.conftest import LATE_TAGS, REPOSITORIES, SOURCE, TARGETS, Deployment
from tests.support.plain_http import copy_plain, head_plain


def _digest(env: Deployment, region: str, name: str) -> str | None:
    return head_plain(f"{env.host(region)}/{name}")


def _executions(env: Deployment) -> list[dict[str, object]]:
    sfn = env.aws.client("stepfunctions")
    return list(sfn.list_executions(stateMachineArn=env.aws.state_machine_arn)["executions"])


def test_dry_runs_change_nothing(operator_env: Deployment) -> None:
    env = operator_env
    before = len(_executions(env))
    code, out = env.cli("backfill", "--repository", "team/svc-4", "--dry-run")
    assert code == 0, out
    assert "10 image(s) selected" in out and "10 to replicate" in out
    assert out.count("would copy") == 10 * len(TARGETS)
    image = env.images["team/svc-4:v0"]
    expected = sum(size for _, size in image.blobs) + len(image.manifest)
    assert (
        f"team/svc-4:v0  eu-west-1        would copy {image.digest[:19]}: 1.0 KiB = {expected} bytes" in out
    )
    code, out = env.cli("replicate", "team/svc-4:v1", "--region", "eu-west-1", "--dry-run")
    assert code == 0 and "would copy" in out and "ap-southeast-1" not in out
    assert len(_executions(env)) == before
    for region in TARGETS:
        assert _digest(env, region, "team/svc-4:v0") is None


def test_backfill_with_filters_skips_what_is_already_replicated(operator_env: Deployment) -> None:
    env = operator_env
    already = env.images["team/svc-0:v1"]
    for region in TARGETS:
        copy_plain(already.ref, f"{env.host(region)}/team/svc-0:v1")
        env.recorded(region, "team/svc-0", already.digest)
    code, out = env.cli("backfill", "--repository", "team/svc-[01]", "--tag", "v*")
    assert code == 0, out
    assert "16 image(s) selected" in out and "1 already in" in out and "15 to replicate" in out
    assert "backfill: 15/15 images done" in out and "backfill SUCCEEDED: 15 replicated, 0 failed" in out
    for repository in ("team/svc-0", "team/svc-1"):
        for tag in ("v0", "v7"):
            for region in TARGETS:
                assert _digest(env, region, f"{repository}:{tag}") == env.images[f"{repository}:{tag}"].digest
        assert _digest(env, "eu-west-1", f"{repository}:rc1") is None  # --tag v* left it out
    names = [str(e["name"]) for e in _executions(env)]
    assert sum(1 for name in names if name.startswith("backfill-")) == 15
    code, out = env.cli("verify", "--repository", "team/svc-[01]", "--tag", "v*")
    assert code == 0, out
    assert "16 image(s)" in out and "in sync" in out


def test_backfill_since_selects_later_pushes(operator_env: Deployment) -> None:
    env = operator_env
    assert env.since is not None
    code, out = env.cli(
        "backfill", "--since", env.since.isoformat(), "--repository", "team/svc-2", "--dry-run"
    )
    assert code == 0, out
    assert f"{len(LATE_TAGS)} image(s) selected" in out
    assert "team/svc-2:rc1" in out and "team/svc-2:v0" not in out


def test_verify_reports_missing_and_different_tags(operator_env: Deployment) -> None:
    env = operator_env
    name = "team/svc-3"
    for region in TARGETS:
        for tag in ("v0", "v1", "v2"):
            copy_plain(env.images[f"{name}:{tag}"].ref, f"{env.host(region)}/{name}:{tag}")
            env.recorded(region, name, env.images[f"{name}:{tag}"].digest)
    code, out = env.cli("verify", "--repository", name, "--tag", "v[0-2]")
    assert code == 0, out
    # drift: v0 deleted in eu-west-1 (distribution deletes by digest), v1 pointing elsewhere in ap-southeast-1
    Pusher(env.host("eu-west-1")).delete_manifest(name, env.images[f"{name}:v0"].digest)
    other = push_image(env.host("ap-southeast-1"), name, "v1", layer_count=1, layer_size=128, seed=999)
    env.recorded("eu-west-1", name, env.images[f"{name}:v0"].digest, present=False)
    env.recorded("ap-southeast-1", name, other.digest)
    code, out = env.cli("verify", "--repository", name, "--tag", "v[0-2]", "--json")
    assert code == 1, out
    report = json.loads(out)
    assert report["drift"] is True
    by_tag = {image["tag"]: image["regions"] for image in report["images"]}
    assert by_tag["v0"]["eu-west-1"]["verdict"] == "missing"
    assert by_tag["v0"]["ap-southeast-1"]["verdict"] == "same"
    assert by_tag["v1"]["ap-southeast-1"] == {"verdict": "different", "digest": other.digest}
    assert by_tag["v2"]["eu-west-1"]["verdict"] == "same"
    code, text = env.cli("verify", "--repository", name, "--tag", "v[0-2]", "--region", "eu-west-1")
    assert code == 1 and f"{name}:v0" in text and f"{name}:v1" not in text


def test_a_glob_that_matches_no_repository_is_said_plainly(operator_env: Deployment) -> None:
    """Not "0 image(s) ... in sync" alone: the operator learns the glob matched nothing."""
    env = operator_env
    code, out = env.cli("verify", "--repository", "team/no-such-*")
    assert code == 0 and "no repository matches 'team/no-such-*'" in out, out
    code, out = env.cli("backfill", "--repository", "team/no-such-*", "--dry-run")
    assert code == 0 and out.strip() == "no repository matches 'team/no-such-*': nothing to backfill", out
    code, out = env.cli("verify", "--repository", "team/svc-3", "--tag", "no-such-tag")
    assert "no repository matches" not in out, out


def test_replicate_region_restricts(operator_env: Deployment) -> None:
    env = operator_env
    image = env.images["team/svc-3:v5"]
    code, out = env.cli("replicate", "team/svc-3:v5", "--region", "ap-southeast-1")
    assert code == 0, out
    assert "started arn:aws:states:" in out
    assert _digest(env, "ap-southeast-1", "team/svc-3:v5") == image.digest
    assert _digest(env, "eu-west-1", "team/svc-3:v5") is None
    assert _digest(env, SOURCE, "team/svc-3:v5") == image.digest
    assert len(REPOSITORIES) == 5


def test_rerun_dry_run_changes_nothing(operator_env: Deployment) -> None:
    env = operator_env
    code, out = env.cli("replicate", "team/svc-2:v3", "--region", "eu-west-1")
    assert code == 0, out
    arn = next(line.split()[1] for line in out.splitlines() if line.startswith("started "))
    before = len(_executions(env))
    code, out = env.cli("rerun", arn, "--region", "eu-west-1", "--dry-run")
    assert code == 0, out
    assert "team/svc-2:v3  eu-west-1" in out and "already there" in out
    assert len(_executions(env)) == before
