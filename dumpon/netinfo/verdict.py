"""Would FreeBSD netdump accept this interface? A prediction; the kernel's ENODEV decides."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dumpon.netinfo.drivers import Basis
from dumpon.netinfo.interfaces import Interface


class Support(StrEnum):
    SUPPORTED = "supported"
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Verdict:
    support: Support
    basis: Basis | None  # where a supported/unsupported answer comes from
    reason: str


def assess(iface: Interface) -> Verdict:
    """The netdump verdict for one interface, with the reason a user can act on."""
    # The kernel refuses both with ENODEV (DEBUGNET_SUPPORTED_NIC, sys/net/debugnet.h);
    # the type comes first because no driver can make a link that is not Ethernet usable.
    if not iface.link.ethernet:
        return Verdict(Support.UNSUPPORTED, None, f"not Ethernet ({iface.link.link_type})")
    entry = iface.freebsd
    if entry is None:
        if iface.link.driver is None:
            return Verdict(Support.UNKNOWN, None, "driver unknown")
        return Verdict(
            Support.UNKNOWN, None, f"driver {iface.link.driver!r} is not in the netdump table"
        )
    if entry.basis is Basis.NO_METHODS:
        return Verdict(Support.UNSUPPORTED, entry.basis, f"{entry.name}: no netdump methods")
    if entry.basis is Basis.DOCUMENTED:
        reason = f"{entry.name}: documented by FreeBSD"
    else:
        reason = f"{entry.name}: expected through iflib, not documented by FreeBSD"
    if entry.note:
        reason += f"; {entry.note}"
    return Verdict(Support.SUPPORTED, entry.basis, reason)
