"""The typer description of dumpon's options: `dumpon --help` and shell completion.

The options mirror dumpon/options.py's getopt table (a test keeps the two equal).  Running
this app directly (tests do, through CliRunner) gives the same DumponOptions as getopt.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dumpon.cli.typerapp import invoke as invoke_app
from dumpon.cli.typerapp import new_app
from dumpon.kernel import abi
from dumpon.options import DumponOptions, parse_abi_version, parse_cipher, parse_index

app = new_app(
    "dumpon",
    "Configure where a FreeBSD kernel writes its crash dump: a disk device, or a netdump "
    "server over UDP (FreeBSD dumpon(8)).",
)


@app.command(
    context_settings={"allow_interspersed_args": False},
    epilog="Backends: --backend or $DUMPON_BACKEND: auto (default), freebsd, file:PATH.",
)
def dumpon(
    target: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DEVICE|IFACE|off",
            help="Dump device, netdump interface (with -s and -c), or off.",
        ),
    ] = None,
    cipher: Annotated[
        str | None,
        typer.Option(
            "-C",
            "--cipher",
            metavar="CIPHER",
            help="Cipher for -k: chacha20 (default) or aes256-cbc.",
        ),
    ] = None,
    client: Annotated[
        str | None,
        typer.Option("-c", "--client", metavar="CLIENT", help="This host's IPv4 address."),
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option(
            "-g", "--gateway", metavar="GATEWAY", help="First-hop router (derived from the route)."
        ),
    ] = None,
    index: Annotated[
        str | None,
        typer.Option(
            "-i",
            "--index",
            metavar="INDEX",
            help="Insert at this position (0-250) instead of last.",
        ),
    ] = None,
    pubkey: Annotated[
        str | None,
        typer.Option(
            "-k", "--pubkey", metavar="PUBKEY", help="Encrypt dumps for this RSA public key (PEM)."
        ),
    ] = None,
    list_targets: Annotated[
        bool, typer.Option("-l", "--list", help="List the configured dump targets.")
    ] = False,
    remove: Annotated[
        bool, typer.Option("-r", "--remove", help="Remove the matching configuration.")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option("-s", "--server", metavar="SERVER", help="netdumpd server (host or IPv4)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Be verbose.")] = False,
    zstd: Annotated[bool, typer.Option("-Z", "--zstd", help="Compress with zstd.")] = False,
    gzip: Annotated[bool, typer.Option("-z", "--gzip", help="Compress with gzip.")] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend", metavar="BACKEND", help="Kernel backend: auto, freebsd or file:PATH."
        ),
    ] = None,
    abi_version: Annotated[
        str | None,
        typer.Option(
            "--abi",
            metavar="12|13",
            help="Speak this FreeBSD kernel ABI instead of the one kern.osreldate names.",
        ),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="With -l: every target and its settings, as JSON.")
    ] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    from dumpon.cli.dumpon import execute

    options = DumponOptions(
        cipher=parse_cipher(cipher) if cipher is not None else abi.ENC_NONE,
        client=client,
        gateway=gateway,
        index=parse_index(index) if index is not None else None,
        pubkey=pubkey,
        list_targets=list_targets,
        remove=remove,
        verbose=verbose,
        gzip=gzip,
        zstd=zstd,
        server=server,
        operands=list(target or []),
        backend=backend,
        abi_version=parse_abi_version(abi_version) if abi_version is not None else None,
        json=json,
        version=version,
    )
    raise typer.Exit(execute(options))


def render_help(width: int = 80) -> str:
    """typer's `--help` text at a fixed width: dumpon ships it pre-rendered (dumpon_help.txt),
    because importing typer to print it would triple `dumpon --help`'s start-up time."""
    import typer.main

    command = typer.main.get_command(app)
    with command.make_context(
        "dumpon", [], resilient_parsing=True, terminal_width=width, max_content_width=width
    ) as context:
        return command.get_help(context) + "\n"


def invoke(argv: list[str] | None = None) -> int:
    return invoke_app(app, "dumpon", argv)
