"""`netdump interfaces`: the console script inside a throw-away namespace, and its schema."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from netns_topology import (
    PYTHON,
    Topology,
    add_undecodable_link,
    ip,
    requires_netns,
    three_namespaces,
)

KEYS = {
    "name", "index", "driver", "freebsd_driver", "link_type", "ethernet", "up", "carrier",
    "mtu", "mac", "ipv4", "netdump", "netdump_basis", "netdump_reason",
}  # fmt: skip


@pytest.fixture
def topo() -> Iterator[Topology]:
    with three_namespaces() as topology:
        yield topology


def listing(topo: Topology, *args: str) -> dict[str, dict[str, object]]:
    done = topo.netdump(topo.client, "interfaces", "--json", *args)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    rows = json.loads(done.stdout)
    assert all(set(row) == KEYS for row in rows)
    assert [row["index"] for row in rows] == sorted(row["index"] for row in rows)
    return {row["name"]: row for row in rows}


@requires_netns
def test_default_lists_ethernet_interfaces(topo: Topology) -> None:
    c0 = topo.dev("c0")
    rows = listing(topo)
    assert list(rows) == [c0]
    assert rows[c0] | {"index": 0} == {
        "name": c0,
        "index": 0,
        "driver": "veth",
        "freebsd_driver": None,
        "link_type": "ether",
        "ethernet": True,
        "up": True,
        "carrier": True,
        "mtu": 1500,
        "mac": topo.mac(topo.client, c0),
        "ipv4": ["10.66.1.2/24"],
        "netdump": "unknown",
        "netdump_basis": None,
        "netdump_reason": "driver 'veth' is not in the netdump table",
    }


@requires_netns
def test_all_shows_loopback_as_unsupported(topo: Topology) -> None:
    lo = listing(topo, "--all")["lo"]
    assert (lo["link_type"], lo["ethernet"], lo["driver"]) == ("loopback", False, None)
    assert (lo["netdump"], lo["netdump_reason"]) == ("unsupported", "not Ethernet (loopback)")


@requires_netns
def test_down_interface(topo: Topology) -> None:
    ip("-n", topo.client, "link", "set", topo.dev("c0"), "down")
    row = listing(topo)[topo.dev("c0")]
    assert (row["up"], row["carrier"]) == (False, None)


@requires_netns
def test_renamed_interface_keeps_its_driver(topo: Topology) -> None:
    lan = f"{topo.prefix}-lan"
    ip("-n", topo.client, "link", "set", topo.dev("c0"), "name", lan)
    rows = listing(topo)
    assert list(rows) == [lan]
    assert rows[lan]["driver"] == "veth"


@requires_netns
def test_table_output(topo: Topology) -> None:
    done = topo.netdump(topo.client, "interfaces", "--all")
    assert done.returncode == 0
    header, *lines = done.stdout.splitlines()
    assert header.split() == ["NAME", "DRIVER", "FREEBSD", "TYPE", "STATE", "CARRIER", "MTU",
                              "MAC", "IPV4", "NETDUMP", "REASON"]  # fmt: skip
    assert [line.split()[0] for line in lines] == ["lo", topo.dev("c0")]
    mac = topo.mac(topo.client, topo.dev("c0"))
    assert lines[1].split()[:9] == [topo.dev("c0"), "veth", "-", "ether", "up", "yes", "1500",
                                    mac, "10.66.1.2/24"]  # fmt: skip


def test_listing_does_not_import_pyroute2() -> None:
    # reads sysfs and calls getifaddrs only: nothing is sent anywhere
    code = (
        "import sys, contextlib, io\n"
        "sys.argv = ['netdump', 'interfaces', '--json']\n"
        "from dumpon.cli import netdump\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    netdump.main()\n"
        "print('pyroute2' in sys.modules)\n"
    )
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "False", done.stderr


@requires_netns
def test_names_that_are_not_utf8_are_listed_escaped(topo: Topology) -> None:
    # netifaces-plus 0.12.5's allifaddresses() dies of SIGSEGV when such a name exists
    name, shown = add_undecodable_link(topo)
    mac = subprocess.run(
        [b"ip", b"netns", b"exec", topo.client.encode(), b"cat",
         b"/sys/class/net/" + name + b"/address"],
        capture_output=True, check=True, timeout=10,
    ).stdout.decode().strip()  # fmt: skip
    rows = listing(topo)
    assert list(rows) == [topo.dev("c0"), shown]
    assert rows[topo.dev("c0")]["ipv4"] == ["10.66.1.2/24"]
    assert (rows[shown]["mac"], rows[shown]["ipv4"], rows[shown]["driver"]) == (
        mac, ["10.66.9.2/24"], "veth"
    )  # fmt: skip
    done = topo.netdump(topo.client, "interfaces", "--all")
    assert (done.returncode, done.stderr) == (0, "")
    assert [line.split()[0] for line in done.stdout.splitlines()[1:]] == [
        "lo", topo.dev("c0"), shown
    ]  # fmt: skip
    assert done.stdout.splitlines()[3].split()[7:9] == [mac, "10.66.9.2/24"]


@requires_netns
def test_route_through_a_name_that_is_not_utf8(topo: Topology) -> None:
    _name, shown = add_undecodable_link(topo)
    done = topo.netdump(topo.client, "route", "--json", "10.66.9.1")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["interface"], answer["client"], answer["gateway_source"]) == (
        shown, "10.66.9.2", "on-link"
    )  # fmt: skip
    assert answer["gateway_mac"] == topo.mac(topo.router, topo.dev("r9"))
    assert (
        done.stderr == f"netdump: warning: {shown}'s driver is not known to support "
        "netdump: driver 'veth' is not in the netdump table\n"
    )
