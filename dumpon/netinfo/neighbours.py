"""A next hop's MAC address on Linux: the kernel's neighbour table, confirmed or resolved.

The kernel does the asking (pyroute2's `neigh` requests), so no raw socket, no privilege
beyond CAP_NET_ADMIN, and the kernel's own retry schedule:

- no entry, or a failed one: NTF_USE makes the kernel create it and broadcast ARP requests;
- STALE or DELAY: the kernel would send its first unicast probe only after
  `delay_first_probe_time` (5 s by default, ip-sysctl.rst), longer than the wait allowed
  here, so the entry is set to PROBE, which probes at once (neigh_timer_handler in
  net/core/neighbour.c);
- REACHABLE, PERMANENT, NOARP: the table's MAC is taken as it is.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dumpon.netinfo.rtnetlink import rtnetlink

RESOLVE_TIMEOUT = 3.5  # the kernel gives up after 3 solicitations 1 s apart (~3.07 s)
_FIRST_POLL = 0.001
_LONGEST_POLL = 0.05


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A resolved next hop."""

    mac: str
    seen: datetime  # UTC time the kernel last confirmed the mapping


def _entry(ipr: Any, address: str, ifindex: int) -> Any:
    """The table's entry for `address` on `ifindex`, or None."""
    found = ipr.get_neighbours(family=socket.AF_INET, dst=address, ifindex=ifindex)
    return found[0] if found else None


def _neighbour(entry: Any) -> Neighbour:
    now = datetime.now(UTC)
    cache = entry.get("NDA_CACHEINFO")
    if cache is None:
        return Neighbour(entry.get("NDA_LLADDR"), now)
    ago = cache["ndm_confirmed"] / os.sysconf("SC_CLK_TCK")  # clock ticks
    return Neighbour(entry.get("NDA_LLADDR"), now - timedelta(seconds=ago))


def resolve(address: str, ifindex: int, timeout: float = RESOLVE_TIMEOUT) -> Neighbour | None:
    """The MAC of `address` on interface `ifindex`, confirmed within `timeout` s; None if
    nobody answers. OSError when the kernel refuses a request (EPERM without privilege)."""
    from pyroute2.netlink.rtnl.ndmsg import (
        NTF_USE,
        NUD_DELAY,
        NUD_FAILED,
        NUD_NOARP,
        NUD_PERMANENT,
        NUD_PROBE,
        NUD_REACHABLE,
        NUD_STALE,
    )

    deadline = time.monotonic() + timeout
    with rtnetlink() as ipr:
        entry = _entry(ipr, address, ifindex)
        state = 0 if entry is None else entry["state"]
        if state & (NUD_REACHABLE | NUD_PERMANENT | NUD_NOARP) and entry.get("NDA_LLADDR"):
            return _neighbour(entry)
        if state & (NUD_STALE | NUD_DELAY):
            ipr.neigh("replace", dst=address, ifindex=ifindex, state=NUD_PROBE)
        elif not state & NUD_PROBE:  # the kernel is not probing it already
            ipr.neigh("replace", dst=address, ifindex=ifindex, flags=NTF_USE, state=0)
        pause = _FIRST_POLL
        while True:
            entry = _entry(ipr, address, ifindex)
            if entry is not None:
                if entry["state"] & NUD_REACHABLE and entry.get("NDA_LLADDR"):
                    return _neighbour(entry)
                if entry["state"] & NUD_FAILED:
                    return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, _LONGEST_POLL)
