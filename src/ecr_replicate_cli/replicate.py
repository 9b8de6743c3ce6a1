"""``ecr-replicate replicate REPOSITORY[:TAG|@DIGEST] [--region R ...] [--dry-run] [--no-follow]``.

Starts the replication workflow by hand with the manual input
``{"repository", "tag" | "digest", "regions"}`` (the console's "start execution", from the
terminal), prints the execution ARN and follows it like ``status --follow``. ``--dry-run`` prints
what would be copied to each region, with byte counts, and starts nothing.

The image needs a tag or a digest (never a silent ``:latest``), and the source is read first, as
the workflow's Plan step would (:func:`ecr_replicate.oci.describe.describe_image`): a repository
or tag that does not exist is said plainly, and no execution is started for it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

from ecr_replicate.errors import (
    ImageNotFoundError,
    InvalidInputError,
    ReplicationError,
    RepositoryNotFoundError,
)
from ecr_replicate.oci.reference import validate_digest, validate_repository, validate_tag
from ecr_replicate_cli import deployment, status

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


def parse_image(text: str) -> tuple[str, str | None, str | None]:
    """``REPOSITORY:TAG`` or ``REPOSITORY@DIGEST`` (no host) -> (repository, tag, digest)."""
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        validate_digest(digest)
    tag = None
    name = text
    if ":" in text.rsplit("/", 1)[-1]:
        name, tag = text.rsplit(":", 1)
        validate_tag(tag)
    validate_repository(name)
    if tag is None and digest is None:
        raise InvalidInputError(
            f"{text[:120]!r} has no tag or digest: give {text[:120]}:TAG or {text[:120]}@sha256:... "
            "(replicate never assumes :latest)"
        )
    return name, tag, digest


def image_name(image: tuple[str, str | None, str | None]) -> str:
    repository, tag, digest = image
    return f"{repository}:{tag}" if tag else f"{repository}@{digest}"


Image = tuple[str, str | None, str | None]  # repository, tag, digest


def source_missing(exc: ReplicationError, image: Image, region: str) -> InvalidInputError | None:
    """A plain sentence for a source that does not have the image; None for other errors."""
    if isinstance(exc, RepositoryNotFoundError):
        return InvalidInputError(f"repository {image[0]} not found in {region}")
    if isinstance(exc, ImageNotFoundError):
        return InvalidInputError(f"{image_name(image)} not found in {region}")
    return None


def check_source(deploy: deployment.Deployment, image: tuple[str, str | None, str | None]) -> str:
    """Read the image in the source region as the Plan step will; returns its digest."""
    from ecr_replicate.oci.describe import describe_image  # noqa: PLC0415

    repository, tag, digest = image
    host = deploy.registry(deploy.source_region)
    reference = f"{host}/{repository}" + (f"@{digest}" if digest else f":{tag}")
    try:
        described = describe_image(
            reference, deploy.credentials(), config=deploy.settings.registry_config(host)
        )
    except ReplicationError as exc:
        plain = source_missing(exc, image, deploy.source_region)
        if plain is not None:
            raise plain from None
        raise
    return described.digest


def manual_input(
    repository: str, tag: str | None, digest: str | None, regions: list[str] | None
) -> dict[str, Any]:
    payload: dict[str, Any] = {"repository": repository}
    if tag is not None:
        payload["tag"] = tag
    if digest is not None:
        payload["digest"] = digest
    if regions:
        payload["regions"] = list(regions)
    return payload


def execution_name(repository: str, tag: str | None) -> str:
    """``manual-<repo>-<tag>-<time>``: readable in the console, unique, <= 80 characters."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 1000000:06d}"
    label = _NAME_UNSAFE.sub("-", f"{repository}-{tag or 'digest'}").strip("-")
    return f"manual-{label[: 80 - len(stamp) - 8]}-{stamp}"


def start(sfn: Any, machine: str, payload: dict[str, Any], name: str) -> str:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        answer = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))
    except ClientError as exc:
        raise InvalidInputError(
            f"could not start the run: {exc.response['Error'].get('Message', exc)}"
        ) from None
    return str(answer["executionArn"])


def dry_run(
    deploy: deployment.Deployment,
    image: tuple[str, str | None, str | None],
    regions: tuple[str, ...],
    out: Any,
) -> int:
    from ecr_replicate import dryrun  # noqa: PLC0415

    repository, tag, digest = image
    try:
        plan = dryrun.plan_image(
            deploy.registry(deploy.source_region),
            repository,
            tag,
            digest,
            [(region, deploy.registry(region)) for region in regions],
            registry_config=deploy.settings.registry_config,
            credentials=deploy.credentials(),
        )
    except ReplicationError as exc:
        plain = source_missing(exc, image, deploy.source_region)
        if plain is not None:
            raise plain from None
        raise
    dryrun.render([plan], out)
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "image", metavar="REPOSITORY:TAG|REPOSITORY@DIGEST", help="an image of the source region (no host)"
    )
    parser.add_argument(
        "--region",
        action="append",
        dest="regions",
        metavar="REGION",
        help="only this target region (repeat or comma-separate for several)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be copied where; change nothing"
    )
    parser.add_argument("--no-follow", action="store_true", help="print the execution ARN and return")
    deployment.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    regions = [r.strip() for value in (args.regions or []) for r in value.split(",") if r.strip()]
    image = parse_image(args.image)
    deploy = deployment.resolve(args.stack, args.stack_region)
    chosen = deploy.regions(regions)
    if args.dry_run:
        return dry_run(deploy, image, chosen, sys.stdout)
    check_source(deploy, image)
    sfn = deploy.client("stepfunctions")
    arn = start(
        sfn,
        deploy.replicate_arn,
        manual_input(*image, regions or None),
        execution_name(image[0], image[1]),
    )
    print(f"started {arn}", flush=True)
    if args.no_follow:
        return 0
    view = status.watch(sfn, arn, out=sys.stdout, follow=True, progress=deploy.progress_reader())
    return status.exit_code(view)
