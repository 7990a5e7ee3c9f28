"""Which way the kernel sends a packet: Linux's `route get` (pyroute2), FreeBSD dumpon's rule."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from dumpon.netinfo.rtnetlink import rtnetlink


@dataclass(frozen=True, slots=True)
class Route:
    """The route chosen for one destination."""

    ifname: str  # the outgoing interface
    gateway: str | None  # None: the destination is on-link, it is its own next hop
    prefsrc: str | None  # the source address the kernel would choose, where it says


# The kernel's answers to `route get` for a destination it will not send to: no route,
# an `unreachable` route, a `prohibit` route, a `blackhole` route.
_NO_ROUTE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EINVAL})


def route_to(destination: str, oif: int | None = None) -> Route | None:
    """The route the Linux kernel would use (through `oif` if given); None when it has none.

    Given an `oif` without a matching route, Linux assumes the destination is on-link
    there, which is FreeBSD dumpon's fallback too.
    """
    request: dict[str, object] = {"dst": destination}
    if oif is not None:
        request["oif"] = oif
    try:
        with rtnetlink() as ipr:
            answer = ipr.route("get", **request)[0]
    except OSError as exc:
        if exc.errno in _NO_ROUTE:
            return None
        raise
    return Route(
        socket.if_indextoname(answer.get("RTA_OIF")),
        answer.get("RTA_GATEWAY"),
        answer.get("RTA_PREFSRC"),
    )


def first_default_gateway(ifname: str) -> str | None:
    """FreeBSD dumpon's rule: the first default route's gateway through `ifname`, or None.

    netifaces lists each interface's default gateways in routing-table order (a
    PF_ROUTE dump on FreeBSD), so the first match is the one FreeBSD picks.
    """
    import netifaces

    for entry in netifaces.gateways().get(netifaces.AF_INET, []):
        if isinstance(entry, tuple) and entry[1] == ifname:
            return entry[0]
    return None
