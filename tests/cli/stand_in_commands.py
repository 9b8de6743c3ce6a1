"""Stand-in subcommands for tests of how ``ecr-replicate`` ends (registered with
``ecr_replicate_cli.main.register`` in a child process): a flood of output for ``| head``, and a
command that waits on non-daemon worker threads for Ctrl-C. Not a test module of its own."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("flood", "busy-threads"))


def run(args: argparse.Namespace) -> int:
    if args.what == "flood":
        for number in range(1_000_000):
            print(f'{{"line": {number}, "padding": "{"x" * 60}"}}')
        return 0
    # workers that would keep the interpreter alive for a minute after the main thread is interrupted
    pool = ThreadPoolExecutor(max_workers=2)
    for _ in range(20):
        pool.submit(time.sleep, 3)
    print("ready", flush=True)
    threading.Event().wait(60)
    return 0


if __name__ == "__main__":  # pragma: no cover - run by the tests as a child process
    from ecr_replicate_cli import main

    main.register("stand-in", "tests.cli.stand_in_commands", "a stand-in command for tests")
    sys.exit(main.main())
