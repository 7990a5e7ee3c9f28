"""Our rtnetlink codec against pyroute2 as an independent peer: its decoder reads our
requests, and in a real namespace both give the same routes and neighbour entries."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from dumpon.netinfo import rtnl
from tests.netns_topology import PYTHON, Topology, ip, requires_netns, three_namespaces


def test_route_request_decodes_in_pyroute2() -> None:
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    raw = rtnl.route_get(7, "10.66.2.2", oif=3)
    message = rtmsg(raw)
    message.decode()
    assert message["header"]["type"] == rtnl.RTM_GETROUTE
    assert message["header"]["sequence_number"] == 7
    assert message["header"]["length"] == len(raw)
    assert (message["family"], message["dst_len"]) == (socket.AF_INET, 32)
    assert message.get_attr("RTA_DST") == "10.66.2.2"
    assert message.get_attr("RTA_OIF") == 3


def test_neighbour_use_request_decodes_in_pyroute2() -> None:
    from pyroute2.netlink.rtnl.ndmsg import ndmsg

    message = ndmsg(rtnl.neighbour_use(9, "10.66.1.1", 4))
    message.decode()
    assert message["header"]["type"] == rtnl.RTM_NEWNEIGH
    assert message["ifindex"] == 4 and message["flags"] == rtnl.NTF_USE
    assert message.get_attr("NDA_DST") == "10.66.1.1"


def test_pyroute2_encoded_route_answer_parses() -> None:
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    answer = rtmsg()
    answer["header"]["type"] = rtnl.RTM_NEWROUTE
    answer["header"]["sequence_number"] = 5
    answer["family"] = socket.AF_INET
    answer["dst_len"] = 32
    answer["attrs"] = [
        ("RTA_DST", "10.66.2.2"),
        ("RTA_OIF", 12),
        ("RTA_GATEWAY", "10.66.1.1"),
        ("RTA_PREFSRC", "10.66.1.2"),
    ]
    answer.encode()
    (message,) = rtnl.messages(bytes(answer.data))
    assert message.sequence == 5
    assert rtnl.parse_route(message) == rtnl.Route(12, "10.66.1.1", "10.66.1.2")


@pytest.mark.parametrize("data", [b"\x08\x00\x00\x00" + bytes(12), b"\xff\x00\x00\x00" + bytes(12)])
def test_bad_lengths_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        list(rtnl.messages(data))


COMPARE = """
import json
from pyroute2 import IPRoute
from dumpon.netinfo import rtnl
out = {"routes": [], "neighbours": []}
with IPRoute() as ipr:
    for dst, oif in (("10.66.2.2", None), ("10.66.1.1", None), ("10.66.2.2", IFINDEX),
                     ("10.99.0.1", IFINDEX)):
        theirs = ipr.route("get", dst=dst, **({"oif": oif} if oif else {}))[0]
        ours = rtnl.route(dst, oif)
        out["routes"].append([[theirs.get("RTA_OIF"), theirs.get("RTA_GATEWAY"),
                               theirs.get("RTA_PREFSRC")], [ours.oif, ours.gateway, ours.prefsrc]])
    with rtnl.Rtnl() as ours:
        for entry in ipr.get_neighbours(family=2, ifindex=IFINDEX):
            mine = rtnl.neighbour(ours, entry.get("NDA_DST"), IFINDEX)
            out["neighbours"].append([[entry["state"], entry.get("NDA_LLADDR")],
                                      [mine.state, mine.mac] if mine else None])
print(json.dumps(out))
"""


@pytest.fixture
def topo() -> Iterator[Topology]:
    with three_namespaces() as topology:
        yield topology


@requires_netns
def test_same_answers_as_pyroute2(topo: Topology) -> None:
    c0 = topo.dev("c0")
    ip(
        "-n",
        topo.client,
        "neigh",
        "replace",
        "10.66.1.9",
        "lladdr",
        "02:00:00:00:00:09",
        "dev",
        c0,
        "nud",
        "permanent",
    )
    # one datagram to the router (inside the namespaces) makes the kernel ARP for it
    send = "import socket, time; socket.socket(2, 2).sendto(b'', ('10.66.1.1', 9)); time.sleep(0.2)"
    topo.run(topo.client, PYTHON, "-c", send)
    ifindex = json.loads(ip("-n", topo.client, "-j", "link", "show", c0))[0]["ifindex"]
    done = topo.run(topo.client, PYTHON, "-c", COMPARE.replace("IFINDEX", str(ifindex)))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    for theirs, ours in answer["routes"]:
        assert theirs == ours
    assert len(answer["neighbours"]) >= 2
    for theirs, ours in answer["neighbours"]:
        assert theirs == ours


@requires_netns
def test_no_route_is_enetunreach(topo: Topology) -> None:
    ip("-n", topo.client, "route", "del", "default")
    script = (
        "from dumpon.netinfo import rtnl\n"
        "try:\n    rtnl.route('10.99.0.1')\nexcept OSError as e:\n    print(e.errno)"
    )
    done = topo.run(topo.client, PYTHON, "-c", script)
    assert done.stdout.strip() == str(__import__("errno").ENETUNREACH)
