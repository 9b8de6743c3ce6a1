"""``ecr-replicate copy [options] SRC DST``: one image, registry to registry, digest-exact.

``SRC``/``DST`` are ``HOST[:PORT]/REPO(:TAG|@DIGEST)``, with or without skopeo's ``docker://``.
Registries are reached over https (the system trust store, or ``--src-ca-file``/``--dst-ca-file``);
plain http only for the side that asks for it (``--plain-http``: both sides). Credentials: ECR
hosts take ``ecr:GetAuthorizationToken`` (AWS credentials of the environment); other hosts the
files skopeo and docker read (``--authfile``, ``REGISTRY_AUTH_FILE``, ``~/.docker/config.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from ecr_replicate.credentials import cli_credentials
from ecr_replicate.errors import (
    ConfigurationError,
    InvalidInputError,
    InvalidReferenceError,
    ReplicationError,
)
from ecr_replicate.oci.copy import DEFAULT_JOBS, MAX_JOBS, CopyResult, copy_image
from ecr_replicate.oci.reference import Reference, parse_reference
from ecr_replicate.oci.registry_config import RegistryConfig
from ecr_replicate_cli.copy_progress import ProgressLine, summary

DEFAULT_TIMEOUT = 3600.0
TRANSPORT = "docker://"
#: skopeo's other transports: named plainly rather than misread as a host
OTHER_TRANSPORTS = frozenset(
    {
        "oci",
        "oci-archive",
        "dir",
        "docker-archive",
        "docker-daemon",
        "containers-storage",
        "sif",
        "tarball",
        "ostree",
    }
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SRC", help="[docker://]HOST[:PORT]/REPO(:TAG|@sha256:...)")
    parser.add_argument("target", metavar="DST", help="[docker://]HOST[:PORT]/REPO[:TAG]")
    parser.add_argument(
        "--jobs",
        "-j",
        type=jobs_count,
        default=None,
        metavar="N",
        help=f"blobs copied in parallel, 1..{MAX_JOBS} (default {DEFAULT_JOBS})",
    )
    for side, name in (("src", "SRC"), ("dst", "DST")):
        parser.add_argument(f"--{side}-plain-http", action="store_true", help=f"reach {name} over plain http")
        parser.add_argument(
            f"--{side}-ca-file", metavar="PEM", help=f"CA bundle trusted for {name} instead of the system's"
        )
    parser.add_argument("--plain-http", action="store_true", help="--src-plain-http and --dst-plain-http")
    parser.add_argument(
        "--timeout",
        type=str,
        default=str(DEFAULT_TIMEOUT),
        metavar="SECONDS",
        help=f"time budget of the whole copy (default {DEFAULT_TIMEOUT:g}): a stalled registry fails it",
    )
    parser.add_argument(
        "--authfile",
        metavar="PATH",
        help="credentials file (auth.json or config.json) for non-ECR registries",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-referrers", action="store_true", help="do not copy signatures/referrers")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")


def jobs_count(text: str) -> int:
    """``--jobs``: a whole number in 1..MAX_JOBS (the bound of the deployment's COPY_JOBS)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number") from None
    if not 1 <= value <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{value} is outside 1..{MAX_JOBS}")
    return value


def _ecr_client(region: str) -> Any:
    """An ECR client, for ECR hosts only: boto3 is imported here because it costs 12 MB of
    resident memory (measured) that a copy between other registries does not need."""
    import boto3  # noqa: PLC0415 - memory, not start-up: see the docstring

    return boto3.client("ecr", region_name=region)  # type: ignore[call-overload]


def image(text: str, side: str) -> Reference:
    """A reference as typed: skopeo's ``docker://`` prefix is accepted, other transports refused."""
    value = text.strip()
    if value.lower().startswith(TRANSPORT):
        value = value[len(TRANSPORT) :]
    else:
        transport = value.split(":", 1)[0].lower()
        if ":" in value and transport in OTHER_TRANSPORTS:
            raise InvalidReferenceError(
                f"{side} {text[:80]!r}: only registries are supported (docker://HOST/REPO:TAG), "
                f"not the {transport!r} transport"
            )
    return parse_reference(value)


def timeout_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"--timeout {text[:20]!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError("--timeout must be a positive number of seconds")
    return value


def authfile_path(text: str | None) -> Path | None:
    if text is None:
        return None
    path = Path(text)
    if not path.is_file():
        raise InvalidInputError(f"--authfile {text}: no such file")
    return path


def _copy(args: argparse.Namespace, progress: ProgressLine | None) -> CopyResult:
    source = image(args.source, "SRC")
    target = image(args.target, "DST")
    if source.tag is None and source.digest is None:
        raise InvalidInputError("SRC needs a tag or a digest")
    timeout = timeout_seconds(args.timeout)
    authfile = authfile_path(args.authfile)
    source_config = RegistryConfig(
        plain_http=args.src_plain_http or args.plain_http, ca_file=args.src_ca_file
    )
    target_config = RegistryConfig(
        plain_http=args.dst_plain_http or args.plain_http, ca_file=args.dst_ca_file
    )
    return copy_image(
        source,
        target,
        jobs=args.jobs,
        source_config=source_config.check(source.host),
        target_config=target_config.check(target.host),
        credentials=cli_credentials(_ecr_client, authfile=authfile),
        referrers=not args.no_referrers,
        progress=progress,
        timeout=timeout,
    )


def run(args: argparse.Namespace) -> int:
    progress: ProgressLine | None = None
    if not args.quiet and not args.json and sys.stderr.isatty():
        progress = ProgressLine(sys.stderr)
    try:
        result = _copy(args, progress)
    except ReplicationError as exc:
        if progress is not None:
            progress.clear()
        from ecr_replicate_cli.exits import one_line  # noqa: PLC0415 - only on the way out

        if args.json:
            print(json.dumps(exc.to_dict()))
        print(f"ecr-replicate copy: {one_line(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
        # the command line's own mistakes (options, files they name) are usage errors
        return 2 if isinstance(exc, InvalidInputError | ConfigurationError) else 1
    except KeyboardInterrupt:  # main reports it (exits.ended_by: 130, no wait for leftover threads)
        if progress is not None:
            progress.clear()
        raise
    if progress is not None:
        progress.clear()
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(summary(result))
    return 0
