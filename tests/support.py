"""Shared test helpers: running the installed console scripts, network namespaces, devices."""

from __future__ import annotations

import itertools
import os
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.netns_dns import private_resolver
from tests.netns_topology import ip, requires_netns

__all__ = ["ip", "requires_netns"]  # re-exported: the one copy lives in netns_topology

BIN = Path(sys.executable).parent

_counter = itertools.count()


def unique(prefix: str) -> str:
    """A name no other test or concurrent run uses (interface names stay under 16 bytes)."""
    return f"{prefix}{os.getpid() % 100000}{next(_counter)}"


def script(name: str) -> str:
    """The installed console script, next to the interpreter running the tests."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"console script {name} is not installed in {BIN}: pip install -e .")
    return str(path)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str],
    env: dict[str, str] | None = None,
    netns: str | None = None,
    timeout: float = 30,
) -> Result:
    """Run a command (optionally inside a namespace) and capture its output."""
    full_env = {**os.environ, **(env or {})}
    command = list(argv)
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    done = subprocess.run(
        command, capture_output=True, text=True, env=full_env, timeout=timeout, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass
class Namespace:
    """A namespace holding one Ethernet (veth) interface with an address and a router."""

    name: str
    iface: str
    address: str = "10.77.0.2"
    router: str = "10.77.0.1"


@contextmanager
def veth_namespace(
    address: str = "10.77.0.2", router: str = "10.77.0.1", iface: str | None = None
) -> Iterator[Namespace]:
    """A namespace with one veth interface (named `iface`, else a unique name), up and
    addressed, whose default route leads to a router in a second namespace that answers
    ARP.  No packet leaves the two."""
    name, router_ns = unique("dtest"), unique("drtr")
    iface = iface or unique("ve")
    ip("netns", "add", name)
    ip("netns", "add", router_ns)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        ip(
            "-n",
            name,
            "link",
            "add",
            iface,
            "type",
            "veth",
            "peer",
            "name",
            "r0",
            "netns",
            router_ns,
        )
        ip("-n", name, "addr", "add", f"{address}/24", "brd", "+", "dev", iface)
        ip("-n", router_ns, "addr", "add", f"{router}/24", "brd", "+", "dev", "r0")
        ip("-n", name, "link", "set", iface, "up")
        ip("-n", router_ns, "link", "set", "r0", "up")
        ip("-n", name, "route", "add", "default", "via", router)
        with private_resolver(name, router_ns):
            yield Namespace(name, iface, address, router)
    finally:
        for namespace in (name, router_ns):
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)


def block_device() -> str:
    """The name (without /dev/) of a block device this user can open read-only."""
    for entry in sorted(os.scandir("/dev"), key=lambda e: e.name):
        try:
            if not stat.S_ISBLK(entry.stat(follow_symlinks=False).st_mode):
                continue
            os.close(os.open(entry.path, os.O_RDONLY | os.O_NONBLOCK))
        except OSError:
            continue
        return entry.name
    pytest.skip("no block device in /dev that this user can open (run as root)")
