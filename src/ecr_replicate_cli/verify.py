"""``ecr-replicate verify [--repository GLOB ...] [--region R ...] [--json] [--all]``: drift report.

For every ``repository:tag`` of the source (ECR API listing, the deployment's filters applied) and
every untagged OCI 1.1 referrer, one manifest HEAD per target region: ``same``, ``missing``,
``different`` or ``unreachable``; then the tags only a target holds (deleted in the source:
reported, never deleted). Exit status 1 on any drift. The reconcile workflow runs the same check
(:func:`ecr_replicate.drift.check_deployment`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from ecr_replicate_cli import deployment, patterns


def verify(args: argparse.Namespace, out: TextIO) -> int:
    from ecr_replicate import drift, inventory  # noqa: PLC0415

    regions_arg = [r.strip() for value in (args.regions or []) for r in value.split(",") if r.strip()]
    repositories = patterns.repository_patterns(args.repository)
    tags = patterns.tag_patterns(args.tag)
    deploy = deployment.resolve(args.stack, args.stack_region)
    regions = deploy.regions(regions_arg)
    with inventory.RegistryHeads(deploy.settings.registry_config, deploy.credentials()) as head:
        report = drift.check_deployment(
            deploy.settings,
            source_ecr=deploy.client("ecr"),
            ecr_of=lambda region: deploy.client("ecr", region),
            head=head,
            regions=regions,
            repositories=repositories,
            tags=tags,
        )
    note = (
        None
        if report.images or report.only_in_target
        else patterns.unmatched(deploy.client("ecr"), repositories)
    )
    if args.json:
        json.dump(report.to_json(), out, indent=2)
        out.write("\n")
        if note:
            print(f"ecr-replicate verify: {note}", file=sys.stderr)
    else:
        if note:
            print(note, file=out)
        report.render(out, all_images=args.all)
    return 1 if report.drifted else 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repository", action="append", default=[], metavar="GLOB", help="repositories (repeat)"
    )
    parser.add_argument("--tag", action="append", default=[], metavar="GLOB", help="tags (repeat)")
    parser.add_argument(
        "--region", action="append", dest="regions", metavar="REGION", help="only these targets"
    )
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    parser.add_argument("--all", action="store_true", help="list in-sync images too")
    deployment.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return verify(args, sys.stdout)  # errors, Ctrl-C, a closed pipe: ecr_replicate_cli.exits
