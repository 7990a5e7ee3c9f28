"""`dumpon`: configure kernel crash dumps, as FreeBSD's dumpon(8).

The typer command below is the one description of dumpon's options.  typer renders
`--help` from it and answers shell completion from it; the command line itself is read
with BSD getopt, as dumpon.c reads it, by the table dumpon/cli/typer_getopt.py derives from
the command, each value converted by the parameter's own type (dumpon/options.py).
"""

# No `from __future__ import annotations`: typer would evaluate every annotation string of
# the command twice on each run (~10 ms for dumpon's).

import functools
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NoReturn

import typer

from dumpon.cli import completion
from dumpon.cli.errorpath import run_guarded, warn
from dumpon.cli.typer_getopt import OptionTable
from dumpon.cli.typerapp import completion_requested, invoke, new_app, version_line
from dumpon.errors import Exit, ToolError, UsageError
from dumpon.getopt import GetoptError
from dumpon.options import (
    USAGE,
    ClientAddress,
    DumponOptions,
    GatewayAddress,
    Operand,
    ServerName,
    parse_abi_version,
    parse_cipher,
    parse_index,
)

PROG = "dumpon"

app = new_app(
    PROG,
    # dumpon(8) has no -h, and typer's --install-completion is no FreeBSD option: completion
    # is served to the scripts in completions/ alone (answer_completion)
    add_completion=False,
    context_settings={"help_option_names": ["--help"], "allow_interspersed_args": False},
)


# typer describes the command from this signature (its --help, its completion); argv is
# read with the getopt table derived from it (parse_argv() below): typer never calls it.
@app.command(epilog="Backends: --backend or $DUMPON_BACKEND: auto (default), freebsd, file:PATH.")
def dumpon(
    operands: Annotated[
        list[Operand] | None,
        typer.Argument(
            metavar="DEVICE|IFACE|off",
            parser=Operand,
            autocompletion=completion.dump_operands,
            help="Dump device, netdump interface (with -s and -c), or off.",
        ),
    ] = None,
    cipher: Annotated[
        int | None,
        typer.Option(
            "-C",
            "--cipher",
            metavar="CIPHER",
            parser=parse_cipher,
            autocompletion=completion.ciphers,
            help="Cipher for -k: chacha20 (default) or aes256-cbc.",
        ),
    ] = None,
    client: Annotated[
        ClientAddress | None,
        typer.Option(
            "-c",
            "--client",
            metavar="CLIENT",
            parser=ClientAddress,
            help="This host's IPv4 address.",
        ),
    ] = None,
    gateway: Annotated[
        GatewayAddress | None,
        typer.Option(
            "-g",
            "--gateway",
            metavar="GATEWAY",
            parser=GatewayAddress,
            help="First-hop router (derived from the route).",
        ),
    ] = None,
    index: Annotated[
        int | None,
        typer.Option(
            "-i",
            "--index",
            metavar="INDEX",
            parser=parse_index,
            help="Insert at this position (0-250) instead of last.",
        ),
    ] = None,
    pubkey: Annotated[
        str | None,
        typer.Option(
            "-k",
            "--pubkey",
            metavar="PUBKEY",
            autocompletion=completion.files,
            help="Encrypt dumps for this RSA public key (PEM).",
        ),
    ] = None,
    list_targets: Annotated[
        bool, typer.Option("-l", "--list", help="List the configured dump targets.")
    ] = False,
    remove: Annotated[
        bool, typer.Option("-r", "--remove", help="Remove the matching configuration.")
    ] = False,
    server: Annotated[
        ServerName | None,
        typer.Option(
            "-s",
            "--server",
            metavar="SERVER",
            parser=ServerName,
            help="netdumpd server (host or IPv4).",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Be verbose.")] = False,
    zstd: Annotated[bool, typer.Option("-Z", "--zstd", help="Compress with zstd.")] = False,
    gzip: Annotated[bool, typer.Option("-z", "--gzip", help="Compress with gzip.")] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            metavar="BACKEND",
            autocompletion=completion.backends,
            help="Kernel backend: auto, freebsd or file:PATH.",
        ),
    ] = None,
    abi_version: Annotated[
        int | None,
        typer.Option(
            "--abi",
            metavar="12|13",
            parser=parse_abi_version,
            autocompletion=completion.abi_versions,
            help="Speak this FreeBSD kernel ABI instead of the one kern.osreldate names.",
        ),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="With -l: print the targets as a JSON document.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Configure where a FreeBSD kernel writes its crash dump: a disk device, or a netdump
    server over UDP (FreeBSD dumpon(8)).
    """


def options_from(given: Mapping[str, Any]) -> DumponOptions:
    """The parsed command line from parameter values by name; absent ones keep defaults."""
    values = {name: value for name, value in given.items() if value is not None}
    values["operands"] = tuple(values.get("operands", ()))
    return DumponOptions(**values)


@functools.cache
def option_table() -> OptionTable:
    return OptionTable.of(app, PROG)


def parse_argv(argv: Sequence[str]) -> DumponOptions:
    """Read argv as dumpon(8) does; raises UsageError or ToolError as it would."""
    try:
        options = options_from(option_table().read(argv))
    except GetoptError as exc:
        raise UsageError(exc.message()) from None
    if options.json and not (options.list_targets or options.help or options.version):
        raise ToolError("--json applies to -l only", Exit.USAGE)
    return options


def execute(options: DumponOptions) -> int:
    """Run a parsed command line against the chosen kernel backend."""
    from dumpon.flows.dumpon13 import run
    from dumpon.flows.steps import Console
    from dumpon.kernel.select import open_kernel

    if options.version:
        print(version_line(PROG))
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
    if completion_requested(PROG):
        return invoke(app, PROG)
    try:
        options = parse_argv(sys.argv[1:])
    except UsageError as exc:
        warn(PROG, exc.message)
        print(USAGE, file=sys.stderr)
        return exc.exit_code
    if options.help:
        sys.stdout.write(option_table().help_text())
        return 0
    return execute(options)


def main() -> NoReturn:
    run_guarded(PROG, _body)
