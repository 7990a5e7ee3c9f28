"""How a dump will reach the server: the gateway dumpon derives and the checks it warns about.

Gateway choice. FreeBSD dumpon(8) takes the first default route through the interface,
even when a more specific route sends the server to another next hop (sbin/dumpon/dumpon.c,
find_gateway). Here the route toward the server through the interface is used instead:
on Linux the kernel's own answer (`route get ... oif`), on FreeBSD the longest matching
prefix of the routing table. With no route through the interface the server is taken to
be on-link, which is FreeBSD's fallback too. Where the table cannot be read, and on other
systems, FreeBSD's rule is kept.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass, field

from dumpon.errors import Exit, ToolError, os_error_text
from dumpon.netinfo import routes
from dumpon.netinfo.interfaces import Interface, describe
from dumpon.netinfo.names import printable
from dumpon.netinfo.neighbours import RESOLVE_TIMEOUT, Neighbour
from dumpon.netinfo.verdict import Support, assess

IP_UDP_HEADERS = 20 + 8
NETDUMP_HEADER = 24
NETDUMP_DATASIZE = 4096
# Above this MTU a 13+ kernel sends payloads larger than the stock netdumpd accepts.
STOCK_SERVER_MTU = IP_UDP_HEADERS + NETDUMP_HEADER + NETDUMP_DATASIZE


@dataclass(slots=True)
class Preflight:
    """Warnings to print after a successful netdump configuration, and facts to record."""

    warnings: list[str] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class PathCheck:
    """Everything known about the path to the server through one interface."""

    iface: Interface
    server: str
    client: str
    gateway: str  # the next hop: the server itself when it is on-link
    gateway_source: str  # "option", "route" or "on-link"
    gateway_mac: Neighbour | None
    warnings: list[str]

    @property
    def payload_13(self) -> int | None:
        """Bytes of dump per packet from a FreeBSD 13+ kernel: the MTU less the headers."""
        mtu = self.iface.link.mtu
        return None if mtu is None else max(mtu - IP_UDP_HEADERS - NETDUMP_HEADER, 0)

    @property
    def payload_12(self) -> int | None:
        """The same for 12.x, which also caps it at NETDUMP_DATASIZE."""
        payload = self.payload_13
        return None if payload is None else min(payload, NETDUMP_DATASIZE)


LINUX, FREEBSD = "linux", "freebsd"


def _system() -> str:
    """Where routes and neighbours come from: Linux's rtnetlink, FreeBSD's tables, or
    (elsewhere) only FreeBSD dumpon's rule."""
    for system in (LINUX, FREEBSD):
        if sys.platform.startswith(system):
            return system
    return sys.platform


def interface_index(iface: str) -> int:
    """The interface's index; dumpon(8)'s own (and only) userland existence check."""
    try:
        return socket.if_nametoindex(iface)
    except (OSError, ValueError):  # ValueError: a NUL in the name
        raise ToolError(
            f"couldn't find interface index for '{printable(iface)}'", Exit.FAILURE
        ) from None


def _freebsd_rule(iface: str | None) -> routes.Route | None:
    """FreeBSD dumpon's rule (through netifaces: a PF_ROUTE dump on FreeBSD)."""
    if iface is None:
        return routes.default_route()
    return routes.Route(iface, routes.first_default_gateway(iface), None)


def _route(server: str, iface: str | None) -> routes.Route | None:
    """The route to `server` (through `iface` if given); OSError when the lookup fails."""
    oif = None if iface is None else interface_index(iface)
    system = _system()
    if system == LINUX:
        return routes.route_to(server, oif)
    if system == FREEBSD:
        from dumpon.netinfo import routetable

        try:
            return routetable.route_to(server, iface)
        except OSError:
            pass  # the table could not be read: FreeBSD's own rule still can
    return _freebsd_rule(iface)


def _route_error(exc: OSError) -> ToolError:
    where = "RTM_GETROUTE" if _system() == LINUX else "sysctl(NET_RT_DUMP)"
    return ToolError(f"{where}: {os_error_text(exc)}", Exit.OSERR)


def find_gateway(iface: str, server: str) -> str | None:
    """The gateway dumpon uses when -g is absent, or None: then the server is on-link.

    A missing interface is dumpon's `couldn't find interface index` (exit 1). No route
    at all gives None: like FreeBSD, the caller then sends to the server directly.
    """
    try:
        route = _route(server, iface)
    except OSError as exc:
        raise _route_error(exc) from None
    return route.gateway if route is not None else None


def _any_route(server: str) -> routes.Route | None:
    """The route the kernel takes to `server` through whichever interface."""
    if _system() == LINUX:
        return routes.route_to(server)
    from dumpon.netinfo import routetable

    return routetable.route_to(server)


def _route_warnings(iface: Interface, server: str) -> list[str]:
    if _system() not in (LINUX, FREEBSD):
        return []
    try:
        route = _any_route(server)
    except OSError as exc:
        return [f"warning: route lookup for {server} failed: {os_error_text(exc)}"]
    if route is None:
        return [f"warning: the kernel has no route to {server}"]
    if route.ifname != iface.name:
        return [
            f"warning: the kernel routes {server} through {printable(route.ifname)},"
            f" not {printable(iface.name)}"
        ]
    return []


def _lookup_mac(iface: Interface, nexthop: str, timeout: float) -> Neighbour | None:
    if _system() == LINUX:
        from dumpon.netinfo import neighbours

        return neighbours.resolve(nexthop, iface.index, timeout)
    from dumpon.netinfo import routetable

    return routetable.resolve(nexthop, iface.name, timeout)


def _resolve(iface: Interface, nexthop: str, timeout: float) -> tuple[Neighbour | None, list[str]]:
    # A down interface sends no ARP; its own warning already says why there is no MAC.
    if _system() not in (LINUX, FREEBSD) or not iface.link.up:
        return None, []
    name = printable(iface.name)
    try:
        found = _lookup_mac(iface, nexthop, timeout)
    except OSError as exc:
        return None, [f"warning: couldn't resolve {nexthop} on {name}: {os_error_text(exc)}"]
    if found is None:
        return None, [f"warning: no ARP reply from {nexthop} on {name}"]
    return found, []


def _check(
    info: Interface,
    server: str,
    client: str,
    gateway: str,
    gateway_source: str,
    resolve_timeout: float,
) -> PathCheck:
    """Look at the path a dump would take and collect what could make it fail."""
    iface = printable(info.name)
    warnings = []
    verdict = assess(info)
    if verdict.support is not Support.SUPPORTED:
        warnings.append(
            f"warning: {iface}'s driver is not known to support netdump: {verdict.reason}"
        )
    if not info.link.up:
        warnings.append(f"warning: {iface}'s link is down")
    elif info.link.carrier is False:
        warnings.append(f"warning: {iface} has no carrier")
    if client not in info.addresses:
        warnings.append(f"warning: client address {client} is not configured on {iface}")
    warnings += _route_warnings(info, server)
    mtu = info.link.mtu
    if mtu is not None and mtu > STOCK_SERVER_MTU:
        warnings.append(
            f"warning: {iface}'s MTU {mtu} is above {STOCK_SERVER_MTU}: FreeBSD 13+ kernels"
            f" send {mtu - IP_UDP_HEADERS - NETDUMP_HEADER}-byte payloads, which the stock"
            f" netdumpd drops (at most {NETDUMP_DATASIZE})"
        )
    mac, arp_warnings = _resolve(info, gateway, resolve_timeout)
    return PathCheck(info, server, client, gateway, gateway_source, mac, warnings + arp_warnings)


def preflight(
    iface: str,
    server: str,
    client: str,
    gateway: str,
    *,
    resolve_timeout: float = RESOLVE_TIMEOUT,
) -> Preflight:
    """Checks dumpon runs once the kernel has accepted a netdump configuration.

    Resolving the gateway's MAC may send ARP requests and wait up to `resolve_timeout`
    seconds when nobody answers.
    """
    info = describe(iface, interface_index(iface))
    check = _check(info, server, client, gateway, "option", resolve_timeout)
    facts: dict[str, object] = {}
    if check.gateway_mac is not None:
        facts = {
            "gateway_mac": check.gateway_mac.mac,
            "gateway_mac_seen": check.gateway_mac.seen.isoformat(timespec="seconds"),
        }
    return Preflight(check.warnings, facts)


def plan_route(
    server: str,
    iface: str | None = None,
    client: str | None = None,
    gateway: str | None = None,
    *,
    resolve_timeout: float = RESOLVE_TIMEOUT,
) -> PathCheck:
    """The path `netdump route` reports: what it is not given, it takes from the routes."""
    try:
        route = _route(server, iface)
    except OSError as exc:
        raise _route_error(exc) from None
    if iface is None:
        if route is None:
            raise ToolError(f"no route to {server}", Exit.NOHOST)
        iface = route.ifname
    info = describe(iface, interface_index(iface))
    verdict = assess(info)
    if verdict.support is Support.UNSUPPORTED:
        raise ToolError(
            f"{printable(iface)}: netdump unsupported: {verdict.reason}", Exit.UNAVAILABLE
        )
    if client is None:
        client = _client_address(info, route)
    source = "option"
    if gateway is None:
        gateway, source = (
            (route.gateway, "route") if route and route.gateway else (server, "on-link")
        )
    return _check(info, server, client, gateway, source, resolve_timeout)


def _client_address(info: Interface, route: routes.Route | None) -> str:
    """The kernel's preferred source address if it is the interface's, else its first one."""
    if route is not None and route.prefsrc is not None and route.prefsrc in info.addresses:
        return route.prefsrc
    if info.addresses:
        return info.addresses[0]
    raise ToolError(
        f"{printable(info.name)} has no IPv4 address; give the client address with -c", Exit.USAGE
    )
