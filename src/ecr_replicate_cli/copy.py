"""``ecr-replicate copy [--jobs N] [--src-plain-http] [--dst-plain-http] [--json] SRC DST``.

Registries are reached over https (the system trust store, or ``--src-ca-file``/``--dst-ca-file``);
plain http only for the side that asks for it (``--plain-http``: both sides).
"""

from __future__ import annotations

import argparse
import json
import sys

from ecr_replicate.credentials import EcrCredentials, ecr_region
from ecr_replicate.errors import InvalidInputError, ReplicationError
from ecr_replicate.oci.copy import copy_image
from ecr_replicate.oci.reference import parse_reference
from ecr_replicate.oci.registry_config import RegistryConfig

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:  # annotations only: `typing` stays out of the copy command's start-up
    from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SRC", help="HOST[:PORT]/REPO(:TAG|@sha256:...)")
    parser.add_argument("target", metavar="DST", help="HOST[:PORT]/REPO[:TAG]")
    parser.add_argument("--jobs", "-j", type=int, default=None, help="blobs copied in parallel (default 4)")
    for side, name in (("src", "SRC"), ("dst", "DST")):
        parser.add_argument(f"--{side}-plain-http", action="store_true", help=f"reach {name} over plain http")
        parser.add_argument(
            f"--{side}-ca-file", metavar="PEM", help=f"CA bundle trusted for {name} instead of the system's"
        )
    parser.add_argument("--plain-http", action="store_true", help="--src-plain-http and --dst-plain-http")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-referrers", action="store_true", help="do not copy signatures/referrers")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")


def _ecr_client(region: str) -> Any:
    import boto3  # noqa: PLC0415 - only ECR hosts pay for boto3

    return boto3.client("ecr", region_name=region)


def run(args: argparse.Namespace) -> int:
    from ecr_replicate_cli.copy_progress import ProgressLine, summary  # noqa: PLC0415

    progress: ProgressLine | None = None
    try:
        if args.jobs is not None and args.jobs < 1:
            raise InvalidInputError("--jobs must be at least 1")
        source = parse_reference(args.source)
        target = parse_reference(args.target)
        if source.tag is None and source.digest is None:
            raise InvalidInputError("SRC needs a tag or a digest")
        source_config = RegistryConfig(
            plain_http=args.src_plain_http or args.plain_http, ca_file=args.src_ca_file
        ).check(source.host)
        target_config = RegistryConfig(
            plain_http=args.dst_plain_http or args.plain_http, ca_file=args.dst_ca_file
        ).check(target.host)
        credentials = None
        if ecr_region(source.host) or ecr_region(target.host):
            credentials = EcrCredentials(_ecr_client)
        if not args.quiet and not args.json and sys.stderr.isatty():
            progress = ProgressLine(sys.stderr)
        result = copy_image(
            source,
            target,
            jobs=args.jobs,
            source_config=source_config,
            target_config=target_config,
            credentials=credentials,
            referrers=not args.no_referrers,
            progress=progress,
        )
    except ReplicationError as exc:
        if progress is not None:
            progress.clear()
        message = " ".join(str(exc).split())
        if args.json:
            print(json.dumps(exc.to_dict()))
        print(f"ecr-replicate copy: {type(exc).__name__}: {message}", file=sys.stderr)
        return 2 if isinstance(exc, InvalidInputError) else 1
    except KeyboardInterrupt:
        print("ecr-replicate copy: interrupted", file=sys.stderr)
        return 130
    if progress is not None:
        progress.clear()
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(summary(result))
    return 0
