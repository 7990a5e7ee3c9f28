"""End to end across namespaces: dumpon configures the client, netdump check and netdump
send deliver to netdumpd in the server namespace (through a router), decryptcore decrypts.

client 10.66.1.2 -- router (forwards; nft loses and duplicates packets on demand) --
server 10.66.2.2, where netdumpd runs on the real port 20023.  The server's hosts file
names the client `crashbox`; every resolver points at nothing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ekcd_support import DECRYPTCORE, KeyPair, make_key_pair
from tests.netns_dns import NETNS_ETC
from tests.netns_topology import ROOT, Topology, requires_netns, three_namespaces
from tests.support import script

pytestmark = [requires_netns, pytest.mark.root]

SERVER, CLIENT = "10.66.2.2", "10.66.1.2"
# a kernel's rules with short timers: resend after 10 ms, give up after 40 rounds
FAST = ["--polls", "20", "--retries", "40"]


@dataclass
class Lab:
    topo: Topology
    dumpdir: Path
    backend: Path
    keys: KeyPair
    server: subprocess.Popen[str]
    log: Path

    def why(self, done: subprocess.CompletedProcess[str]) -> str:
        """A failed client's output and the server's log, for an assertion message."""
        return f"{done.stdout}{done.stderr}--- netdumpd:\n{self.log.read_text()}"

    def client(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DUMPON_BACKEND": f"file:{self.backend}"}
        done = subprocess.run(
            ["ip", "netns", "exec", self.topo.client, *argv],
            capture_output=True, text=True, timeout=timeout, env=env, check=False, cwd=ROOT,
        )  # fmt: skip
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def send(self, core: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return self.client(
            script("netdump"), "send", "-q", "-s", SERVER, "-c", CLIENT, *FAST, *args, str(core)
        )

    def last(self, kind: str) -> Path:
        """The file a `.last` link names (after a complete dump)."""
        link = self.dumpdir / f"{kind}.crashbox.last"
        return self.dumpdir / os.readlink(link)

    def wait_last_changed(self, before: str | None) -> None:
        link = self.dumpdir / "info.crashbox.last"
        for _ in range(200):
            if link.is_symlink() and os.readlink(link) != before:
                return
            time.sleep(0.05)
        raise AssertionError("no new complete dump")


def _last_name(lab: Lab) -> str | None:
    link = lab.dumpdir / "info.crashbox.last"
    return os.readlink(link) if link.is_symlink() else None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("e2e")
    dumpdir = work / "crash"
    dumpdir.mkdir()
    keys = make_key_pair(work / "keys")
    with three_namespaces() as topo:
        (NETNS_ETC / topo.server / "hosts").write_text(f"{CLIENT} crashbox.example.org\n")
        log = work / "netdumpd.log"
        server = subprocess.Popen(
            ["ip", "netns", "exec", topo.server, script("netdumpd"), "-D", "-d", str(dumpdir),
             "-P", str(work / "netdumpd.pid"), "--timeout", "4", "--dns-timeout", "1"],
            stderr=log.open("w"), text=True,
        )  # fmt: skip
        try:
            for _ in range(200):
                if "Waiting for clients" in log.read_text():
                    break
                assert server.poll() is None, log.read_text()
                time.sleep(0.05)
            yield Lab(topo, dumpdir, work / "kernel.json", keys, server, log)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(10)


def test_dumpon_then_netdump_check_reach_netdumpd(lab: Lab) -> None:
    c0 = lab.topo.dev("c0")
    done = lab.client(script("dumpon"), "-s", SERVER, "-c", CLIENT, c0)
    assert done.returncode == 0, lab.why(done)
    before = _last_name(lab)
    done = lab.client(script("netdump"), "check", "-q", *FAST, c0)
    assert done.returncode == 0, lab.why(done)
    lab.wait_last_changed(before)
    text = lab.last("info").read_text()
    assert text.startswith(f"Dump from crashbox [{CLIENT}]\n")
    assert text.endswith("Dump complete\n")
    assert "  Data: complete," in text


@pytest.mark.skipif(DECRYPTCORE is None, reason="decryptcore is not installed")
@pytest.mark.parametrize("order", ["12", "13"])
@pytest.mark.parametrize("cipher", ["chacha20", "aes256-cbc"])
def test_encrypted_dumps_decrypt_to_the_original(
    lab: Lab, tmp_path: Path, cipher: str, order: str
) -> None:
    core = tmp_path / "core"
    data = os.urandom(600_000)
    core.write_bytes(data)
    before = _last_name(lab)
    done = lab.send(core, "-k", str(lab.keys.public_pem), "-C", cipher, "--order", order)
    assert done.returncode == 0, lab.why(done)
    lab.wait_last_changed(before)
    encrypted, key = lab.last("vmcore"), lab.last("key")
    assert encrypted.name.startswith("vmcore_encrypted.crashbox.")
    assert key.stat().st_mode & 0o777 == 0o400
    out = tmp_path / "plain"
    assert DECRYPTCORE is not None
    decrypted = subprocess.run(
        [DECRYPTCORE, "-p", str(lab.keys.private_pem), "-k", str(key), "-e", str(encrypted),
         "-c", str(out)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert decrypted.returncode == 0, decrypted.stderr
    plain = out.read_bytes()
    assert plain[: len(data)] == data
    assert not any(plain[len(data) :])  # AES-CBC pads to whole blocks


@contextmanager
def router_rules(lab: Lab, *rules: str) -> Iterator[None]:
    """nft rules in the router's forward hook, removed afterwards."""
    router = lab.topo.router
    nft = ["ip", "netns", "exec", router, "nft"]
    subprocess.run([*nft, "add table ip lab"], check=True)
    subprocess.run(
        [*nft, "add chain ip lab lossy { type filter hook forward priority 0 ; }"], check=True
    )
    try:
        for rule in rules:
            subprocess.run([*nft, f"add rule ip lab lossy {rule}"], check=True)
        yield
    finally:
        subprocess.run([*nft, "delete table ip lab"], check=True)


def test_loss_and_duplication_lose_nothing(lab: Lab, tmp_path: Path) -> None:
    r0, r1 = lab.topo.dev("r0"), lab.topo.dev("r1")
    cores = []
    with router_rules(
        lab,
        "meta l4proto udp numgen random mod 100 < 4 drop",  # 4 % of both directions
        f"ip daddr {SERVER} udp dport != 0 numgen random mod 100 < 5 dup to {SERVER} device {r1}",
        f"ip daddr {CLIENT} udp dport != 0 numgen random mod 100 < 5 dup to {CLIENT} device {r0}",
    ):
        for index in range(3):
            core = tmp_path / f"core{index}"
            core.write_bytes(os.urandom(400_000))
            before = _last_name(lab)
            done = lab.send(core, "--payload", "1448")
            assert done.returncode == 0, lab.why(done)
            lab.wait_last_changed(before)
            cores.append((core, lab.last("vmcore")))
    for sent, received in cores:
        assert received.read_bytes() == sent.read_bytes()
        info = lab.dumpdir / received.name.replace("vmcore", "info")
        assert "  Data: complete," in info.read_text()


def test_32_concurrent_senders(lab: Lab, tmp_path: Path) -> None:
    sources = {}
    for index in range(32):
        core = tmp_path / f"core{index}"
        core.write_bytes(os.urandom(200_000))
        sources[f"sender{index}"] = core.read_bytes()
    cores = [str(tmp_path / f"core{index}") for index in range(32)]
    done = lab.client(sys.executable, "-m", "tests.netns_senders", SERVER, CLIENT, *cores)
    assert done.returncode == 0, lab.why(done)
    received = {}
    for info in lab.dumpdir.glob("info.crashbox.[0-9]*"):
        match = re.search(r"^  Hostname: (sender\d+)$", info.read_text(), re.MULTILINE)
        if match:
            assert info.read_text().endswith("Dump complete\n")
            core = lab.dumpdir / info.name.replace("info", "vmcore")
            received[match.group(1)] = core.read_bytes()
    assert received == sources


def test_a_killed_sender_ends_as_incomplete_after_the_timeout(lab: Lab, tmp_path: Path) -> None:
    core = tmp_path / "core"
    data = os.urandom(8 << 20)
    core.write_bytes(data)
    env = {**os.environ, "DUMPON_BACKEND": f"file:{lab.backend}"}
    existing = set(lab.dumpdir.glob("vmcore.crashbox.[0-9]*"))
    sender = subprocess.Popen(
        ["ip", "netns", "exec", lab.topo.client, script("netdump"), "send", "-q", "-s", SERVER,
         "-c", CLIENT, *FAST, str(core)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        new: list[Path] = []
        for _ in range(300):
            new = [p for p in lab.dumpdir.glob("vmcore.crashbox.[0-9]*") if p not in existing]
            if new and new[0].stat().st_size > 1 << 20:
                break
            time.sleep(0.02)
        assert new, "the dump did not start"
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait()
    info = lab.dumpdir / new[0].name.replace("vmcore", "info")
    for _ in range(150):  # netdumpd --timeout 4
        if info.read_text().endswith("Dump incomplete: client timed out\n"):
            break
        time.sleep(0.1)
    text = info.read_text()
    assert text.endswith("Dump incomplete: client timed out\n"), text
    match = re.search(r"  Data: (\d+)B received", text)
    assert match is not None, text
    received = int(match.group(1))
    stored = new[0].read_bytes()
    assert 1 << 20 < received < len(data)
    assert stored[:received] == data[:received]  # the sender sends in order
