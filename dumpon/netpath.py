"""How a dump will reach the server: the gateway dumpon derives and the checks it warns about."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass, field

from dumpon.errors import Exit, ToolError


@dataclass
class Preflight:
    """Warnings to print after a successful netdump configuration, and facts to record."""

    warnings: list[str] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)


def interface_index(iface: str) -> int:
    """The interface's index; dumpon(8)'s own (and only) userland existence check."""
    try:
        return socket.if_nametoindex(iface)
    except OSError:
        raise ToolError(f"couldn't find interface index for '{iface}'", Exit.FAILURE) from None


def _linux_default_gateway(ifindex: int) -> str | None:
    """FreeBSD's rule on Linux: the first main-table default route with a gateway via ifindex."""
    ifname = socket.if_indextoname(ifindex)
    with open("/proc/net/route", encoding="ascii") as table:
        next(table)
        for line in table:
            name, dest, gateway, flags, *_rest, mask = line.split()[:8]
            rtf_gateway = 0x2
            if (
                name == ifname
                and int(flags, 16) & rtf_gateway
                and int(dest, 16) == 0
                and int(mask, 16) == 0
            ):
                return socket.inet_ntoa(int(gateway, 16).to_bytes(4, "little"))
    return None


def _portable_default_gateway(ifname: str) -> str | None:
    import netifaces

    default = netifaces.gateways().get("default", {})
    entry = default.get(netifaces.AF_INET) if isinstance(default, dict) else None
    if entry and entry[1] == ifname:
        return str(entry[0])
    return None


def find_gateway(iface: str, server: str) -> str | None:
    """The gateway dumpon uses when -g is absent, or None: then the server is on-link."""
    ifindex = interface_index(iface)
    try:
        if sys.platform.startswith("linux"):
            return _linux_default_gateway(ifindex)
        return _portable_default_gateway(iface)
    except OSError as exc:
        raise ToolError(f"sysctl(NET_RT_DUMP): {exc.strerror}", Exit.OSERR) from None


def preflight(iface: str, server: str, client: str, gateway: str) -> Preflight:
    """Checks dumpon runs once the kernel has accepted a netdump configuration."""
    result = Preflight()
    if not _is_up(iface):
        result.warnings.append(f"warning: {iface}'s link is down")
    return result


def _is_up(iface: str) -> bool:
    """The administrative IFF_UP flag (not the carrier), as FreeBSD's check_link_status reads."""
    import fcntl
    import struct

    siocgifflags = 0x8913
    iff_up = 0x1
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            raw = fcntl.ioctl(sock, siocgifflags, struct.pack("16sH14x", iface.encode()[:15], 0))
    except OSError:
        return True  # vanished or unreadable: the kernel already accepted it, say nothing
    return bool(struct.unpack_from("16sH", raw)[1] & iff_up)
