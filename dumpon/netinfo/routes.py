"""Which way the kernel sends a packet: route lookups (Linux, pyroute2) and FreeBSD's rule."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

# The kernel's answers to `route get` for a destination it will not send to: no route,
# an `unreachable` route, a `prohibit` route, a `blackhole` route.
_NO_ROUTE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EINVAL})


@dataclass(frozen=True)
class Route:
    """The kernel's answer for one destination."""

    oif: int
    gateway: str | None  # None: the destination is on-link, it is its own next hop
    prefsrc: str | None  # the source address the kernel would choose


def route_to(destination: str, oif: int | None = None) -> Route | None:
    """The route the kernel would use (through `oif` if given); None when it has none.

    Given an `oif` without a matching route, Linux assumes the destination is on-link
    there, which is FreeBSD dumpon's fallback too.
    """
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    query: dict[str, Any] = {"dst": destination}
    if oif is not None:
        query["oif"] = oif
    try:
        with IPRoute() as ipr:
            answer = ipr.route("get", **query)[0]
    except NetlinkError as exc:
        if exc.code in _NO_ROUTE:
            return None
        raise OSError(exc.code, os.strerror(exc.code)) from None
    return Route(
        oif=int(answer.get("RTA_OIF")),
        gateway=answer.get("RTA_GATEWAY"),
        prefsrc=answer.get("RTA_PREFSRC"),
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
