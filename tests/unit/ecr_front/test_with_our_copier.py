"""Our own copier through the front, both ways: what the local twin will do on every run."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ecr_replicate.oci.auth import StaticCredentials
from ecr_replicate.oci.copy import copy_image
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate.oci.transport import Transport
from ecr_replicate_local.registry import LocalRegistry
from ecr_replicate_local.sample_images import push_image, push_signature
from tests.unit.ecr_front.conftest import REGION, REPO, Rig

PLAIN = RegistryConfig(plain_http=True)


def test_the_copier_copies_into_and_out_of_the_front(
    rig: Rig, registry_factory: Callable[..., LocalRegistry]
) -> None:
    source, target = registry_factory("source"), registry_factory("target")
    pushed = push_image(source.host, REPO, "v1", layer_count=3, layer_size=400_000, seed=11)
    push_signature(source.host, REPO, pushed.digest)
    front = RegistryConfig(ca_file=str(rig.ca.ca_file))
    credentials = StaticCredentials({rig.front.host: ("AWS", rig.token)})

    into = copy_image(
        f"{source.host}/{REPO}:v1",
        f"{rig.front.host}/{REPO}:v1",
        source_config=PLAIN,
        target_config=front,
        credentials=credentials,
    )
    assert into.digest == pushed.digest

    rig.catalog.create(REGION, "copied/back")
    # Blob GETs are redirected to the layer host, which the copier reaches with the system trust
    # store unless told otherwise: here it is told (the run's CA), as the twin must tell it.
    transport = Transport(
        credentials=credentials,
        registries={rig.front.host: front, rig.front.s3_host: front, target.host: PLAIN},
    )
    out = copy_image(f"{rig.front.host}/{REPO}:v1", f"{target.host}/copied/back:v1", transport=transport)
    transport.close()
    assert out.digest == pushed.digest
    stored = rig.http.request(
        "GET", f"{target.url}/v2/copied/back/manifests/v1", headers={"Accept": pushed.media_type}
    )
    assert "sha256:" + hashlib.sha256(stored.data).hexdigest() == pushed.digest
    assert rig.front.journal.denied() == []
    redirected = [
        entry for entry in rig.front.journal.entries() if entry.action == "ecr:GetDownloadUrlForLayer"
    ]
    assert redirected and {entry.status for entry in redirected} == {307}
    asked = rig.front.journal.actions()
    assert {
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
    } <= asked
