"""`netdump interfaces`: the host's interfaces and whether FreeBSD netdump could use them.

`--json` prints one JSON array, one object per interface, ordered by index, always
with these keys:

- `name` (string; a byte that is not UTF-8 is written `\\xNN`), `index` (integer)
- `driver` (string or null): Linux: the kernel driver (sysfs, else ethtool); FreeBSD:
  the drivername with its unit, e.g. `em0`
- `freebsd_driver` (string or null): the FreeBSD driver from the project's table
- `link_type` (string: `ether`, `loopback`, `none`, ...), `ethernet` (boolean)
- `up` (boolean, administrative IFF_UP), `carrier` (boolean or null when unknown)
- `mtu` (integer or null), `mac` (string or null)
- `ipv4` (array of strings `address/prefixlen`)
- `netdump` (`supported`, `unsupported` or `unknown`)
- `netdump_basis` (`documented`, `iflib`, `no-methods` or null)
- `netdump_reason` (string)
"""

# No `from __future__ import annotations`: typer would evaluate every annotation string of
# the command twice on each run (~10 ms for dumpon's).

import json
from typing import TYPE_CHECKING, Annotated

import typer

from dumpon.netinfo.names import printable

if TYPE_CHECKING:
    from dumpon.netinfo.interfaces import Interface
    from dumpon.netinfo.verdict import Verdict

_COLUMNS = (
    "NAME", "DRIVER", "FREEBSD", "TYPE", "STATE", "CARRIER", "MTU", "MAC", "IPV4", "NETDUMP",
    "REASON",
)  # fmt: skip


def as_json(iface: "Interface", verdict: "Verdict") -> dict[str, object]:
    """The documented JSON object for one interface."""
    link = iface.link
    return {
        "name": printable(iface.name),
        "index": iface.index,
        "driver": link.driver,
        "freebsd_driver": iface.freebsd.name if iface.freebsd else None,
        "link_type": link.link_type,
        "ethernet": link.ethernet,
        "up": link.up,
        "carrier": link.carrier,
        "mtu": link.mtu,
        "mac": iface.mac,
        "ipv4": [str(address) for address in iface.ipv4],
        "netdump": str(verdict.support),
        "netdump_basis": str(verdict.basis) if verdict.basis else None,
        "netdump_reason": verdict.reason,
    }


def _row(iface: "Interface", verdict: "Verdict") -> tuple[str, ...]:
    link = iface.link
    carrier = "-" if link.carrier is None else ("yes" if link.carrier else "no")
    return (
        printable(iface.name),
        link.driver or "-",
        iface.freebsd.name if iface.freebsd else "-",
        link.link_type,
        "up" if link.up else "down",
        carrier,
        "-" if link.mtu is None else str(link.mtu),
        iface.mac or "-",
        ",".join(str(address) for address in iface.ipv4) or "-",
        str(verdict.support),
        verdict.reason,
    )


def _table(rows: list[tuple[str, ...]]) -> str:
    lines = [_COLUMNS, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_COLUMNS) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        for line in lines
    )


def interfaces(
    all_: Annotated[
        bool, typer.Option("--all", "-a", help="Every interface, not only Ethernet ones.")
    ] = False,
    json_: Annotated[
        bool, typer.Option("--json", help="JSON output (keys: see netdump(8)).")
    ] = False,
) -> None:
    """List interfaces with driver, state, addresses and a netdump verdict."""
    from dumpon.netinfo.interfaces import list_interfaces
    from dumpon.netinfo.verdict import assess

    shown = [iface for iface in list_interfaces() if all_ or iface.link.ethernet]
    verdicts = [assess(iface) for iface in shown]
    if json_:
        print(json.dumps([as_json(i, v) for i, v in zip(shown, verdicts, strict=True)], indent=2))
    else:
        print(_table([_row(i, v) for i, v in zip(shown, verdicts, strict=True)]))
