"""Routes and ARP entries on FreeBSD, read with pyroute2's BSD parsers.

pyroute2's `IPRoute` on FreeBSD (pyroute2/iproute/bsd.py) is built on pyroute2/bsd/util.py:
a runner for `netstat -rn`, `arp -an` and `ifconfig -a` and a parser for each. This
module uses that runner and those parsers directly, for two reasons: `netstat -rn` cuts
the Netif column to 8 characters (usr.bin/netstat/route.c prints it with `%*.*s` unless
-W is given), and `IPRoute.get_routes()` drops every route whose cut name matches no
interface (a VLAN such as `igb0.1234`), so the routes are read from `netstat -rnW`; and
both tables name the interface of each line, so `ifconfig` need not run at all.

There is no `route get`, so the route toward a destination is chosen here as the kernel's
lookup does: the longest matching prefix, the first listed among equals.
"""

from __future__ import annotations

import contextlib
import errno
import io
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from dumpon.netinfo.neighbours import RESOLVE_TIMEOUT, Neighbour
from dumpon.netinfo.routes import Route

_FIRST_POLL = 0.02
_LONGEST_POLL = 0.25
DISCARD_PORT = 9


@dataclass(frozen=True, slots=True)
class TableRoute:
    """One IPv4 line of `netstat -rn`."""

    network: int  # the destination, as a host-order integer
    prefixlen: int
    gateway: str | None  # None: `link#N`, the destination is on-link
    ifname: str

    def matches(self, address: int) -> bool:
        mask = (0xFFFFFFFF << (32 - self.prefixlen)) & 0xFFFFFFFF
        return address & mask == self.network & mask


@dataclass(frozen=True, slots=True)
class ArpEntry:
    """One resolved line of `arp -an` (pyroute2 leaves out the incomplete ones)."""

    address: str
    mac: str
    ifname: str


def _as_int(address: str) -> int:
    return int.from_bytes(socket.inet_aton(address), "big")


@contextlib.contextmanager
def _reading(what: str) -> Iterator[None]:
    """Failures of pyroute2's runner and parsers become OSError."""
    # pyroute2's parsers print the lines they cannot read to stdout, which is ours
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            yield
        except UnboundLocalError:
            # pyroute2/bsd/util.py CMD.run: a command that cannot be started surfaces so
            raise OSError(errno.ENOENT, f"cannot run {what}") from None
        except (UnicodeDecodeError, ValueError, KeyError, IndexError) as exc:
            raise OSError(errno.EINVAL, f"unreadable {what} output: {exc}") from None


def read_routes() -> list[TableRoute]:
    """The IPv4 routing table in `netstat -rnW` order."""
    from pyroute2.bsd.util import Route as Netstat

    with _reading("netstat -rnW"):
        netstat = Netstat(cmd=["netstat", "-rnW"])
        found = []
        for entry in netstat.parse(netstat.run()):
            if entry["family"] != socket.AF_INET:
                continue
            attrs = dict(entry["attrs"])
            found.append(
                TableRoute(
                    _as_int(attrs.get("RTA_DST", "0.0.0.0")),
                    entry.get("dst_len", 0),
                    attrs.get("RTA_GATEWAY"),
                    entry["ifname"],
                )
            )
        return found


def read_arp() -> list[ArpEntry]:
    """The ARP table's resolved entries (`arp -an`)."""
    from pyroute2.bsd.util import ARP

    with _reading("arp -an"):
        arp = ARP()
        found = []
        for entry in arp.parse(arp.run()):
            attrs = dict(entry["attrs"])
            found.append(ArpEntry(attrs["NDA_DST"], attrs["NDA_LLADDR"], entry["ifname"]))
        return found


def best_route(
    table: list[TableRoute], destination: str, ifname: str | None = None
) -> TableRoute | None:
    """The longest-prefix route to `destination` (through `ifname` if given)."""
    address = _as_int(destination)
    best: TableRoute | None = None
    for entry in table:
        if ifname is not None and entry.ifname != ifname:
            continue
        if entry.matches(address) and (best is None or entry.prefixlen > best.prefixlen):
            best = entry
    return best


def route_to(destination: str, ifname: str | None = None) -> Route | None:
    """The table's route to `destination` (through `ifname` if given); None when none."""
    found = best_route(read_routes(), destination, ifname)
    return None if found is None else Route(found.ifname, found.gateway, None)


def arp_mac(address: str, ifname: str) -> str | None:
    """The ARP table's MAC for `address` on `ifname`, if the kernel has resolved it."""
    for entry in read_arp():
        if entry.address == address and entry.ifname == ifname:
            return entry.mac
    return None


def ask_kernel_to_arp(address: str) -> None:
    """One empty datagram to the discard port: the kernel ARPs for the next hop to send it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"", (address, DISCARD_PORT))


def resolve(address: str, ifname: str, timeout: float = RESOLVE_TIMEOUT) -> Neighbour | None:
    """The ARP table's MAC for `address`, else the one the kernel learns within `timeout` s.

    `arp -an` tells when an entry expires, not when it was confirmed, so `seen` is the
    time the table was read.
    """
    deadline = time.monotonic() + timeout
    mac = arp_mac(address, ifname)
    if mac is None:
        ask_kernel_to_arp(address)
        pause = _FIRST_POLL
        while mac is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_POLL)
            mac = arp_mac(address, ifname)
    return None if mac is None else Neighbour(mac, datetime.now(UTC))
