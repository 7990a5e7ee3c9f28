"""Which way the kernel sends a packet: route lookups (Linux, rtnetlink) and FreeBSD's rule."""

from __future__ import annotations

import errno

from dumpon.netinfo import rtnl
from dumpon.netinfo.rtnl import Route

__all__ = ["Route", "first_default_gateway", "route_to"]

# The kernel's answers to `route get` for a destination it will not send to: no route,
# an `unreachable` route, a `prohibit` route, a `blackhole` route.
_NO_ROUTE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EINVAL})


def route_to(destination: str, oif: int | None = None) -> Route | None:
    """The route the kernel would use (through `oif` if given); None when it has none.

    Given an `oif` without a matching route, Linux assumes the destination is on-link
    there, which is FreeBSD dumpon's fallback too.
    """
    try:
        return rtnl.route(destination, oif)
    except OSError as exc:
        if exc.errno in _NO_ROUTE:
            return None
        raise


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
