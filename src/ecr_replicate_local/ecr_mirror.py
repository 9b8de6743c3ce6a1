"""Keep the local ECR control plane (moto) in step with the local source registry's data plane.

On AWS a push to a registry *is* a push to ECR: ``DescribeImages`` lists it with its tags and
push time. Locally the data plane is a ``docker-registry`` and the control plane is moto, so the
webhook bridge calls :func:`record_push` for every manifest push event, next to starting the
execution: it reads the pushed manifest from the source registry and ``PutImage``s it (same bytes,
same digest, same tag) into moto's ECR in the source region, creating the repository if needed.
Then the operator commands list the source through the ECR API in both worlds.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from ecr_replicate.ecr import aws_call

logger = logging.getLogger(__name__)


def record_push(ecr: Any, registry_host: str, event: dict[str, Any]) -> None:
    """Record the push an ``ECR Image Action`` event describes (``ecr``: a client of the source region)."""
    from ecr_replicate.oci.manifest_calls import fetch_manifest  # noqa: PLC0415
    from ecr_replicate.oci.reference import parse_reference  # noqa: PLC0415
    from ecr_replicate.oci.registry_config import RegistryConfig  # noqa: PLC0415
    from ecr_replicate.oci.transport import Transport  # noqa: PLC0415

    detail = event["detail"]
    repository = str(detail["repository-name"])
    digest = str(detail["image-digest"])
    tag = detail.get("image-tag")
    transport = Transport(registries={registry_host: RegistryConfig(plain_http=True)})  # bare registry
    try:
        manifest = fetch_manifest(transport, parse_reference(f"{registry_host}/{repository}@{digest}"))
    finally:
        transport.close()
    with aws_call("ecr:CreateRepository (local mirror)"):
        try:
            ecr.create_repository(repositoryName=repository)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RepositoryAlreadyExistsException":
                raise
    args: dict[str, Any] = {
        "repositoryName": repository,
        "imageManifest": manifest.body.decode(),
        "imageManifestMediaType": manifest.media_type,
        "imageDigest": manifest.digest,
    }
    if tag:
        args["imageTag"] = str(tag)
    with aws_call("ecr:PutImage (local mirror)"):
        try:
            ecr.put_image(**args)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ImageAlreadyExistsException":
                raise
    logger.debug("recorded push %s:%s@%s in the local ECR", repository, tag, digest)
