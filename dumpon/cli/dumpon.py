"""`dumpon`: configure kernel crash dumps, as FreeBSD's dumpon(8).

The dumpon(8) forms are read with BSD getopt (dumpon/options.py), which is both what
FreeBSD does and ~35 ms cheaper than importing typer.  Shell completion is served by the
typer description of the same options (dumpon/cli/dumpon_typer.py), and `--help` prints
the text typer renders from it, kept pre-rendered in dumpon_help.txt (a test keeps it
current).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from dumpon import __version__
from dumpon.cli.errorpath import run_guarded, warn
from dumpon.errors import UsageError
from dumpon.options import USAGE, DumponOptions, parse_argv

PROG = "dumpon"
_COMPLETION_OPTIONS = {"--show-completion", "--install-completion"}
HELP_TEXT = os.path.join(os.path.dirname(__file__), "dumpon_help.txt")


def execute(options: DumponOptions) -> int:
    """Run a parsed command line against the chosen kernel backend."""
    from dumpon.flows.dumpon13 import Console, run
    from dumpon.kernel.select import open_kernel

    if options.version:
        print(f"dumpon {__version__}")
        return 0
    console = Console(out=sys.stdout, warn=lambda message: warn(PROG, message))
    try:
        run(options, lambda: open_kernel(options.backend), console)
    except UsageError as exc:
        if exc.show_message:
            warn(PROG, exc.message)
        sys.stdout.flush()
        print(USAGE, file=sys.stderr)
        return exc.exit_code
    return 0


def _body() -> int:
    argv = sys.argv[1:]
    if "_DUMPON_COMPLETE" in os.environ or _COMPLETION_OPTIONS.intersection(argv):
        return _typer_app(argv)
    try:
        options = parse_argv(argv)
    except UsageError as exc:
        warn(PROG, exc.message)
        print(USAGE, file=sys.stderr)
        return exc.exit_code
    if options.help:
        with open(HELP_TEXT, encoding="utf-8") as text:
            sys.stdout.write(text.read())
        return 0
    return execute(options)


def _typer_app(argv: list[str] | None = None) -> int:
    from dumpon.cli.dumpon_typer import invoke

    return invoke(argv)


def main() -> NoReturn:
    run_guarded(PROG, _body)
