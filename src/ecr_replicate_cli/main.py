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
from typing import Any

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
    """Run one subcommand; every way it can end becomes an exit code and at most one line on stderr
    (:mod:`ecr_replicate_cli.exits`): no traceback reaches the terminal unless ``--verbose``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        try:
            return _top_level(args)
        except BrokenPipeError as exc:  # `ecr-replicate --help | head`: the reader went away
            from ecr_replicate_cli import exits  # noqa: PLC0415 - only on the way out

            return exits.ended_by(exc, "ecr-replicate", process=argv is None)
    name = args[0]
    verbose = "--verbose" in args or "-v" in args[1:2]  # before parsing: errors while importing
    try:
        options, module = _parse(name, args[1:])
        verbose = bool(getattr(options, "verbose", False))
        if verbose:
            from ecr_replicate_cli.exits import log_to_stderr  # noqa: PLC0415

            log_to_stderr()
        code = int(module.run(options))
        sys.stdout.flush()  # a reader that went away (| head) shows here, not at exit
    except BaseException as exc:  # each kind becomes an exit code and at most one line
        from ecr_replicate_cli import exits  # noqa: PLC0415 - only on the way out

        return exits.ended_by(exc, f"ecr-replicate {name}", verbose=verbose, process=argv is None)
    if "threading" in sys.modules:
        from ecr_replicate_cli.exits import calm_shutdown  # noqa: PLC0415

        calm_shutdown()
    return code


def _top_level(args: list[str]) -> int:
    """No subcommand: the help (``--help``, or none given) or the usage error, flushed here so that
    a reader that went away shows as BrokenPipeError now, not as a traceback at exit."""
    parser = _top_parser()
    try:
        if not args:
            parser.print_help(sys.stderr)
            return 2
        parser.parse_args(args)  # prints help, or the usage error, and exits
        return 2
    finally:
        sys.stdout.flush()


def _parse(name: str, args: list[str]) -> tuple[argparse.Namespace, Any]:
    """The subcommand's module (imported now) and its parsed options; ``--verbose`` for all."""
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"ecr-replicate {name}", description=help_text)
    module.configure(parser)
    if "--verbose" not in parser._option_string_actions:
        parser.add_argument(
            "--verbose", "-v", action="store_true", help="log to stderr; the traceback of an internal error"
        )
    return parser.parse_args(args), module


if __name__ == "__main__":
    sys.exit(main())
