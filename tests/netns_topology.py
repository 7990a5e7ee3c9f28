"""Throw-away network namespaces for tests: never the host's own interfaces.

The topology: a client, a forwarding router and a server, joined by
two veth pairs. Names carry the pid and a counter, so parallel runs do not collide, and
everything is deleted in `finally` (deleting a namespace also deletes its veth ends).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.netns_dns import private_resolver

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(Path(sys.executable))
NETDUMP = str(Path(sys.executable).with_name("netdump"))
_COUNTER = itertools.count()

requires_netns = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2's `ip netns` to build network namespaces",
)


def ip(*args: str) -> str:
    """Run `ip` and return its output; a failure fails the test with ip's message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Topology:
    """Names of one client/router/server set; the addresses are fixed (three_namespaces)."""

    prefix: str

    @property
    def client(self) -> str:
        return f"{self.prefix}-client"

    @property
    def router(self) -> str:
        return f"{self.prefix}-router"

    @property
    def server(self) -> str:
        return f"{self.prefix}-server"

    def dev(self, end: str) -> str:
        """An interface name such as `<prefix>-c0` (at most 15 characters)."""
        return f"{self.prefix}-{end}"

    def mac(self, namespace: str, dev: str) -> str:
        return str(json.loads(ip("-n", namespace, "-j", "link", "show", dev))[0]["address"])

    def run(
        self, namespace: str, *argv: str, timeout: float = 20
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside a namespace, so that /sys and netlink show that namespace."""
        return subprocess.run(
            ["ip", "netns", "exec", namespace, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )

    def netdump(self, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(namespace, NETDUMP, *args)

    def call(self, namespace: str, expression: str) -> dict[str, Any]:
        """Evaluate a library expression inside a namespace.

        The answer is {"value": ..., "elapsed": seconds} or, for a ToolError,
        {"error": message, "exit": code}.
        """
        done = self.run(namespace, PYTHON, "-c", _CALL.format(expression=expression))
        assert done.returncode == 0, done.stderr
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer


# Libraries are imported before the clock starts: "elapsed" is the call's own work
# (waiting for ARP), not import time, which benchmarks/startup measures.
_CALL = """
import json, time
import pyroute2
from dumpon.netinfo import path as netpath
from dumpon.errors import ToolError
from dumpon.netinfo import neighbours, routes
from dataclasses import asdict, is_dataclass
try:
    start = time.monotonic()
    value = {expression}
    elapsed = time.monotonic() - start
    if is_dataclass(value):
        value = asdict(value)
    elif isinstance(value, list):
        value = [asdict(item) for item in value]
    print(json.dumps({{"value": value, "elapsed": elapsed}}))
except ToolError as exc:
    print(json.dumps({{"error": exc.message, "exit": exc.exit_code}}))
"""


def _prefix() -> str:
    prefix = f"n{os.getpid():x}{next(_COUNTER):x}"
    assert len(prefix) <= 11, prefix  # room for "-c0" within IFNAMSIZ - 1
    return prefix


@contextmanager
def three_namespaces() -> Iterator[Topology]:
    """client 10.66.1.2 -- 10.66.1.1 router 10.66.2.1 -- 10.66.2.2 server, routed both ways;
    each namespace resolves names with its own resolv.conf, pointing at nothing."""
    topo = Topology(_prefix())
    made: list[str] = []
    try:
        for namespace in (topo.client, topo.router, topo.server):
            ip("netns", "add", namespace)
            made.append(namespace)
            ip("-n", namespace, "link", "set", "lo", "up")
        c0, r0, r1, s0 = (topo.dev(end) for end in ("c0", "r0", "r1", "s0"))
        ip("link", "add", c0, "netns", topo.client, "type", "veth", "peer", "name", r0,
           "netns", topo.router)  # fmt: skip
        ip("link", "add", r1, "netns", topo.router, "type", "veth", "peer", "name", s0,
           "netns", topo.server)  # fmt: skip
        for namespace, dev, address in (
            (topo.client, c0, "10.66.1.2/24"),
            (topo.router, r0, "10.66.1.1/24"),
            (topo.router, r1, "10.66.2.1/24"),
            (topo.server, s0, "10.66.2.2/24"),
        ):
            # `brd +`: without a broadcast address netifaces reports broadcast == address
            ip("-n", namespace, "addr", "add", address, "brd", "+", "dev", dev)
            ip("-n", namespace, "link", "set", dev, "up")
        ip("netns", "exec", topo.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        ip("-n", topo.client, "route", "add", "default", "via", "10.66.1.1")
        ip("-n", topo.server, "route", "add", "default", "via", "10.66.2.1")
        with private_resolver(*made):
            yield topo
    finally:
        for namespace in made:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10)


def flush_neighbours(topo: Topology) -> None:
    """Forget every neighbour on both ends, so an entry can only come from a fresh ARP."""
    for namespace in (topo.client, topo.router, topo.server):
        ip("-n", namespace, "neigh", "flush", "all")


def add_undecodable_link(topo: Topology) -> tuple[bytes, str]:
    """A veth in the client whose name starts with the byte 0xff (not UTF-8), holding
    10.66.9.2/24 and peered with 10.66.9.1 in the router. Its name, and that printed."""
    name = b"\xff" + topo.prefix.encode()
    client, router, peer = topo.client.encode(), topo.router.encode(), topo.dev("r9").encode()
    for argv in (
        [b"link", b"add", name, b"netns", client, b"type", b"veth", b"peer", b"name", peer,
         b"netns", router],
        [b"-n", client, b"addr", b"add", b"10.66.9.2/24", b"brd", b"+", b"dev", name],
        [b"-n", router, b"addr", b"add", b"10.66.9.1/24", b"brd", b"+", b"dev", peer],
        [b"-n", client, b"link", b"set", name, b"up"],
        [b"-n", router, b"link", b"set", peer, b"up"],
    ):  # fmt: skip
        subprocess.run([b"ip", *argv], check=True, capture_output=True, timeout=10)
    return name, "\\xff" + topo.prefix
