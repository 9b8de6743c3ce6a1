"""``ecr-replicate``: an argparse dispatcher over lazily imported subcommand modules.

Each subcommand lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``;
adding one is one line in :data:`COMMANDS`. Only the chosen module is imported, so
``ecr-replicate copy`` starts without loading the rest of the project.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "copy": ("ecr_replicate_cli.copy", "copy one image between registries, digest-exact"),
    "local": ("ecr_replicate_local.command", "run the whole workflow on this machine (demo | up)"),
    "status": ("ecr_replicate_cli.status", "per-region progress of one execution (--follow)"),
    "rerun": ("ecr_replicate_cli.rerun", "re-run some regions of an execution (--region R | --failed)"),
    "replicate": ("ecr_replicate_cli.replicate", "replicate one image by hand (--region R, --dry-run)"),
    "backfill": ("ecr_replicate_cli.backfill", "replicate images that existed before deployment (--dry-run)"),
    "verify": ("ecr_replicate_cli.verify", "drift report: each source tag's digest in every target"),
    "reconcile": (
        "ecr_replicate_cli.reconcile",
        "replicate whatever drifted (the deployment's reconcile run; --dry-run: only show it)",
    ),
    "dead-letters": (
        "ecr_replicate_cli.dead_letters",
        "list (default) or --replay the push events EventBridge could not deliver",
    ),
}


def register(name: str, module: str, help_text: str) -> None:
    """Add a subcommand (for plugins/tests; the built-in ones are listed in COMMANDS)."""
    COMMANDS[name] = (module, help_text)


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecr-replicate",
        description="Replicate container images across registries and AWS regions.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        parser = _top_parser()
        if not args:
            parser.print_help(sys.stderr)
            return 2
        parser.parse_args(args)  # prints help, or the usage error, and exits
        return 2
    name = args[0]
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"ecr-replicate {name}", description=help_text
    )
    module.configure(parser)
    code = module.run(parser.parse_args(args[1:]))
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
