"""Optional throttling: 429 TOOMANYREQUESTS "Rate exceeded" with Retry-After, per action."""

from __future__ import annotations

import json
from collections.abc import Callable

from ecr_replicate_local.ecr_front import Throttle
from tests.unit.ecr_front.calls import push_manifest
from tests.unit.ecr_front.conftest import REPO, Rig


def test_throttled_calls_get_429_with_retry_after(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(throttle=Throttle({"ecr:PutImage": 0.2, "ecr:ListImages": 1000}))
    _, manifest = push_manifest(rig, REPO, "one")
    again = rig.request(
        "PUT",
        f"/v2/{REPO}/manifests/two",
        body=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert again.status == 429
    assert json.loads(again.data)["errors"][0] == {"code": "TOOMANYREQUESTS", "message": "Rate exceeded"}
    assert 1 <= int(again.headers["Retry-After"]) <= 5
    assert rig.request("GET", f"/v2/{REPO}/tags/list").status == 200  # other actions unaffected
    assert rig.front.journal.entries()[-2].status == 429


def test_ecrs_default_quotas_throttle_a_burst(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(throttle=Throttle.ecr_defaults())
    _, manifest = push_manifest(rig, REPO, "seed")
    statuses = [
        rig.request(
            "PUT",
            f"/v2/{REPO}/manifests/t{i}",
            body=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        ).status
        for i in range(25)
    ]
    assert 429 in statuses and statuses.count(201) >= 9  # PutImage: 10 per second
