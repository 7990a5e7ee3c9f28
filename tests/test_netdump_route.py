"""`netdump route` end to end: the console script inside throw-away namespaces."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from netns_topology import NETDUMP, Topology, flush_neighbours, ip, requires_netns, three_namespaces

KEYS = {
    "interface", "ifindex", "client", "server", "gateway", "gateway_source", "gateway_mac",
    "gateway_mac_seen", "mtu", "payload_13", "payload_12", "warnings",
}  # fmt: skip


@pytest.fixture
def topo() -> Iterator[Topology]:
    with three_namespaces() as topology:
        yield topology


def route(topo: Topology, *args: str) -> dict[str, Any]:
    done = topo.netdump(topo.client, "route", "--json", *args)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    assert set(answer) == KEYS
    # every warning is also on stderr, one `netdump: ` line each
    assert done.stderr.splitlines() == [f"netdump: {text}" for text in answer["warnings"]]
    return answer


def _unknown_veth(topo: Topology, end: str = "c0") -> str:
    dev = topo.dev(end)
    return (
        f"warning: {dev}'s driver is not known to support netdump: "
        "driver 'veth' is not in the netdump table"
    )


@requires_netns
def test_server_behind_the_default_router(topo: Topology) -> None:
    flush_neighbours(topo)
    answer = route(topo, "10.66.2.2")
    assert answer | {"gateway_mac_seen": None} == {
        "interface": topo.dev("c0"),
        "ifindex": answer["ifindex"],
        "client": "10.66.1.2",
        "server": "10.66.2.2",
        "gateway": "10.66.1.1",
        "gateway_source": "route",
        "gateway_mac": topo.mac(topo.router, topo.dev("r0")),
        "gateway_mac_seen": None,
        "mtu": 1500,
        "payload_13": 1448,
        "payload_12": 1448,
        "warnings": [_unknown_veth(topo)],
    }


@requires_netns
def test_server_on_link(topo: Topology) -> None:
    answer = route(topo, "10.66.1.1", topo.dev("c0"))
    assert (answer["gateway"], answer["gateway_source"]) == ("10.66.1.1", "on-link")
    assert answer["gateway_mac"] == topo.mac(topo.router, topo.dev("r0"))


@requires_netns
def test_more_specific_static_route(topo: Topology) -> None:
    ip("-n", topo.router, "addr", "add", "10.66.1.254/24", "dev", topo.dev("r0"))
    ip("-n", topo.client, "route", "add", "10.66.2.0/24", "via", "10.66.1.254")
    answer = route(topo, "10.66.2.2")
    assert (answer["gateway"], answer["gateway_source"]) == ("10.66.1.254", "route")


@requires_netns
def test_interface_other_than_the_route(topo: Topology) -> None:
    # a second link from the client to the router; the router proxy-ARPs for the server
    c1, r2 = topo.dev("c1"), topo.dev("r2")
    ip("link", "add", c1, "netns", topo.client, "type", "veth", "peer", "name", r2,
       "netns", topo.router)  # fmt: skip
    ip("-n", topo.client, "addr", "add", "10.66.3.2/24", "brd", "+", "dev", c1)
    ip("-n", topo.router, "addr", "add", "10.66.3.1/24", "brd", "+", "dev", r2)
    ip("-n", topo.client, "link", "set", c1, "up")
    ip("-n", topo.router, "link", "set", r2, "up")
    ip("netns", "exec", topo.router, "sysctl", "-qw", f"net.ipv4.conf.{r2}.proxy_arp=1")
    answer = route(topo, "10.66.2.2", c1)
    assert (answer["interface"], answer["client"]) == (c1, "10.66.3.2")
    assert (answer["gateway"], answer["gateway_source"]) == ("10.66.2.2", "on-link")
    assert answer["gateway_mac"] == topo.mac(topo.router, r2)
    assert answer["warnings"] == [
        _unknown_veth(topo, "c1"),
        f"warning: the kernel routes 10.66.2.2 through {topo.dev('c0')}, not {c1}",
    ]


@requires_netns
def test_options_override_the_route(topo: Topology) -> None:
    answer = route(topo, "10.66.2.2", "-c", "10.66.1.2", "-g", "012.0x42.1.1", topo.dev("c0"))
    assert (answer["gateway"], answer["gateway_source"]) == ("10.66.1.1", "option")


@requires_netns
def test_no_route_at_all(topo: Topology) -> None:
    ip("-n", topo.client, "route", "del", "default")
    done = topo.netdump(topo.client, "route", "10.66.2.2")
    assert (done.returncode, done.stdout, done.stderr) == (
        68,
        "",
        "netdump: no route to 10.66.2.2\n",
    )


@requires_netns
def test_unanswered_next_hop_is_a_warning_within_4_seconds(topo: Topology) -> None:
    start = time.monotonic()
    answer = route(topo, "10.66.2.2", "-g", "10.66.1.77", topo.dev("c0"))
    assert time.monotonic() - start < 4.5  # includes the interpreter start
    assert answer["gateway_mac"] is None
    assert answer["warnings"] == [
        _unknown_veth(topo), f"warning: no ARP reply from 10.66.1.77 on {topo.dev('c0')}"
    ]  # fmt: skip


@requires_netns
def test_interface_down(topo: Topology) -> None:
    ip("-n", topo.client, "link", "set", topo.dev("c0"), "down")
    answer = route(topo, "10.66.1.1", topo.dev("c0"))
    assert f"warning: {topo.dev('c0')}'s link is down" in answer["warnings"]


@requires_netns
@pytest.mark.parametrize("args", [("127.0.0.1",), ("10.66.2.2", "lo")])
def test_loopback_is_refused(topo: Topology, args: tuple[str, ...]) -> None:
    done = topo.netdump(topo.client, "route", *args)
    assert done.returncode == 69
    assert done.stderr == "netdump: lo: netdump unsupported: not Ethernet (loopback)\n"


@requires_netns
def test_missing_interface(topo: Topology) -> None:
    done = topo.netdump(topo.client, "route", "10.66.2.2", "nosuch0")
    assert (done.returncode, done.stderr) == (
        1,
        "netdump: couldn't find interface index for 'nosuch0'\n",
    )


@requires_netns
def test_unresolvable_server_is_one_line(topo: Topology) -> None:
    # The namespace has no way out, so the resolver fails without leaving this host.
    ip("-n", topo.client, "route", "del", "default")
    done = topo.netdump(topo.client, "route", "no-such-host.invalid")
    assert done.returncode in (68, 71)
    assert done.stderr.startswith("netdump: no-such-host.invalid: ")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("-c", "invalid client address '10.66.1.256'"),
        ("-g", "invalid gateway address '10.66.1.256'"),
    ],
)
def test_bad_addresses_are_usage_errors(option: str, message: str) -> None:
    # refused before any route lookup, so it is safe outside a namespace
    done = subprocess.run(
        [NETDUMP, "route", "10.66.2.2", option, "10.66.1.256"], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (64, "", f"netdump: {message}\n")


def test_name_idna_cannot_encode_is_exit_68_as_in_dumpon() -> None:
    # the name fails to encode before any query is made, so this is safe outside a namespace
    name = "x" * 64 + ".invalid"  # a label over 63 characters
    done = subprocess.run([NETDUMP, "route", name], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (68, "")
    assert done.stderr == f"netdump: {name}: invalid host name\n"
