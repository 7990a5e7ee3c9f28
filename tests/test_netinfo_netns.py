"""Gateway choice, preflight and the neighbour table, in real network namespaces.

Library code runs in a subprocess under `ip netns exec`, so that sysfs and netlink show
the namespace. Each test builds its own client/router/server namespaces.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from netns_topology import (
    Topology,
    add_undecodable_link,
    flush_neighbours,
    ip,
    requires_netns,
    three_namespaces,
)

pytestmark = [requires_netns, pytest.mark.root]


@pytest.fixture
def topo() -> Iterator[Topology]:
    with three_namespaces() as topology:
        yield topology


def gateway(topo: Topology, server: str, dev: str | None = None) -> object:
    answer = topo.call(topo.client, f"netpath.find_gateway({dev or topo.dev('c0')!r}, {server!r})")
    return answer.get("value", answer)


def preflight(topo: Topology, gateway: str, client: str = "10.66.1.2") -> dict[str, Any]:
    """preflight()'s answer, less its first warning, which must be the driver verdict:
    veth has no FreeBSD counterpart, so every interface here gets it."""
    c0 = topo.dev("c0")
    answer = topo.call(
        topo.client, f"netpath.preflight({c0!r}, '10.66.2.2', {client!r}, {gateway!r})"
    )
    warnings = answer["value"]["warnings"]
    assert warnings[0] == (
        f"warning: {c0}'s driver is not known to support netdump: "
        "driver 'veth' is not in the netdump table"
    )
    answer["value"]["warnings"] = warnings[1:]
    return answer


def test_on_link_server_has_no_gateway(topo: Topology) -> None:
    assert gateway(topo, "10.66.1.1") is None


def test_server_behind_the_default_router(topo: Topology) -> None:
    assert gateway(topo, "10.66.2.2") == "10.66.1.1"


def test_more_specific_route_beats_the_default_route(topo: Topology) -> None:
    ip("-n", topo.router, "addr", "add", "10.66.1.254/24", "dev", topo.dev("r0"))
    ip("-n", topo.client, "route", "add", "10.66.2.0/24", "via", "10.66.1.254")
    assert gateway(topo, "10.66.2.2") == "10.66.1.254"
    # FreeBSD's rule takes the default route's gateway regardless
    freebsd = topo.call(topo.client, f"routes.first_default_gateway({topo.dev('c0')!r})")
    assert freebsd["value"] == "10.66.1.1"


def test_no_route_at_all_falls_back_to_on_link(topo: Topology) -> None:
    ip("-n", topo.client, "route", "del", "default")
    assert gateway(topo, "10.66.2.2") is None


def test_missing_interface_is_dumpons_exit_1(topo: Topology) -> None:
    assert gateway(topo, "10.66.2.2", "nosuch0") == {
        "error": "couldn't find interface index for 'nosuch0'",
        "exit": 1,
    }


def test_renamed_interface_keeps_its_routes(topo: Topology) -> None:
    lan = f"{topo.prefix}-lan"
    ip("-n", topo.client, "link", "set", topo.dev("c0"), "down")
    ip("-n", topo.client, "link", "set", topo.dev("c0"), "name", lan)
    ip("-n", topo.client, "link", "set", lan, "up")
    ip("-n", topo.client, "route", "add", "default", "via", "10.66.1.1")
    assert gateway(topo, "10.66.2.2", lan) == "10.66.1.1"


def test_preflight_clean_path_records_the_gateway_mac(topo: Topology) -> None:
    flush_neighbours(topo)
    answer = preflight(topo, "10.66.1.1")["value"]
    assert isinstance(answer, dict)
    assert answer["warnings"] == []
    assert answer["facts"]["gateway_mac"] == topo.mac(topo.router, topo.dev("r0"))
    assert answer["facts"]["gateway_mac_seen"].endswith("+00:00")


def test_neighbour_table_entry_is_used_without_asking(topo: Topology) -> None:
    # A made-up MAC: had dumpon ARPed, it would have learnt the router's real one.
    ip("-n", topo.client, "neigh", "replace", "10.66.1.1", "lladdr", "02:00:00:00:00:99",
       "dev", topo.dev("c0"), "nud", "permanent")  # fmt: skip
    answer = preflight(topo, "10.66.1.1")
    assert answer["value"]["facts"]["gateway_mac"] == "02:00:00:00:00:99"


def test_absent_neighbour_is_resolved(topo: Topology) -> None:
    flush_neighbours(topo)
    assert ip("-n", topo.client, "neigh", "show", "10.66.1.1").strip() == ""
    answer = preflight(topo, "10.66.1.1")
    assert answer["value"]["facts"]["gateway_mac"] == topo.mac(topo.router, topo.dev("r0"))
    assert answer["elapsed"] < 1
    assert "REACHABLE" in ip("-n", topo.client, "neigh", "show", "10.66.1.1")


def test_unanswered_arp_is_a_bounded_warning(topo: Topology) -> None:
    answer = preflight(topo, "10.66.1.77")
    assert answer["value"] == {
        "warnings": [f"warning: no ARP reply from 10.66.1.77 on {topo.dev('c0')}"],
        "facts": {},
    }
    assert answer["elapsed"] < 4


def test_preflight_link_down_like_freebsd(topo: Topology) -> None:
    ip("-n", topo.client, "link", "set", topo.dev("c0"), "down")
    answer = preflight(topo, "10.66.1.1")
    c0 = topo.dev("c0")
    assert answer["value"]["warnings"][0] == f"warning: {c0}'s link is down"
    assert answer["value"]["facts"] == {}
    assert answer["elapsed"] < 1  # a down link sends no ARP, so nothing to wait for


def test_preflight_client_not_on_interface_and_large_mtu(topo: Topology) -> None:
    ip("-n", topo.client, "link", "set", topo.dev("c0"), "mtu", "9000")
    warnings = preflight(topo, "10.66.1.1", client="10.66.1.3")["value"]["warnings"]
    c0 = topo.dev("c0")
    assert warnings[0] == f"warning: client address 10.66.1.3 is not configured on {c0}"
    assert warnings[1].startswith(f"warning: {c0}'s MTU 9000 is above 4148")
    assert "8948-byte payloads" in warnings[1]


def test_preflight_server_routed_through_another_interface(topo: Topology) -> None:
    ip("-n", topo.client, "route", "del", "default")
    ip("-n", topo.client, "route", "add", "10.66.2.0/24", "dev", "lo")
    warnings = preflight(topo, "10.66.1.1")["value"]["warnings"]
    assert warnings == [f"warning: the kernel routes 10.66.2.2 through lo, not {topo.dev('c0')}"]


def test_preflight_no_route_to_server(topo: Topology) -> None:
    ip("-n", topo.client, "route", "del", "default")
    warnings = preflight(topo, "10.66.1.1")["value"]["warnings"]
    assert warnings == ["warning: the kernel has no route to 10.66.2.2"]


def test_stale_neighbour_is_confirmed_within_the_cap(topo: Topology) -> None:
    # NTF_USE alone would leave it in DELAY for delay_first_probe_time (5 s)
    mac = topo.mac(topo.router, topo.dev("r0"))
    ip("-n", topo.client, "neigh", "replace", "10.66.1.1", "lladdr", mac,
       "dev", topo.dev("c0"), "nud", "stale")  # fmt: skip
    answer = preflight(topo, "10.66.1.1")
    assert answer["value"] == {
        "warnings": [],
        "facts": {
            "gateway_mac": mac,
            "gateway_mac_seen": answer["value"]["facts"]["gateway_mac_seen"],
        },
    }
    assert answer["elapsed"] < 1  # measured: ~5 ms on veth
    assert neighbour(topo, "10.66.1.1")["state"] == ["REACHABLE"]


def test_stale_neighbour_that_moved_is_not_trusted(topo: Topology) -> None:
    # the unicast probes go to a MAC nobody owns, so the kernel fails the entry
    ip("-n", topo.client, "neigh", "replace", "10.66.1.1", "lladdr", "02:00:00:00:00:99",
       "dev", topo.dev("c0"), "nud", "stale")  # fmt: skip
    answer = preflight(topo, "10.66.1.1")
    assert answer["value"] == {
        "warnings": [f"warning: no ARP reply from 10.66.1.1 on {topo.dev('c0')}"],
        "facts": {},
    }
    assert answer["elapsed"] < 4


def neighbour(topo: Topology, address: str) -> dict[str, Any]:
    """iproute2's view of one neighbour entry of the client's c0."""
    (entry,) = json.loads(
        ip("-n", topo.client, "-j", "neigh", "show", address, "dev", topo.dev("c0"))
    )
    return dict(entry)


def iproute2_route(topo: Topology, server: str, dev: str | None) -> dict[str, Any] | None:
    """`ip -j route get` in the client namespace: dev, gateway, prefsrc; None for no route."""
    args = ["-n", topo.client, "-j", "route", "get", server, *(["oif", dev] if dev else [])]
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        assert done.stderr.rstrip() in (
            "RTNETLINK answers: Network is unreachable",
            "RTNETLINK answers: No route to host",
        )
        return None
    (route,) = json.loads(done.stdout)
    return {
        "ifname": route["dev"],
        "gateway": route.get("gateway"),
        "prefsrc": route.get("prefsrc"),
    }


def test_routes_agree_with_iproute2(topo: Topology) -> None:
    c0 = topo.dev("c0")
    ip("-n", topo.router, "addr", "add", "10.66.1.254/24", "dev", topo.dev("r0"))
    ip("-n", topo.client, "route", "add", "10.66.2.128/25", "via", "10.66.1.254")
    ip("-n", topo.client, "route", "add", "unreachable", "10.77.0.0/16")
    cases = [
        ("10.66.2.2", None), ("10.66.2.2", c0), ("10.66.2.200", c0), ("10.66.1.1", None),
        ("10.66.1.2", None), ("10.99.0.1", c0), ("10.99.0.1", "lo"), ("10.77.0.1", None),
    ]  # fmt: skip
    for server, dev in cases:
        oif = "None" if dev is None else f"__import__('socket').if_nametoindex({dev!r})"
        ours = topo.call(topo.client, f"routes.route_to({server!r}, {oif})")["value"]
        assert ours == iproute2_route(topo, server, dev), (server, dev)
    assert ours is None  # the unreachable route: the last case


def test_neighbours_agree_with_iproute2(topo: Topology) -> None:
    flush_neighbours(topo)
    c0 = topo.dev("c0")
    ip("-n", topo.client, "neigh", "replace", "10.66.1.9", "lladdr", "02:00:00:00:00:09",
       "dev", c0, "nud", "permanent")  # fmt: skip
    index = f"__import__('socket').if_nametoindex({c0!r})"
    for address in ("10.66.1.1", "10.66.1.9"):
        ours = topo.call(topo.client, f"neighbours.resolve({address!r}, {index}).mac")["value"]
        assert ours == neighbour(topo, address)["lladdr"]
    assert neighbour(topo, "10.66.1.1")["state"] == ["REACHABLE"]
    assert neighbour(topo, "10.66.1.9")["state"] == ["PERMANENT"]


def test_freebsd_rule_survives_a_name_that_is_not_utf8(topo: Topology) -> None:
    # netifaces.gateways() would die of SIGSEGV on the default route through that name
    add_undecodable_link(topo)
    ip("-n", topo.client, "route", "replace", "default", "via", "10.66.9.1")
    c0 = topo.dev("c0")
    answer = topo.call(topo.client, f"routes.first_default_gateway({c0!r})")
    assert answer["value"] is None
