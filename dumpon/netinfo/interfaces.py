"""The host's interfaces: netifaces for names and addresses, the platform for the rest."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass

import netifaces

from dumpon.errors import Exit, ToolError
from dumpon.netinfo import drivers
from dumpon.netinfo.link import LinkFacts
from dumpon.netinfo.names import is_utf8


@dataclass(frozen=True, slots=True)
class IPv4:
    """One IPv4 address of an interface, with its prefix length."""

    address: str
    prefixlen: int

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True, slots=True)
class Interface:
    """Everything the netdump tools want to know about one interface."""

    name: str
    index: int
    link: LinkFacts
    mac: str | None
    ipv4: tuple[IPv4, ...]
    freebsd: drivers.FreeBSDDriver | None  # the table entry for this driver, if any

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(entry.address for entry in self.ipv4)


def _prefixlen(netmask: str | None) -> int:
    if not netmask:
        return 32
    try:
        return bin(int.from_bytes(socket.inet_aton(netmask), "big")).count("1")
    except OSError:
        return 32


def _platform_facts(name: str, index: int) -> tuple[LinkFacts, drivers.FreeBSDDriver | None]:
    if sys.platform.startswith("linux"):
        from dumpon.netinfo import linux

        facts = linux.link_facts(name)
        return facts, drivers.for_linux(facts.driver, wireless=facts.wireless)
    if sys.platform.startswith("freebsd"):
        from dumpon.netinfo import freebsd

        facts = freebsd.link_facts(index)
        return facts, drivers.for_freebsd(facts.driver)
    raise ToolError(f"interface details are not available on {sys.platform}", Exit.UNAVAILABLE)


Families = dict[int, list[dict[str, str]]]  # netifaces' answer for one interface


def _build(name: str, index: int, families: Families) -> Interface:
    facts, freebsd = _platform_facts(name, index)
    links = families.get(netifaces.AF_LINK, [])
    return Interface(
        name=name,
        index=index,
        link=facts,
        mac=(links[0].get("addr") or None) if links else None,
        ipv4=tuple(
            IPv4(entry["addr"], _prefixlen(entry.get("netmask")))
            for entry in families.get(netifaces.AF_INET, [])
            if "addr" in entry
        ),
        freebsd=freebsd,
    )


def _families(name: str, index: int) -> Families:
    """netifaces' answer for one interface; {} when it is gone since the index lookup."""
    if not is_utf8(name):
        return _families_without_netifaces(name, index)
    try:
        return netifaces.ifaddresses(name)
    except ValueError:
        return {}


def _families_without_netifaces(name: str, index: int) -> Families:
    """The same answer for a name netifaces cannot take (see names.all_utf8).

    Linux: the MAC from sysfs, the addresses from rtnetlink by index. Elsewhere netifaces
    is the only source here, so the interface is listed without addresses.
    """
    if not sys.platform.startswith("linux"):
        return {}
    from dumpon.netinfo import linux

    mac = linux.mac_address(name)
    return {
        netifaces.AF_LINK: [{"addr": mac}] if mac else [],
        netifaces.AF_INET: [
            {"addr": address, "netmask": netmask} for address, netmask in linux.ipv4(index)
        ],
    }


def describe(name: str, index: int) -> Interface:
    """One interface, whose index the caller has already looked up."""
    return _build(name, index, _families(name, index))


def list_interfaces() -> list[Interface]:
    """Every interface of this network namespace (Linux) or vnet (FreeBSD), by index."""
    names = sorted(socket.if_nameindex())
    if all(is_utf8(name) for _index, name in names):
        addresses = netifaces.allifaddresses()  # one getifaddrs(3) for all
    else:
        addresses = {name: _families(name, index) for index, name in names}
    found = []
    for index, name in names:
        try:
            found.append(_build(name, index, addresses.get(name, {})))
        except OSError:  # removed while we looked
            continue
    return found
