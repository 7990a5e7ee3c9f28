"""Link facts on Linux, from sysfs and the ethtool ioctl.

Under `ip netns exec`, /sys is remounted for the namespace, so these reads describe the
namespace the process runs in.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
from pathlib import Path

from dumpon.netinfo.link import LinkFacts

SYS_CLASS_NET = Path("/sys/class/net")

ARPHRD_ETHER = 1
_ARPHRD_NAMES = {
    ARPHRD_ETHER: "ether",
    512: "ppp",
    768: "ipip",
    769: "tunnel6",
    776: "sit",
    778: "gre",
    772: "loopback",
    823: "ip6gre",
    65534: "none",
}

IFF_UP = 0x1

SIOCETHTOOL = 0x8946
ETHTOOL_GDRVINFO = 3
_DRVINFO_SIZE = 196  # struct ethtool_drvinfo
_DRVINFO_DRIVER = slice(4, 36)


def _read(name: str, attribute: str) -> str | None:
    try:
        return (SYS_CLASS_NET / name / attribute).read_text(encoding="ascii").strip()
    except OSError:  # carrier reads fail with EINVAL while the link is down
        return None


def _int(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None


def link_facts(name: str) -> LinkFacts:
    """The link's type, state, MTU and driver, as this namespace's sysfs shows them."""
    arphrd = _int(_read(name, "type"))
    flags = _int(_read(name, "flags"), 16) or 0
    carrier = _read(name, "carrier")
    base = SYS_CLASS_NET / name
    return LinkFacts(
        link_type=_ARPHRD_NAMES.get(arphrd, f"arphrd {arphrd}")
        if arphrd is not None
        else "unknown",
        ethernet=arphrd == ARPHRD_ETHER,
        wireless=(base / "wireless").exists() or (base / "phy80211").exists(),
        up=bool(flags & IFF_UP),
        carrier=None if carrier is None else carrier == "1",
        mtu=_int(_read(name, "mtu")),
        driver=driver_name(name),
    )


def driver_name(name: str) -> str | None:
    """The driver behind an interface: the sysfs device link, else ethtool's answer."""
    try:
        return os.path.basename(os.readlink(SYS_CLASS_NET / name / "device" / "driver"))
    except OSError:  # virtual links (veth, bridge, lo) have no bus device
        return ethtool_driver(name)


def ethtool_driver(name: str) -> str | None:
    """ETHTOOL_GDRVINFO's driver field; None where the link has no ethtool support (lo)."""
    info = ctypes.create_string_buffer(struct.pack("I", ETHTOOL_GDRVINFO), _DRVINFO_SIZE)
    # struct ifreq: the name in 16 bytes, then ifr_data pointing at the drvinfo buffer
    request = struct.pack("16sP", os.fsencode(name)[:15], ctypes.addressof(info)).ljust(40, b"\0")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            fcntl.ioctl(sock, SIOCETHTOOL, request)
    except OSError:
        return None
    driver = info.raw[_DRVINFO_DRIVER].split(b"\0", 1)[0].decode("ascii", "replace")
    return driver or None


def mac_address(name: str) -> str | None:
    """The link-layer address sysfs shows, as netifaces would give it."""
    return _read(name, "address") or None


def ipv4(index: int) -> list[tuple[str, str]]:
    """The interface's IPv4 addresses and netmasks, asked of rtnetlink by index."""
    from dumpon.netinfo.rtnetlink import rtnetlink

    with rtnetlink() as ipr:
        found = ipr.get_addr(family=socket.AF_INET, index=index)
    return [
        (
            entry.get("IFA_LOCAL") or entry.get("IFA_ADDRESS"),
            socket.inet_ntoa((0xFFFFFFFF << (32 - entry["prefixlen"]) & 0xFFFFFFFF).to_bytes(4)),
        )
        for entry in found
    ]
