"""FreeBSD routes and ARP entries from recorded FreeBSD 13 and 14 command output.

dumpon reads `netstat -rnW` and `arp -an` with the runner and parsers of pyroute2's BSD
`IPRoute` (pyroute2/bsd/util.py). Here those commands are scripts that print output
written in the layout of FreeBSD 13.2 and 14.1 (tests/freebsd_tables/), placed first on
PATH, so pyroute2's own runner and parsers read them as they would on FreeBSD.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from dumpon.netinfo import path as netpath
from dumpon.netinfo import routes, routetable
from dumpon.netinfo.drivers import for_freebsd
from dumpon.netinfo.interfaces import Interface, IPv4
from dumpon.netinfo.link import LinkFacts

TABLES = Path(__file__).parent / "freebsd_tables"
CAT, GREP, WC = (shutil.which(tool) or tool for tool in ("cat", "grep", "wc"))
COMMANDS = {"netstat": "netstat-rnW.txt", "arp": "arp-an.txt"}


def _script(directory: Path, command: str, text: str) -> None:
    """A shell script; PATH holds only its directory, so it names its tools in full."""
    script = directory / command
    script.write_text(f"#!/bin/sh\n{text}\n")
    script.chmod(0o755)


@pytest.fixture
def freebsd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A PATH directory whose netstat and arp print FreeBSD 14's recorded output;
    tests swap a script for another release's or another state's output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command, recorded in COMMANDS.items():
        _script(bin_dir, command, f"exec {CAT} {shlex.quote(str(TABLES / '14' / recorded))}")
    monkeypatch.setenv("PATH", str(bin_dir))  # not this host's own netstat or arp
    return bin_dir


def use_release(bin_dir: Path, release: str) -> None:
    for command, recorded in COMMANDS.items():
        _script(bin_dir, command, f"exec {CAT} {shlex.quote(str(TABLES / release / recorded))}")


def test_routing_table_as_pyroute2_reads_freebsd_14(freebsd: Path) -> None:
    table = routetable.read_routes()
    assert [(str(IPv4(_dotted(r.network), r.prefixlen)), r.gateway, r.ifname) for r in table] == [
        ("0.0.0.0/0", "10.20.0.1", "em0"),
        ("10.0.0.0/8", "172.16.5.1", "igb0"),
        ("10.20.0.0/16", None, "em0"),
        ("10.20.0.15/32", None, "lo0"),
        ("10.20.7.0/24", "10.20.0.254", "em0"),
        ("10.21.0.0/24", None, "em0"),
        ("10.21.0.15/32", None, "lo0"),
        ("10.40.0.0/24", None, "igb0.1234"),
        ("10.40.0.2/32", None, "lo0"),
        ("10.41.0.0/16", "10.40.0.1", "igb0.1234"),
        ("127.0.0.1/32", None, "lo0"),
        ("172.16.5.0/30", None, "igb0"),
        ("172.16.5.2/32", None, "lo0"),
    ]  # no IPv6 line: pyroute2 stops at "Internet6:"


def _dotted(address: int) -> str:
    return ".".join(str(address >> shift & 0xFF) for shift in (24, 16, 8, 0))


@pytest.mark.parametrize(
    ("server", "iface", "expected"),
    [
        # a more specific route beats the default route (FreeBSD's rule: 10.20.0.1)
        ("10.20.7.9", "em0", routes.Route("em0", "10.20.0.254", None)),
        ("10.20.3.3", "em0", routes.Route("em0", None, None)),  # on-link
        ("10.99.0.1", "em0", routes.Route("em0", "10.20.0.1", None)),  # only the default
        ("10.99.0.1", "igb0", routes.Route("igb0", "172.16.5.1", None)),
        ("203.0.113.5", "igb0", None),  # nothing through igb0: the caller assumes on-link
        ("203.0.113.5", "igb1", None),  # a down interface without routes
        # through any interface, as the kernel would send it
        ("10.99.0.1", None, routes.Route("igb0", "172.16.5.1", None)),
        ("203.0.113.5", None, routes.Route("em0", "10.20.0.1", None)),
        ("10.20.0.15", None, routes.Route("lo0", None, None)),  # our own address
        # a name longer than the 8 characters plain `netstat -rn` would show
        ("10.41.3.4", "igb0.1234", routes.Route("igb0.1234", "10.40.0.1", None)),
        ("10.41.3.4", None, routes.Route("igb0.1234", "10.40.0.1", None)),
    ],
)
def test_longest_prefix_through_the_interface(
    freebsd: Path, server: str, iface: str | None, expected: routes.Route | None
) -> None:
    assert routetable.route_to(server, iface) == expected


def test_freebsd_13_layout(freebsd: Path) -> None:
    use_release(freebsd, "13")
    assert routetable.route_to("203.0.113.7", "vtnet1") == routes.Route(
        "vtnet1", "198.51.100.1", None
    )
    assert routetable.route_to("203.0.113.7", "vtnet0") == routes.Route("vtnet0", "192.0.2.1", None)
    assert routetable.route_to("192.0.2.77", "vtnet0") == routes.Route("vtnet0", None, None)
    assert routetable.arp_mac("192.0.2.1", "vtnet0") == "00:00:5e:00:01:01"
    assert routetable.arp_mac("198.51.100.1", "vtnet1") is None  # (incomplete)


def test_arp_table(freebsd: Path) -> None:
    assert routetable.arp_mac("10.20.0.1", "em0") == "00:1b:21:0a:0b:0c"
    assert routetable.arp_mac("172.16.5.1", "igb0") == "58:ac:78:01:02:03"
    assert routetable.arp_mac("172.16.5.1", "em0") is None  # on another interface
    assert routetable.arp_mac("10.20.0.254", "em0") is None  # (incomplete)
    assert routetable.arp_mac("10.40.0.1", "igb0.1234") == "00:1b:21:0a:40:01"


def test_missing_entry_is_asked_for_then_read_again(
    freebsd: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # arp -an shows the entry from its second run on, as after the kernel's ARP exchange
    answered = tmp_path / "answered"
    answered.write_text(
        (TABLES / "14" / "arp-an.txt").read_text()
        + "? (10.20.0.9) at 02:00:00:00:00:09 on em0 expires in 1200 seconds [ethernet]\n"
    )
    runs = tmp_path / "runs"
    before, after = (shlex.quote(str(p)) for p in (TABLES / "14" / "arp-an.txt", answered))
    _script(
        freebsd,
        "arp",
        f"echo >> {shlex.quote(str(runs))}\n"
        f'if [ "$({WC} -l < {shlex.quote(str(runs))})" -gt 1 ]; then exec {CAT} {after}; fi\n'
        f"exec {CAT} {before}",
    )
    asked: list[str] = []
    monkeypatch.setattr(routetable, "ask_kernel_to_arp", asked.append)
    found = routetable.resolve("10.20.0.9", "em0", timeout=2)
    assert found is not None and found.mac == "02:00:00:00:00:09"
    assert asked == ["10.20.0.9"]


def test_unanswered_is_none_within_the_timeout(
    freebsd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(routetable, "ask_kernel_to_arp", asked.append)
    assert routetable.resolve("10.20.0.254", "em0", timeout=0.3) is None
    assert asked == ["10.20.0.254"]


def test_a_command_that_cannot_run_is_oserror(freebsd: Path) -> None:
    (freebsd / "netstat").unlink()
    with pytest.raises(OSError, match="cannot run netstat -rnW"):
        routetable.read_routes()


def test_unparsable_output_is_oserror(freebsd: Path) -> None:
    _script(
        freebsd,
        "netstat",
        "printf 'Internet:\\nDestination Gateway Flags Netif\\n10.1.2.0/xx 10.1.1.1 UGS em0\\n'",
    )
    with pytest.raises(OSError, match="unreadable"):
        routetable.read_routes()


# What dumpon and `netdump route` do with these tables: the same choices and warnings as
# on Linux. The interface itself is described as FreeBSD's ifmib(4) would.


@pytest.fixture
def on_freebsd(freebsd: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(netpath, "_system", lambda: netpath.FREEBSD)
    monkeypatch.setattr(routetable, "ask_kernel_to_arp", lambda address: None)
    names = {"em0": 1, "igb0": 2, "igb1": 3, "lo0": 4}
    monkeypatch.setattr(netpath, "interface_index", names.__getitem__)
    return freebsd


def _em0(up: bool = True) -> Interface:
    facts = LinkFacts("ether", True, False, up, up, 1500, "em0")
    addresses = (IPv4("10.20.0.15", 16), IPv4("10.21.0.15", 24))
    return Interface("em0", 1, facts, "3c:ec:ef:12:34:56", addresses, for_freebsd("em0"))


def _check(server: str, gateway: str, iface: Interface | None = None) -> netpath.PathCheck:
    return netpath._check(iface or _em0(), server, "10.20.0.15", gateway, "option", 0.3)


def test_gateway_by_longest_prefix(on_freebsd: Path) -> None:
    assert netpath.find_gateway("em0", "10.20.7.9") == "10.20.0.254"
    assert netpath.find_gateway("em0", "10.20.3.3") is None


def test_unreadable_table_falls_back_to_freebsds_rule(
    on_freebsd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (on_freebsd / "netstat").unlink()
    monkeypatch.setattr(
        netpath, "_freebsd_rule", lambda iface: routes.Route("em0", "10.20.0.1", None)
    )
    assert netpath.find_gateway("em0", "10.20.7.9") == "10.20.0.1"


def test_clean_path_takes_the_mac_from_the_arp_table(on_freebsd: Path) -> None:
    check = _check("10.20.7.9", "10.20.0.1")
    assert check.warnings == []
    assert check.gateway_mac is not None and check.gateway_mac.mac == "00:1b:21:0a:0b:0c"


def test_same_warnings_as_on_linux(on_freebsd: Path) -> None:
    check = _check("10.99.0.1", "10.20.0.254")
    assert check.warnings == [
        "warning: the kernel routes 10.99.0.1 through igb0, not em0",
        "warning: no ARP reply from 10.20.0.254 on em0",
    ]
    assert check.gateway_mac is None


def test_down_interface_sends_no_arp(on_freebsd: Path) -> None:
    check = _check("10.20.7.9", "10.20.0.254", _em0(up=False))
    assert check.warnings == ["warning: em0's link is down"]


def test_no_route_at_all(on_freebsd: Path) -> None:
    _script(
        on_freebsd,
        "netstat",
        f"exec {GREP} -v default {shlex.quote(str(TABLES / '14' / 'netstat-rnW.txt'))}",
    )
    assert _check("203.0.113.5", "10.20.0.1").warnings == [
        "warning: the kernel has no route to 203.0.113.5"
    ]
