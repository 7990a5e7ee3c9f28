"""A next hop's MAC address: the kernel's neighbour table, or an ARP the kernel sends for us.

Linux only (pyroute2). The kernel does the resolving (NTF_USE), so no raw socket, no
privilege beyond CAP_NET_ADMIN, and the kernel's own retry schedule.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# linux/neighbour.h; pyroute2 has them too, but only after its ~150 ms import
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
# States in which the entry holds a MAC the kernel once confirmed (the kernel's NUD_VALID).
NUD_VALID = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY
NTF_USE = 0x01

RESOLVE_TIMEOUT = 3.5  # the kernel gives up after 3 solicitations 1 s apart (~3.07 s)
_FIRST_POLL = 0.001
_LONGEST_POLL = 0.05


@dataclass(frozen=True)
class Neighbour:
    """A resolved next hop."""

    mac: str
    seen: datetime  # UTC time the kernel last confirmed the mapping


def _entry(ipr: Any, address: str, ifindex: int) -> tuple[int, str | None, int | None] | None:
    """(state, MAC, age of the last confirmation in clock ticks) of the table entry."""
    for message in ipr.get_neighbours(dst=address, ifindex=ifindex):
        cache = message.get("NDA_CACHEINFO") or {}
        return int(message["state"]), message.get("NDA_LLADDR"), cache.get("ndm_confirmed")
    return None


def _neighbour(mac: str, confirmed_ticks: int | None) -> Neighbour:
    now = datetime.now(UTC)
    if confirmed_ticks is None:
        return Neighbour(mac, now)
    return Neighbour(mac, now - timedelta(seconds=confirmed_ticks / os.sysconf("SC_CLK_TCK")))


def _known(entry: tuple[int, str | None, int | None] | None) -> Neighbour | None:
    if entry is None:
        return None
    state, mac, confirmed = entry
    return _neighbour(mac, confirmed) if mac and state & NUD_VALID else None


def resolve(address: str, ifindex: int, timeout: float = RESOLVE_TIMEOUT) -> Neighbour | None:
    """The table's MAC, else one the kernel resolves within `timeout` s; None if unanswered.

    A STALE entry is taken as it is: asking the kernel to confirm it would start its
    5-second DELAY timer, longer than the wait allowed here.
    """
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    deadline = time.monotonic() + timeout
    with IPRoute() as ipr:
        known = _known(_entry(ipr, address, ifindex))
        if known is not None:
            return known
        try:
            ipr.neigh("replace", dst=address, ifindex=ifindex, flags=NTF_USE, state=0)
        except NetlinkError as exc:
            raise OSError(exc.code, os.strerror(exc.code)) from None
        pause = _FIRST_POLL
        while True:
            entry = _entry(ipr, address, ifindex)
            if entry is not None:
                state, mac, confirmed = entry
                if state & NUD_REACHABLE and mac:
                    return _neighbour(mac, confirmed)
                if state & NUD_FAILED:
                    return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_POLL)
