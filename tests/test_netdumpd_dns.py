"""Reverse DNS never delays an ACK: netdumpd in a namespace whose resolver never answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.netns_dns import private_resolver
from tests.netns_topology import ROOT, _prefix, ip, requires_netns
from tests.support import script

BLACK_HOLE = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    s.recv(4096)
    print("query", flush=True)
"""


@requires_netns
def test_a_resolver_that_never_answers_delays_no_ack(tmp_path: Path) -> None:
    namespace = f"{_prefix()}-dns"
    ip("netns", "add", namespace)
    processes: list[subprocess.Popen[str]] = []
    try:
        ip("-n", namespace, "link", "set", "lo", "up")
        for address in ("10.77.0.1/32", "10.77.0.2/32"):  # not in any hosts file
            ip("-n", namespace, "addr", "add", address, "dev", "lo")
        with private_resolver(namespace):
            exec_ = ["ip", "netns", "exec", namespace]
            hole = subprocess.Popen(
                [*exec_, sys.executable, "-c", BLACK_HOLE], stdout=subprocess.PIPE, text=True
            )
            processes.append(hole)
            assert hole.stdout is not None and hole.stdout.readline() == "ready\n"
            server = subprocess.Popen(
                [*exec_, script("netdumpd"), "-D", "-a", "10.77.0.1", "-d", str(tmp_path),
                 "-P", str(tmp_path / "pid"), "--timeout", "5", "--dns-timeout", "30"],
                stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            processes.append(server)
            assert server.stderr is not None
            while "Waiting for clients" not in server.stderr.readline():
                pass
            copy = tmp_path / "sent"
            done = subprocess.run(
                [*exec_, sys.executable, "-m", "tests.netns_client", "10.77.0.1", "10.77.0.2",
                 "400000", str(copy)],
                capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            result = json.loads(done.stdout)
            # a kernel resends after ~1 s and gives up after ~12 s without an ACK
            assert result["max_ack_seconds"] < 0.5, result
            assert hole.stdout.readline() == "query\n"  # the lookup did go to the resolver
            core = tmp_path / "vmcore.10.77.0.2.0"
            assert core.read_bytes() == copy.read_bytes()
            assert (tmp_path / "info.10.77.0.2.0").read_text().endswith("Dump complete\n")
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        ip("netns", "del", namespace)
