"""``ecr-replicate local demo`` end to end, as CI runs it: a subprocess without a terminal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import processes_using, run_cli, stored_tag_digest
from tests.support.template_variants import without_action, write_variant

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")
DIGEST_LINE = re.compile(
    r"^\s+([a-z]+(?:-[a-z]+)+-\d+)\s+(sha256:[0-9a-f]{64}|\S+.*?)\s+(source|match|MISMATCH)$", re.M
)

pytestmark = pytest.mark.slow


def digest_checks(output: str) -> list[dict[str, str]]:
    """Each ``Digest check`` block of the output as {region: digest}."""
    blocks = output.split("Digest check of ")[1:]
    return [{m[0]: m[1] for m in DIGEST_LINE.findall(block)} for block in blocks]


def test_demo_replicates_the_pushed_image_to_every_region(data_dir: Path) -> None:
    result = run_cli("local", "demo", "--data", str(data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # plain lines (no terminal): no escape sequences; every region's row ends "done"
    assert "\x1b[" not in out
    assert re.search(r": SUCCEEDED\n\s+eu-west-1\s+done\s.*\n\s+ap-southeast-1\s+done\s", out)
    assert "Notification:\n  SUCCEEDED: demo/app:v1" in out
    (check,) = digest_checks(out)
    assert set(check) == set(REGIONS)
    assert len(set(check.values())) == 1 and check["us-east-1"].startswith("sha256:")
    # independently of the output: the tag's digest in each registry's storage
    stored = {region: stored_tag_digest(data_dir, region, "demo/app", "v1") for region in REGIONS}
    assert set(stored.values()) == {check["us-east-1"]}
    assert processes_using(data_dir) == []  # every registry stopped


def test_fault_demo_fails_one_region_then_rerun_heals_it(data_dir: Path) -> None:
    result = run_cli("local", "demo", "--fail-region", "eu-west-1", "--data", str(data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    first, rerun = out.split("Restarting the registry of eu-west-1", 1)
    # the first run: eu-west-1 retried then FAILED, ap-southeast-1 done; the notification names it
    retrying = r"^eu-west-1\s+copying\s.*\[attempt [2-9]; RegistryUnavailableError \(retrying\): .*\]$"
    assert re.search(retrying, first, re.M)
    assert re.search(r": FAILED\n(?:.*\n)*?\s+eu-west-1\s+failed\s", first)
    assert re.search(r"^\s+ap-southeast-1\s+done\s", first, re.M)
    assert "failed: eu-west-1" in first.split("Notification:", 1)[1]
    before = digest_checks(first)[0]
    assert before["ap-southeast-1"] == before["us-east-1"]
    assert before["eu-west-1"] != before["us-east-1"]
    # the rerun: only eu-west-1, named after the original, heals it
    assert re.search(r"re-running eu-west-1 of ecr-push-[0-9a-f-]+: arn:\S+-rerun-1$", rerun, re.M)
    assert "ap-southeast-1" not in rerun.split("Digest check of")[0]
    assert "Notification:\n  SUCCEEDED: demo/app:v1" in rerun
    after = digest_checks(rerun)[0]
    assert len(set(after.values())) == 1
    stored = {region: stored_tag_digest(data_dir, region, "demo/app", "v1") for region in REGIONS}
    assert set(stored.values()) == {after["us-east-1"]}
    assert processes_using(data_dir) == []


@pytest.mark.parametrize("action", ["ecr:PutImage", "ecr:CreateRepository"])
def test_demo_fails_naming_a_permission_the_template_lacks(action: str, tmp_path: Path) -> None:
    """Issue 10: without ecr:PutImage (or ecr:CreateRepository) the demo exits non-zero and says
    which action was refused, in which region."""
    template = write_variant(tmp_path / "template", without_action(action))
    result = run_cli("local", "demo", "--template", str(template), "--regions", "us-east-1,eu-west-1")
    assert result.returncode == 1, result.stdout + result.stderr
    refused = result.stdout.split("Refused by IAM", 1)[1]
    resource = r"arn:aws:ecr:eu-west-1:\d{12}:repository/demo/app"
    assert re.search(rf"not authorized to perform: {action} on resource: {resource}", refused), result.stdout
    assert re.search(rf"eu-west-1: FAILED: \w+: .*{action}", result.stdout), result.stdout
