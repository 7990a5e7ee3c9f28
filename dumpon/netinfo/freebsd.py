"""Link facts on FreeBSD, from the interface MIB sysctls (ifmib(4)).

Not runnable on the Linux development hosts: only the structure parsing is tested there.
The MIBs are numeric because `net.link.generic.ifdata` is a handler node: sysctlbyname(3)
cannot name the levels below it (the numbers: sys/sys/sysctl.h, sys/sys/socket.h,
sys/net/if_mib.h).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence

from dumpon.kernel.sysctl import Sysctl
from dumpon.netinfo.link import LinkFacts

CTL_NET = 4
PF_LINK = 18
NETLINK_GENERIC = 0
IFMIB_IFDATA = 2
IFDATA_GENERAL = 1
IFDATA_DRIVERNAME = 3

IFF_UP = 0x1
IFT_ETHER = 6
LINK_STATE_UNKNOWN = 0
LINK_STATE_UP = 2
_IFT_NAMES = {IFT_ETHER: "ether", 24: "loopback", 131: "tunnel", 135: "l2vlan", 209: "bridge"}


class IfData(ctypes.Structure):
    """The leading fields of `struct if_data` (net/if.h); the kernel's struct goes on."""

    _fields_ = (
        ("ifi_type", ctypes.c_uint8),
        ("ifi_physical", ctypes.c_uint8),
        ("ifi_addrlen", ctypes.c_uint8),
        ("ifi_hdrlen", ctypes.c_uint8),
        ("ifi_link_state", ctypes.c_uint8),
        ("ifi_vhid", ctypes.c_uint8),
        ("ifi_datalen", ctypes.c_uint16),
        ("ifi_mtu", ctypes.c_uint32),
        ("ifi_metric", ctypes.c_uint32),
        # a 64-bit member, so that ctypes aligns the struct as the platform's C compiler does
        ("ifi_baudrate", ctypes.c_uint64),
    )


class IfMibData(ctypes.Structure):
    """`struct ifmibdata` (net/if_mib.h) up to the part of if_data that is read."""

    _fields_ = (
        ("ifmd_name", ctypes.c_char * 16),
        ("ifmd_pcount", ctypes.c_int),
        ("ifmd_flags", ctypes.c_int),
        ("ifmd_snd_len", ctypes.c_int),
        ("ifmd_snd_maxlen", ctypes.c_int),
        ("ifmd_snd_drops", ctypes.c_int),
        ("ifmd_filler", ctypes.c_int * 4),
        ("ifmd_data", IfData),
    )


@functools.cache
def _sysctl() -> Sysctl:
    return Sysctl.from_libc()


def sysctl(mib: Sequence[int]) -> bytes:
    """The raw value of a numeric sysctl MIB (dumpon/kernel/sysctl.py reads it)."""
    return _sysctl().read_mib(list(mib))


def drivername(index: int) -> str | None:
    """The driver and unit the interface was created with (`em0`); renames do not change it."""
    try:
        raw = sysctl((CTL_NET, PF_LINK, NETLINK_GENERIC, IFMIB_IFDATA, index, IFDATA_DRIVERNAME))
    except OSError:
        return None
    return raw.split(b"\0", 1)[0].decode("ascii", "replace") or None


def parse_general(raw: bytes, driver: str | None) -> LinkFacts:
    """LinkFacts from an IFDATA_GENERAL answer."""
    mib = IfMibData.from_buffer_copy(raw[: ctypes.sizeof(IfMibData)])
    data = mib.ifmd_data
    link_state = data.ifi_link_state
    return LinkFacts(
        link_type=_IFT_NAMES.get(data.ifi_type, f"ift {data.ifi_type}"),
        ethernet=data.ifi_type == IFT_ETHER,
        wireless=(driver or "").rstrip("0123456789") == "wlan",
        up=bool(mib.ifmd_flags & IFF_UP),
        carrier=None if link_state == LINK_STATE_UNKNOWN else link_state == LINK_STATE_UP,
        mtu=int(data.ifi_mtu),
        driver=driver,
    )


def link_facts(index: int) -> LinkFacts:
    """The link's type, state, MTU and driver from the interface MIB."""
    raw = sysctl((CTL_NET, PF_LINK, NETLINK_GENERIC, IFMIB_IFDATA, index, IFDATA_GENERAL))
    return parse_general(raw, drivername(index))
