"""`netdump check`: a test dump with the given or the configured settings, and its report."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dumpon.cli.netdump_check import PANIC, pattern
from dumpon.crypto import ekcd
from dumpon.protocol.kdh import KernelDumpHeader
from tests.ekcd_support import make_key_pair
from tests.netdump_receiver import Receiver
from tests.netns_topology import PYTHON, ROOT, Topology, requires_netns, three_namespaces
from tests.support import run, script
from tests.test_send_parts import write_emulation_state

FAST = ["--polls", "20", "--retries", "2", "--client-port", "0"]


def test_pattern_names_its_offsets() -> None:
    data = pattern(1 << 20)
    assert len(data) == 1 << 20
    assert data[64 * 1000 : 64 * 1001] == b"netdump check 0x" + b"%016x" % (64 * 1000) + (
        b" " * 31 + b"\n"
    )
    assert pattern(100) == data[:100]


def test_check_with_options(tmp_path: Path) -> None:
    receiver = Receiver(timeout=10).start()
    done = run(
        [script("netdump"), "check", "-s", "127.0.0.1", "--port", str(receiver.herald_port), *FAST]
    )
    got = receiver.join()
    assert done.returncode == 0, done.stderr
    assert bytes(got.body) == pattern(1 << 20)
    assert KernelDumpHeader.parse(got.kdh).panicstring == PANIC
    for label in ("server:", "HERALD RTT:", "throughput:", "packets:", "outcome:"):
        assert label in done.stdout
    assert f"127.0.0.1 (data port {got.data_port})" in done.stdout
    assert "FINISHED acknowledged" in done.stdout


def test_check_without_configuration(tmp_path: Path) -> None:
    done = run([script("netdump"), "check"])
    assert done.returncode == 78
    assert "netdump is not configured: give -s SERVER" in done.stderr


def test_tunables_come_from_the_backend(tmp_path: Path) -> None:
    state = tmp_path / "kernel.json"
    write_emulation_state(state, {"net.netdump.path": "from/sysctl", "net.netdump.retries": 0})
    receiver = Receiver(timeout=10).start()
    done = run(
        [script("netdump"), "check", "-s", "127.0.0.1", "--port", str(receiver.herald_port),
         "--size", "1000", "--client-port", "0", "--backend", f"file:{state}"]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert receiver.join().herald_path == b"from/sysctl"
    receiver = Receiver(timeout=10).start()
    done = run(
        [script("netdump"), "check", "-s", "127.0.0.1", "--port", str(receiver.herald_port),
         "--size", "1000", "--client-port", "0", "--backend", f"file:{state}",
         "--path", "from/option"]
    )  # fmt: skip
    assert receiver.join().herald_path == b"from/option"


def _receiver_in(topo: Topology, outdir: Path) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        ["ip", "netns", "exec", topo.server, PYTHON, "-m", "tests.netdump_receiver",
         "10.66.2.2", str(outdir)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    return child, int(child.stdout.readline())


@pytest.mark.root
@requires_netns
def test_check_uses_the_configuration_and_key_dumpon_set(tmp_path: Path) -> None:
    keys = make_key_pair(tmp_path / "keys")
    state = f"file:{tmp_path / 'kernel.json'}"
    env = {"DUMPON_BACKEND": state}
    with three_namespaces() as topo:
        iface = topo.dev("c0")
        done = run(
            [script("dumpon"), "-s", "10.66.2.2", "-c", "10.66.1.2", "-g", "10.66.1.1",
             "-k", str(keys.public_pem), "-Z", iface],
            env=env, netns=topo.client,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        child, port = _receiver_in(topo, tmp_path)
        done = run(
            [script("netdump"), "check", "--port", str(port), "--size", "200000", *FAST],
            env=env, netns=topo.client,
        )  # fmt: skip
        assert child.wait(timeout=20) == 0
    assert done.returncode == 0, done.stderr
    assert "kernel configuration" in done.stdout
    assert f"interface:   {iface}" in done.stdout
    assert "client:      10.66.1.2" in done.stdout
    header = KernelDumpHeader.parse((tmp_path / "kdh").read_bytes())
    assert header.compression == 2  # dumpon -Z, recorded by the emulation
    blob = ekcd.KeyBlob.parse((tmp_path / "key").read_bytes())
    key = ekcd.unwrap_key(keys.private, blob.wrapped)
    body = (tmp_path / "body").read_bytes()
    out = bytearray(len(body))
    ekcd.body_cipher(blob.cipher, key, blob.iv, encrypt=False).update_into(body, out)
    import zstandard

    plain = zstandard.ZstdDecompressor().decompressobj().decompress(bytes(out[: header.dumplength]))
    assert plain == pattern(200000)


@pytest.mark.root
@requires_netns
def test_send_through_a_lossy_router(tmp_path: Path) -> None:
    """2 % of the datagrams each way are dropped by nft on the router; the dump still
    arrives byte for byte, with resends."""
    core = tmp_path / "core"
    data = os.urandom(3 << 20)
    core.write_bytes(data)
    with three_namespaces() as topo:
        rules = (
            "table inet loss {\n chain forward {\n  type filter hook forward priority 0;\n"
            "  meta l4proto udp numgen random mod 100 < 2 drop\n }\n}\n"
        )
        nft = subprocess.run(
            ["ip", "netns", "exec", topo.router, "nft", "-f", "-"],
            input=rules, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if nft.returncode != 0:
            pytest.skip(f"nft cannot load a ruleset here: {nft.stderr.strip()}")
        child, port = _receiver_in(topo, tmp_path)
        done = run(
            [script("netdump"), "send", str(core), "-s", "10.66.2.2", "-c", "10.66.1.2",
             topo.dev("c0"), "--port", str(port), "--polls", "20", "--retries", "50",
             "--client-port", "0", "--payload", "1448"],
            netns=topo.client, timeout=60,
        )  # fmt: skip
        assert child.wait(timeout=30) == 0
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "body").read_bytes() == data
    retransmitted = int(done.stdout.split("(")[-1].split()[0])
    assert retransmitted > 0


@pytest.mark.root
@requires_netns
def test_acks_from_another_address_are_a_wrong_source(tmp_path: Path) -> None:
    """A server that answers from an address the HERALD was not sent to is ignored, as by
    the kernel, and the failure says so."""
    with three_namespaces() as topo:
        ip_args = ["ip", "-n", topo.server, "addr", "add", "10.66.2.3/24", "dev", topo.dev("s0")]
        subprocess.run(ip_args, check=True)
        responder = subprocess.Popen(
            ["ip", "netns", "exec", topo.server, PYTHON, "-c",
             "import socket\n"
             "h = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); h.bind(('10.66.2.2', 0))\n"
             "o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); o.bind(('10.66.2.3', 0))\n"
             "print(h.getsockname()[1], flush=True)\n"
             "while True:\n"
             "    d, a = h.recvfrom(100); o.sendto(d[4:8], a)\n"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert responder.stdout is not None
            port = responder.stdout.readline().strip()
            done = run(
                [script("netdump"), "check", "-s", "10.66.2.2", "--port", port,
                 "--polls", "20", "--retries", "1", "--client-port", "0"],
                netns=topo.client,
            )  # fmt: skip
        finally:
            responder.kill()
            responder.wait()
    assert done.returncode == 78
    assert "wrong source address: ACKs came from 10.66.2.3, not from 10.66.2.2" in done.stderr
