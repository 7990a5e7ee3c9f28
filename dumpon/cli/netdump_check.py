"""`netdump check`: a short test dump over the configured (or given) netdump path.

Without -s it uses what the kernel backend holds: the interface, client, server and
gateway of the netdump configuration, and on the emulation also the compression, cipher
and public key recorded with it.  With -s it takes dumpon's options instead.  The body
is a recognisable pattern (64-byte text records naming their own offset), the panic
string says it is a test.  Exit 0 only when the server acknowledged FINISHED; the other
exit codes are netdump send's (netdump(8)).
"""

from __future__ import annotations

import io
from typing import Annotated

import typer

from dumpon.cli.errorpath import warn
from dumpon.cli.netdump_send import (
    ArpRetriesOption,
    BackendOption,
    CipherOption,
    ClientPortOption,
    IfaceArgument,
    OrderOption,
    PathOption,
    PayloadOption,
    PollsOption,
    PortOption,
    PubkeyOption,
    QuietOption,
    RetriesOption,
    address,
    client_address,
    parse_order,
    port_number,
)
from dumpon.errors import Exit, ToolError
from dumpon.protocol.wire import ACK_PORT, HERALD_PORT

DEFAULT_SIZE = 1 << 20
PANIC = "netdump check: a test dump, not a panic"
RECORD = 64


def pattern(size: int) -> bytes:
    """`size` bytes of 64-byte records `netdump check 0x<offset>` padded and ended by a
    newline, so any byte of a received test dump tells where it belongs."""
    count = -(-size // RECORD)
    records = (f"netdump check 0x{i * RECORD:016x}".ljust(RECORD - 1) + "\n" for i in range(count))
    return "".join(records).encode("ascii")[:size]


def _gateway_warning(server: str, gateway: str) -> str | None:
    """Userland cannot pick the next hop; say so when the host's routing picks another."""
    from dumpon.netinfo import routes

    if gateway in (server, "0.0.0.0"):
        return None
    try:
        route = routes.route_to(server)
    except OSError:
        return None
    used = route.gateway if route is not None and route.gateway else server
    if used == gateway:
        return None
    return f"warning: this host sends to {server} via {used}, not the configured gateway {gateway}"


def check(
    iface: IfaceArgument = None,
    server: Annotated[
        str | None,
        typer.Option("-s", "--server", metavar="SERVER", help="Server (default: configured)."),
    ] = None,
    client: Annotated[
        str | None,
        typer.Option("-c", "--client", metavar="CLIENT", help="Client (default: configured)."),
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option("-g", "--gateway", metavar="GATEWAY", help="Gateway (reported only)."),
    ] = None,
    pubkey: PubkeyOption = None,
    cipher: CipherOption = None,
    zstd: Annotated[bool, typer.Option("-Z", help="zstd compression, as dumpon -Z.")] = False,
    gzip: Annotated[bool, typer.Option("-z", help="gzip compression, as dumpon -z.")] = False,
    size: Annotated[
        int, typer.Option("--size", metavar="BYTES", min=1, help="Test body size.")
    ] = DEFAULT_SIZE,
    path: PathOption = None,
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
    """Send a short test dump over the netdump configuration and report how it went."""
    from dumpon.cli import sendrun
    from dumpon.dumpsource import DumpSpec, prepare_body
    from dumpon.kernel import abi
    from dumpon.kernel.select import open_kernel
    from dumpon.netdumpconfig import NetdumpConfig, read_config
    from dumpon.options import parse_cipher
    from dumpon.resolver import resolve_server
    from dumpon.sender import Endpoints

    if zstd and gzip:
        raise ToolError("-Z and -z cannot be combined", Exit.USAGE)
    if cipher is not None and pubkey is None:
        raise ToolError("-C needs -k PUBKEY", Exit.USAGE)
    kernel = open_kernel(backend)
    if server is None:
        config = read_config(kernel)
        if config is None:
            raise ToolError("netdump is not configured: give -s SERVER", Exit.CONFIG)
        source = "kernel configuration"
    else:
        server_ip = resolve_server(server)
        config = NetdumpConfig(
            iface or "", server_ip, client_address(client), address(gateway, "gateway")
        )
        source = "command line"
    compression = abi.COMP_ZSTD if zstd else abi.COMP_GZIP if gzip else config.compression
    spec = DumpSpec(
        "netdump check pattern",
        panic=PANIC,
        compression=compression,
        public_key=pubkey,
        public_key_pem=None if pubkey else config.public_key_pem,
        cipher=parse_cipher(cipher) if cipher is not None else config.cipher,
        order=parse_order(order),
    )
    endpoints = Endpoints(
        config.server,
        client_address(client) if client is not None else config.client,
        iface or config.iface or None,
        port_number(client_port, "client port"),
        port_number(port, "server port"),
    )
    if config.gateway:
        text = _gateway_warning(config.server, config.gateway)
        if text:
            warn("netdump", text)
    dump = prepare_body(spec, io.BytesIO(pattern(size)))
    result = sendrun.run(
        "netdump",
        dump,
        endpoints,
        kernel=kernel,
        overrides=sendrun.Overrides(path, polls, retries, arp_retries),
        payload=payload,
        order=spec.order,
        quiet=quiet,
    )
    encrypted = "none" if dump.key_blob is None else "fresh one-time key"
    rows = sendrun.report(result, endpoints.server)
    rows[1:1] = [
        ("settings", source),
        ("interface", endpoints.iface or "-"),
        ("encryption", encrypted),
    ]
    sendrun.print_report(rows)
