"""`netdump send FILE -s SERVER`: ship an existing core to a netdump server as a kernel would.

FILE is sent as the dump body with a synthesized version 4 header, or, when FILE is a raw
dump as a dump device holds it (leading kernel dump header, key, body), with its own
header and key (see dumpon/dumpsource.py).  Exit status: 0 when the server acknowledged
FINISHED; otherwise the sysexits codes listed in netdump(8).
"""

from __future__ import annotations

from typing import Annotated

import typer

from dumpon import inet
from dumpon.cli import completion
from dumpon.errors import Exit, ToolError
from dumpon.protocol.wire import ACK_PORT, HERALD_PORT


def parse_compression(text: str | None) -> int:
    from dumpon.kernel import abi

    if text is None:
        return abi.COMP_NONE
    try:
        return {"gzip": abi.COMP_GZIP, "zstd": abi.COMP_ZSTD}[text]
    except KeyError:
        raise ToolError(
            f"unknown compression '{text}': expected gzip or zstd", Exit.USAGE
        ) from None


def parse_order(order: int) -> int:
    if order not in (12, 13):
        raise ToolError(f"message order {order} is not 12 or 13", Exit.USAGE)
    return order


def address(text: str | None, role: str) -> str:
    """A dotted-quad option ("" when absent); a usage error naming it otherwise."""
    if text is None:
        return ""
    try:
        return inet.parse(text)
    except ValueError:
        raise ToolError(f"invalid {role} address '{text}'", Exit.USAGE) from None


def client_address(text: str | None) -> str:
    return address(text, "client")


def port_number(value: int, what: str) -> int:
    if not 0 <= value <= 65535:
        raise ToolError(f"{what} {value} is not between 0 and 65535", Exit.USAGE)
    return value


ServerOption = Annotated[
    str, typer.Option("-s", "--server", metavar="SERVER", help="The netdump server.")
]
ClientOption = Annotated[
    str | None,
    typer.Option("-c", "--client", metavar="CLIENT", help="Source address (default: routing's)."),
]
IfaceArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="IFACE",
        autocompletion=completion.interfaces,
        help="Interface to send through (SO_BINDTODEVICE).",
    ),
]
PathOption = Annotated[
    str | None,
    typer.Option("--path", metavar="P", help="HERALD path (default: net.netdump.path)."),
]
PubkeyOption = Annotated[
    str | None,
    typer.Option(
        "-k",
        "--pubkey",
        metavar="PUBKEY",
        autocompletion=completion.files,
        help="Encrypt for this RSA public key.",
    ),
]
CipherOption = Annotated[
    str | None,
    typer.Option(
        "-C",
        "--cipher",
        metavar="CIPHER",
        autocompletion=completion.ciphers,
        help="chacha20 (default) or aes256-cbc.",
    ),
]
PayloadOption = Annotated[
    int | None,
    typer.Option("--payload", metavar="N", help="Bytes per packet (default: min(4096, MTU-52))."),
]
OrderOption = Annotated[
    int,
    typer.Option(
        "--order",
        metavar="12|13",
        autocompletion=completion.orders,
        help="Key after the KDH (12) or HERALD (13).",
    ),
]
PortOption = Annotated[
    int, typer.Option("--port", metavar="PORT", help="The server's herald port.")
]
ClientPortOption = Annotated[
    int, typer.Option("--client-port", metavar="PORT", help="The client port (0: any).")
]
PollsOption = Annotated[
    int | None,
    typer.Option("--polls", metavar="N", min=0, help="0.5 ms polls before a resend."),
]
RetriesOption = Annotated[
    int | None, typer.Option("--retries", metavar="N", min=0, help="Resends before failing.")
]
ArpRetriesOption = Annotated[
    int | None,
    typer.Option("--arp-retries", metavar="N", min=0, help="Unreachable reports tolerated."),
]
BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        metavar="SPEC",
        autocompletion=completion.backends,
        help="Kernel backend for the tunables.",
    ),
]
QuietOption = Annotated[bool, typer.Option("-q", "--quiet", help="No progress display.")]


def send_command(
    file: Annotated[
        str,
        typer.Argument(metavar="FILE", autocompletion=completion.files, help="The core to send."),
    ],
    server: ServerOption,
    iface: IfaceArgument = None,
    client: ClientOption = None,
    path: PathOption = None,
    pubkey: PubkeyOption = None,
    cipher: CipherOption = None,
    hostname: Annotated[
        str | None, typer.Option("--hostname", metavar="H", help="Header hostname.")
    ] = None,
    panic: Annotated[
        str | None, typer.Option("--panic", metavar="TEXT", help="Header panic string.")
    ] = None,
    compression: Annotated[
        str | None,
        typer.Option(
            "--compression",
            metavar="gzip|zstd",
            autocompletion=completion.compressions,
            help="Compress as the kernel.",
        ),
    ] = None,
    payload: PayloadOption = None,
    order: OrderOption = 13,
    port: PortOption = HERALD_PORT,
    client_port: ClientPortOption = ACK_PORT,
    polls: PollsOption = None,
    retries: RetriesOption = None,
    arp_retries: ArpRetriesOption = None,
    backend: BackendOption = None,
    quiet: QuietOption = False,
) -> None:
    """Send FILE to SERVER as a FreeBSD kernel sends a dump."""
    from dumpon.cli import sendrun
    from dumpon.dumpsource import DumpSpec, prepare
    from dumpon.kernel import abi
    from dumpon.kernel.select import open_kernel
    from dumpon.options import parse_cipher
    from dumpon.resolver import resolve_server
    from dumpon.sender import Endpoints

    if cipher is not None and pubkey is None:
        raise ToolError("-C needs -k PUBKEY", Exit.USAGE)
    spec = DumpSpec(
        file,
        hostname=hostname,
        panic=panic,
        compression=parse_compression(compression),
        public_key=pubkey,
        cipher=parse_cipher(cipher) if cipher is not None else abi.ENC_NONE,
        order=parse_order(order),
    )
    endpoints = Endpoints(
        resolve_server(server),
        client_address(client),
        iface,
        port_number(client_port, "client port"),
        port_number(port, "server port"),
    )
    dump = prepare(spec)
    result = sendrun.run(
        "netdump",
        dump,
        endpoints,
        kernel=open_kernel(backend),
        overrides=sendrun.Overrides(path, polls, retries, arp_retries),
        payload=payload,
        order=spec.order,
        quiet=quiet,
    )
    print(f"{'sent:':<12} {file} ({dump.form})")
    sendrun.print_report(sendrun.report(result, endpoints.server))
