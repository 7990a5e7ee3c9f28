"""`netdump`: the toolbox (keygen, interfaces, route, ...), one module per subcommand."""

from __future__ import annotations

from typing import NoReturn

from dumpon.cli.errorpath import run_guarded
from dumpon.cli.typerapp import invoke, new_app

app = new_app(
    "netdump",
    "Tools for FreeBSD netdump: keys, interfaces, routes and test dumps.",
    no_args_is_help=True,
)

# Each subcommand module registers itself on `app` when imported; their heavy imports
# (cryptography) happen inside the command functions.
from dumpon.cli import netdump_subcommands  # noqa: E402, F401


def main() -> NoReturn:
    run_guarded("netdump", lambda: invoke(app, "netdump"))
