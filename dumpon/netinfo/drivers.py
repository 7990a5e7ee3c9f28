"""FreeBSD's netdump driver table and the project's Linux-to-FreeBSD correspondence.

Sources: the drivers listed by FreeBSD's netdump(4); a driver has the methods when it calls
DEBUGNET_SET (sys/net/debugnet.h), which iflib (sys/net/iflib.c) does for every driver
built on it. The Linux names are the project's own correspondence between
drivers for the same hardware family, not a statement about Linux.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Basis(StrEnum):
    """Why the table believes what it says about a driver."""

    DOCUMENTED = "documented"  # listed by FreeBSD's netdump(4)
    IFLIB = "iflib"  # not listed, but iflib(4) gives every driver built on it the methods
    NO_METHODS = "no-methods"  # the driver registers no debugnet methods


@dataclass(frozen=True, slots=True)
class FreeBSDDriver:
    """One FreeBSD driver: its name, the name its interfaces report, and what is known."""

    name: str
    prefix: str  # what net.link.generic.ifdata.<i>.drivername gives, minus the unit
    basis: Basis
    linux: tuple[str, ...] = ()
    note: str = ""


TABLE: tuple[FreeBSDDriver, ...] = (
    FreeBSDDriver("alc", "alc", Basis.DOCUMENTED, ("atl1c", "alx")),
    FreeBSDDriver("bge", "bge", Basis.DOCUMENTED, ("tg3",)),
    FreeBSDDriver("bnxt", "bnxt", Basis.DOCUMENTED, ("bnxt_en",)),
    FreeBSDDriver("bxe", "bxe", Basis.DOCUMENTED, ("bnx2x",)),
    FreeBSDDriver("cxgb", "cxgb", Basis.DOCUMENTED, ("cxgb3",)),
    FreeBSDDriver("em", "em", Basis.DOCUMENTED, ("e1000", "e1000e")),
    FreeBSDDriver("igb", "igb", Basis.DOCUMENTED, ("igb",)),
    FreeBSDDriver("ix", "ix", Basis.DOCUMENTED, ("ixgbe",)),
    FreeBSDDriver("ixv", "ixv", Basis.IFLIB, ("ixgbevf",)),
    FreeBSDDriver("ixl", "ixl", Basis.DOCUMENTED, ("i40e",)),
    FreeBSDDriver("iavf", "iavf", Basis.IFLIB, ("iavf",)),
    # sysfs names the mlx4 core device's driver, ethtool the Ethernet half: accept both
    FreeBSDDriver("mlx4en", "mlxen", Basis.DOCUMENTED, ("mlx4_en", "mlx4_core")),
    FreeBSDDriver("mlx5en", "mce", Basis.DOCUMENTED, ("mlx5_core",)),
    FreeBSDDriver("re", "re", Basis.DOCUMENTED, ("r8169",)),
    FreeBSDDriver("vtnet", "vtnet", Basis.DOCUMENTED, ("virtio_net",)),
    FreeBSDDriver("igc", "igc", Basis.IFLIB, ("igc",)),
    FreeBSDDriver("aq", "aq", Basis.IFLIB, ("atlantic",)),
    FreeBSDDriver("axgbe", "ax", Basis.IFLIB, ("amd-xgbe",)),
    FreeBSDDriver("ice", "ice", Basis.IFLIB, ("ice",), "support not re-verified"),
    FreeBSDDriver("vmx", "vmx", Basis.IFLIB, ("vmxnet3",), "support not re-verified"),
    # No in-tree wireless driver was found to call DEBUGNET_SET.
    FreeBSDDriver("wlan", "wlan", Basis.NO_METHODS),
)

WIRELESS = next(driver for driver in TABLE if driver.name == "wlan")

_BY_LINUX = {linux: driver for driver in TABLE for linux in driver.linux}
_BY_PREFIX = {driver.prefix: driver for driver in TABLE}


def for_linux(driver: str | None, *, wireless: bool = False) -> FreeBSDDriver | None:
    """The FreeBSD driver for the same hardware as a Linux driver, if the table knows one."""
    if wireless:
        return WIRELESS
    return _BY_LINUX.get(driver) if driver else None


def for_freebsd(drivername: str | None) -> FreeBSDDriver | None:
    """The table entry for a FreeBSD drivername such as `em0` (the unit is ignored)."""
    if not drivername:
        return None
    return _BY_PREFIX.get(drivername.rstrip("0123456789"))
