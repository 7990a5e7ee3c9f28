"""Routes and ARP entries on FreeBSD, read through pyroute2's BSD `IPRoute`.

pyroute2 on FreeBSD (pyroute2/iproute/bsd.py) runs `ifconfig -a`, `netstat -rn` and
`arp -an` and parses their output (pyroute2/bsd/util.py). It has no `route get`, so the
route toward a destination is chosen here as the kernel's lookup does: the longest
matching prefix, the first listed among equals. pyroute2 numbers interfaces in the order
`ifconfig` lists them, not by kernel index, so routes and entries are matched by name.
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
from typing import Any

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
def _iproute() -> Iterator[Any]:
    """pyroute2's BSD IPRoute; a command that fails to run or to parse becomes OSError."""
    from pyroute2.iproute.bsd import IPRoute

    # pyroute2's ifconfig parser prints the lines it cannot read to stdout, which is ours
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            with IPRoute() as ipr:
                yield ipr
        except UnboundLocalError:
            # pyroute2/bsd/util.py CMD.run: a command that cannot be started surfaces so
            raise OSError(errno.ENOENT, "cannot run ifconfig, netstat or arp") from None
        except (UnicodeDecodeError, ValueError, KeyError, IndexError) as exc:
            message = f"unreadable ifconfig, netstat or arp output: {exc}"
            raise OSError(errno.EINVAL, message) from None


def _names(ipr: Any) -> dict[int, str]:
    return {link["index"]: link.get("IFLA_IFNAME") for link in ipr.get_links()}


def read_routes() -> list[TableRoute]:
    """The IPv4 routing table in `netstat -rn` order."""
    with _iproute() as ipr:
        names = _names(ipr)
        return [
            TableRoute(
                _as_int(entry.get("RTA_DST") or "0.0.0.0"),
                entry["dst_len"],
                entry.get("RTA_GATEWAY"),
                names[entry.get("RTA_OIF")],
            )
            for entry in ipr.get_routes()
            if entry["family"] == socket.AF_INET
        ]


def read_arp() -> list[ArpEntry]:
    """The ARP table's resolved entries."""
    with _iproute() as ipr:
        names = _names(ipr)
        return [
            ArpEntry(entry.get("NDA_DST"), entry.get("NDA_LLADDR"), names[entry["ifindex"]])
            for entry in ipr.get_neighbours()
        ]


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
