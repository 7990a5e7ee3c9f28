"""`netdump`: the toolbox (keygen, interfaces, route, check, send), one module per subcommand."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

from dumpon.cli import (
    netdump_check,
    netdump_interfaces,
    netdump_keygen,
    netdump_route,
    netdump_send,
)
from dumpon.cli.errorpath import run_guarded
from dumpon.cli.typerapp import invoke, new_app, show_version

app = new_app(
    "netdump",
    "Tools for FreeBSD netdump: keys, interfaces, routes, test dumps and sending cores.",
    no_args_is_help=True,
)
# Each subcommand module imports its heavy libraries (cryptography, pyroute2) inside the
# command function, so registering all of them here costs little.


@app.callback()
def netdump(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=show_version("netdump"), help="Print the version."
        ),
    ] = False,
) -> None:
    """Tools for FreeBSD netdump: keys, interfaces, routes, test dumps and sending cores."""


app.command("interfaces")(netdump_interfaces.interfaces)
app.command("keygen")(netdump_keygen.keygen)
app.command("route")(netdump_route.route)
app.command("check")(netdump_check.check)
app.command("send")(netdump_send.send_command)


def main() -> NoReturn:
    run_guarded("netdump", lambda: invoke(app, "netdump"))
