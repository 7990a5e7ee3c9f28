"""`netdump route`: how a dump to SERVER would leave this host, and what could stop it.

`--json` prints one JSON object with these keys, always present:

- `interface` (string), `ifindex` (integer)
- `client`, `server`, `gateway` (dotted-quad strings; `gateway` is the next hop, the
  server itself when it is on-link)
- `gateway_source` (`option`: -g; `route`: the kernel's route; `on-link`: no gateway)
- `gateway_mac` (string or null), `gateway_mac_seen` (ISO-8601 UTC time or null)
- `mtu`, `payload_13`, `payload_12` (integers or null): the interface MTU and the dump
  bytes per packet a FreeBSD 13+ and a 12.x kernel would send
- `warnings` (array of strings, also printed on stderr)
"""

# No `from __future__ import annotations`: typer would evaluate every annotation string of
# the command twice on each run (~10 ms for dumpon's).

import json
from typing import TYPE_CHECKING, Annotated

import typer

from dumpon import inet
from dumpon.cli import completion
from dumpon.cli.errorpath import warn
from dumpon.netinfo.names import printable

if TYPE_CHECKING:
    from dumpon.netinfo.path import PathCheck


def _address(text: str | None, role: str) -> str | None:
    return None if text is None else inet.ntoa(inet.parse_option(text, role))


def as_json(check: "PathCheck") -> dict[str, object]:
    """The documented JSON object for one path."""
    mac = check.gateway_mac
    return {
        "interface": printable(check.iface.name),
        "ifindex": check.iface.index,
        "client": check.client,
        "server": check.server,
        "gateway": check.gateway,
        "gateway_source": check.gateway_source,
        "gateway_mac": mac.mac if mac else None,
        "gateway_mac_seen": mac.seen.isoformat(timespec="seconds") if mac else None,
        "mtu": check.iface.link.mtu,
        "payload_13": check.payload_13,
        "payload_12": check.payload_12,
        "warnings": check.warnings,
    }


def _text(check: "PathCheck") -> str:
    mac = check.gateway_mac
    rows = (
        ("interface", f"{printable(check.iface.name)} (index {check.iface.index})"),
        ("client", check.client),
        ("server", check.server),
        ("next hop", f"{check.gateway} ({check.gateway_source})"),
        ("next-hop MAC", f"{mac.mac} (seen {mac.seen:%Y-%m-%d %H:%M:%S} UTC)" if mac else "-"),
        ("MTU", str(check.iface.link.mtu or "-")),
        (
            "payload",
            f"{check.payload_13} bytes per packet (FreeBSD 13+), {check.payload_12} (12.x)",
        ),
    )
    return "\n".join(f"{label:<13} {value}" for label, value in rows)


def route(
    server: Annotated[
        str, typer.Argument(metavar="SERVER", help="The dump server: host name or IPv4 address.")
    ],
    iface: Annotated[
        str | None,
        typer.Argument(
            metavar="IFACE",
            autocompletion=completion.interfaces,
            help="Interface to dump through (default: the route's).",
        ),
    ] = None,
    client: Annotated[
        str | None,
        typer.Option("-c", "--client", metavar="CLIENT", help="Client address (default: IFACE's)."),
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option(
            "-g", "--gateway", metavar="GATEWAY", help="Next hop (default: from the route)."
        ),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="JSON output (keys: see netdump(8)).")
    ] = False,
) -> None:
    """Show the interface, addresses, next hop and its MAC a dump to SERVER would use."""
    from dumpon.netinfo.path import plan_route
    from dumpon.resolver import resolve_server

    check = plan_route(
        resolve_server(server),
        iface,
        _address(client, "client"),
        _address(gateway, "gateway"),
    )
    for text in check.warnings:
        warn("netdump", text)
    print(json.dumps(as_json(check), indent=2) if json_ else _text(check))
