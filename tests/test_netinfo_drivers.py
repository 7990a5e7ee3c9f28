"""The driver table, the verdicts and the FreeBSD MIB parsing: no root, no network."""

from __future__ import annotations

import ctypes

import pytest

from dumpon.netinfo import drivers, freebsd, linux
from dumpon.netinfo.drivers import Basis
from dumpon.netinfo.interfaces import Interface, IPv4
from dumpon.netinfo.link import LinkFacts
from dumpon.netinfo.path import STOCK_SERVER_MTU, PathCheck
from dumpon.netinfo.verdict import Support, assess

NETDUMP_4 = {"alc", "bge", "bnxt", "bxe", "cxgb", "em", "igb", "ix", "ixl", "mlx4en", "mlx5en",
             "re", "vtnet"}  # fmt: skip


def test_documented_drivers_are_exactly_netdump_4s_list() -> None:
    documented = {d.name for d in drivers.TABLE if d.basis is Basis.DOCUMENTED}
    assert documented == NETDUMP_4


def test_names_are_unambiguous() -> None:
    prefixes = [d.prefix for d in drivers.TABLE]
    linux_names = [name for d in drivers.TABLE for name in d.linux]
    assert len(prefixes) == len(set(prefixes))
    assert len(linux_names) == len(set(linux_names))


@pytest.mark.parametrize(
    ("linux_driver", "freebsd_driver", "basis"),
    [
        ("virtio_net", "vtnet", Basis.DOCUMENTED),
        ("e1000", "em", Basis.DOCUMENTED),
        ("e1000e", "em", Basis.DOCUMENTED),
        ("ixgbe", "ix", Basis.DOCUMENTED),
        ("mlx4_en", "mlx4en", Basis.DOCUMENTED),
        ("mlx4_core", "mlx4en", Basis.DOCUMENTED),
        ("igc", "igc", Basis.IFLIB),
        ("ixgbevf", "ixv", Basis.IFLIB),
        ("amd-xgbe", "axgbe", Basis.IFLIB),
    ],
)
def test_linux_correspondence(linux_driver: str, freebsd_driver: str, basis: Basis) -> None:
    entry = drivers.for_linux(linux_driver)
    assert entry is not None
    assert (entry.name, entry.basis) == (freebsd_driver, basis)


def test_unknown_and_wireless_linux_drivers() -> None:
    assert drivers.for_linux("veth") is None
    assert drivers.for_linux(None) is None
    assert drivers.for_linux("iwlwifi", wireless=True) is drivers.WIRELESS


@pytest.mark.parametrize(
    ("drivername", "freebsd_driver"),
    [("em0", "em"), ("em12", "em"), ("mce3", "mlx5en"), ("mlxen0", "mlx4en"), ("ax1", "axgbe"),
     ("vtnet", "vtnet"), ("wlan0", "wlan")],
)  # fmt: skip
def test_freebsd_drivername_lookup(drivername: str, freebsd_driver: str) -> None:
    entry = drivers.for_freebsd(drivername)
    assert entry is not None and entry.name == freebsd_driver


def test_freebsd_unknown_drivername() -> None:
    assert drivers.for_freebsd("epair0") is None
    assert drivers.for_freebsd(None) is None


def _iface(
    driver: str | None, *, ethernet: bool = True, link_type: str = "ether", wireless: bool = False
) -> Interface:
    facts = LinkFacts(link_type, ethernet, wireless, True, True, 1500, driver)
    return Interface(
        "x0", 2, facts, None, (IPv4("10.0.0.2", 24),), drivers.for_linux(driver, wireless=wireless)
    )


def test_verdict_not_ethernet_comes_first() -> None:
    verdict = assess(_iface("virtio_net", ethernet=False, link_type="loopback"))
    assert verdict.support is Support.UNSUPPORTED
    assert verdict.reason == "not Ethernet (loopback)"


def test_verdict_documented() -> None:
    verdict = assess(_iface("virtio_net"))
    assert (verdict.support, verdict.basis) == (Support.SUPPORTED, Basis.DOCUMENTED)
    assert verdict.reason == "vtnet: documented by FreeBSD"


def test_verdict_iflib_is_told_apart() -> None:
    verdict = assess(_iface("igc"))
    assert (verdict.support, verdict.basis) == (Support.SUPPORTED, Basis.IFLIB)
    assert "expected through iflib" in verdict.reason
    assert "not re-verified" in assess(_iface("vmxnet3")).reason


def test_verdict_without_netdump_methods() -> None:
    verdict = assess(_iface("iwlwifi", wireless=True))
    assert (verdict.support, verdict.basis) == (Support.UNSUPPORTED, Basis.NO_METHODS)
    assert verdict.reason == "wlan: no netdump methods"


def test_verdict_unknown_driver() -> None:
    assert assess(_iface("veth")).support is Support.UNKNOWN
    assert "'veth'" in assess(_iface("veth")).reason
    assert assess(_iface(None)).reason == "driver unknown"


def _ifmibdata(flags: int, ift: int, link_state: int, mtu: int) -> bytes:
    mib = freebsd.IfMibData()
    mib.ifmd_name = b"em0"
    mib.ifmd_flags = flags
    mib.ifmd_data.ifi_type = ift
    mib.ifmd_data.ifi_link_state = link_state
    mib.ifmd_data.ifi_mtu = mtu
    return bytes(mib) + bytes(64)  # the kernel's if_data goes on past what is parsed


def test_freebsd_ifmibdata_layout() -> None:
    # struct ifmibdata: 16-byte name, 9 ints, then if_data aligned for its uint64 members
    assert freebsd.IfMibData.ifmd_flags.offset == 20
    assert freebsd.IfMibData.ifmd_data.offset == (
        56 if ctypes.alignment(ctypes.c_uint64) == 8 else 52
    )
    assert freebsd.IfData.ifi_mtu.offset == 8


def test_freebsd_general_parsing() -> None:
    facts = freebsd.parse_general(_ifmibdata(0x8843, freebsd.IFT_ETHER, 2, 9000), "em0")
    assert facts == LinkFacts("ether", True, False, True, True, 9000, "em0")
    down = freebsd.parse_general(_ifmibdata(0x8802, 24, 0, 16384), "lo0")
    assert (down.link_type, down.ethernet, down.up, down.carrier) == (
        "loopback",
        False,
        False,
        None,
    )
    assert freebsd.parse_general(_ifmibdata(0x1, 6, 1, 1500), "wlan0").wireless


def test_ethtool_has_no_answer_for_loopback() -> None:
    assert linux.ethtool_driver("lo") is None


@pytest.mark.parametrize(("mtu", "v13", "v12"), [(1500, 1448, 1448), (4148, 4096, 4096),
                                                 (9000, 8948, 4096)])  # fmt: skip
def test_payload_per_packet(mtu: int, v13: int, v12: int) -> None:
    iface = _iface("virtio_net")
    check = PathCheck(
        Interface(iface.name, iface.index, LinkFacts("ether", True, False, True, True, mtu, None),
                  None, (), None),
        "10.0.0.1", "10.0.0.2", "10.0.0.1", "on-link", None, [],
    )  # fmt: skip
    assert (check.payload_13, check.payload_12) == (v13, v12)
    assert STOCK_SERVER_MTU == 4148
