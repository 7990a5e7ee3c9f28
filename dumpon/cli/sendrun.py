"""What `netdump send` and `netdump check` share: tunables and payload from the backend and
the command line, one run of the sender, and the report printed afterwards."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dumpon.cli.errorpath import warn
from dumpon.cli.sendprogress import progress_display
from dumpon.dumpsource import Dump
from dumpon.errors import Exit, ToolError
from dumpon.kernel.base import Kernel
from dumpon.protocol import wire
from dumpon.protocol.client import ClientMachine, Tunables
from dumpon.sender import Endpoints, SendResult, path_mtu, send

INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


@dataclass(frozen=True, slots=True)
class Overrides:
    """Command-line values that win over the backend's tunables (None: keep the backend's)."""

    path: str | None = None
    polls: int | None = None
    retries: int | None = None
    arp_retries: int | None = None


def tunables_for(kernel: Kernel, overrides: Overrides) -> tuple[Tunables, str]:
    """The backend's net.netdump.* values with the command line's applied."""
    from dumpon.netdumpconfig import read_tunables

    tunables, path = read_tunables(kernel)
    changes = {
        name: value
        for name in ("polls", "retries", "arp_retries")
        if (value := getattr(overrides, name)) is not None
    }
    return dataclasses.replace(tunables, **changes), (
        overrides.path if overrides.path is not None else path
    )


def payload_for(endpoints: Endpoints, payload: int | None) -> int:
    """--payload, else what a kernel would use on this path: min(4096, MTU - 52)."""
    if payload is not None:
        if not 1 <= payload <= wire.MAX_PAYLOAD:
            raise ToolError(
                f"payload size {payload} is not between 1 and {wire.MAX_PAYLOAD}", Exit.USAGE
            )
        return payload
    mtu = path_mtu(endpoints.server, endpoints.iface)
    try:
        return wire.payload_size(mtu)
    except ValueError as exc:
        raise ToolError(str(exc), Exit.CONFIG) from None


def run(
    prog: str,
    dump: Dump,
    endpoints: Endpoints,
    *,
    kernel: Kernel,
    overrides: Overrides,
    payload: int | None,
    order: int,
    quiet: bool = False,
) -> SendResult:
    """Send `dump` with the backend's tunables (the command line's win) and a progress
    display; warnings go to stderr."""
    tunables, herald_path = tunables_for(kernel, overrides)
    try:
        herald = wire.herald_payload(herald_path)
    except ValueError as exc:
        raise ToolError(f"herald path '{herald_path}': {exc}", Exit.USAGE) from None
    machine = ClientMachine(
        payload=payload_for(endpoints, payload),
        herald=herald,
        key_blob=dump.key_blob,
        order=order,
        tunables=tunables,
        ack_exact=order != 12,
    )
    try:
        result = send(machine, dump, endpoints, progress_display(dump.total, quiet))
    except KeyboardInterrupt:
        # Raised here, not left to click, which would turn it into a silent exit 0.
        raise ToolError("interrupted", INTERRUPTED) from None
    for text in result.warnings:
        warn(prog, text)
    return result


def report(result: SendResult, server: str) -> list[tuple[str, str]]:
    """The facts of a finished dump, as label/value rows."""
    stats = result.stats
    seconds = max(result.seconds, 1e-9)
    rtt = "-" if stats.herald_rtt is None else f"{stats.herald_rtt * 1000:.2f} ms"
    return [
        ("server", f"{server} (data port {result.data_port})"),
        ("client", result.source),
        ("HERALD RTT", rtt),
        ("body", f"{result.body_bytes} bytes"),
        ("throughput", f"{result.body_bytes / seconds / 1e6:.1f} MB/s in {seconds:.2f} s"),
        ("packets", f"{stats.packets} ({stats.retransmits} retransmitted)"),
        ("outcome", "FINISHED acknowledged"),
    ]


def print_report(rows: list[tuple[str, str]]) -> None:
    for label, value in rows:
        print(f"{label + ':':<12} {value}")
