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


def _netifaces_gateways() -> dict[str | int, object]:
    import netifaces

    from dumpon.netinfo.names import all_utf8

    # with an interface name that is not UTF-8, netifaces.gateways() crashes (names.py)
    return dict(netifaces.gateways()) if all_utf8() else {}


def first_default_gateway(ifname: str) -> str | None:
    """FreeBSD dumpon's rule: the first default route's gateway through `ifname`, or None.

    netifaces lists each interface's default gateways in routing-table order (a
    PF_ROUTE dump on FreeBSD), so the first match is the one FreeBSD picks.
    """
    entries = _netifaces_gateways().get(socket.AF_INET, [])
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, tuple) and entry[1] == ifname:
            return str(entry[0])
    return None


def default_route() -> Route | None:
    """The system's default route as netifaces sees it, or None."""
    default = _netifaces_gateways().get("default", {})
    entry = default.get(socket.AF_INET) if isinstance(default, dict) else None
    return Route(entry[1], entry[0], None) if entry else None
