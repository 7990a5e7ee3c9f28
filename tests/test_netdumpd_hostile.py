"""Hostile input: random and malformed datagrams, spoofed sources, a full disk."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dumpon.protocol.wire import Message, MessageType
from tests.server_support import RunningServer, client_of, header, running_server, wait_for
from tests.support import requires_netns


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    top = tmp_path_factory.mktemp("hostile")
    crash = top / "crash"
    (crash / "sub").mkdir(parents=True)
    (crash / "link").symlink_to(str(top))
    settings = {"max_clients": 64, "max_dump_size": 1 << 24, "timeout": 2}
    settings |= {"max_dumps": 4, "rotate": True}
    with running_server(crash, **settings) as server:
        yield server, top


def _messages(kinds: st.SearchStrategy[int]) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda kind, seqno, offset, payload, wrong: Message(kind, seqno, offset, payload).pack()[
            : None if wrong is None else wrong
        ],
        kinds,
        st.integers(0, 2**32 - 1),
        st.one_of(st.integers(0, 1 << 20), st.integers(0, 2**64 - 1)),
        st.binary(max_size=600),
        st.one_of(st.none(), st.integers(-30, 40)),
    )


# no FINISHED on the dump port: the test's own dump must survive to be checked
_to_dump = st.lists(
    st.one_of(_messages(st.integers(0, 7).filter(lambda k: k != 2)), st.binary(max_size=100)),
    max_size=20,
)
_to_herald = st.lists(st.one_of(_messages(st.integers(0, 7)), st.binary(max_size=100)), max_size=8)


@settings(
    max_examples=60,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking a network exchange takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(to_dump=_to_dump, to_herald=_to_herald)
def test_random_datagrams_break_nothing(
    shared: tuple[RunningServer, Path], to_dump: list[bytes], to_herald: list[bytes]
) -> None:
    server, top = shared
    client = client_of(server, timeout=0.5)
    try:
        client.herald(b"link")  # a path through a symbolic link that leaves: refused
        for datagram in to_dump:
            client.send_raw(datagram)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            for datagram in to_herald:
                other.sendto(datagram, ("127.0.0.1", server.port))
        client.exchange(MessageType.VMCORE, 0, b"still served")
        client.exchange(MessageType.FINISHED, 0, b"")
    finally:
        client.close()
    assert server.thread.is_alive()
    assert server.server.dumps <= 64
    assert {p.name for p in top.iterdir()} == {"crash"}  # nothing written outside
    # disk use, not apparent size: random offsets make sparse files
    used = sum(p.stat().st_blocks * 512 for p in (top / "crash").iterdir() if p.is_file())
    assert used <= 4 * (1 << 24) + (1 << 20)


def test_datagrams_from_other_sources_do_not_reach_a_dump(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        client = client_of(server)
        client.herald()
        for source in ("127.0.0.1", "127.0.0.2"):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spoof:
                spoof.bind((source, 0))
                spoof.settimeout(0.2)
                spoof.sendto(
                    Message(MessageType.VMCORE, 5, 0, b"forged").pack(),
                    ("127.0.0.1", client.dump_port or 0),
                )
                with pytest.raises(TimeoutError):
                    spoof.recv(16)
        client.exchange(MessageType.VMCORE, 100, b"real")
        client.exchange(MessageType.FINISHED, 0, b"")
    assert (tmp_path / "vmcore.localhost.0").read_bytes() == bytes(100) + b"real"


@requires_netns
def test_a_full_disk_fails_that_dump_and_no_other(tmp_path: Path) -> None:
    crash = tmp_path / "crash"
    small = crash / "small"
    small.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=True)
    try:
        handler = tmp_path / "handler.sh"
        handler.write_text(f'#!/bin/sh\necho "$1 $5" >> {tmp_path}/handler.log\n')
        handler.chmod(0o755)
        with running_server(crash, handler=handler) as server:
            victim, bystander = client_of(server, timeout=0.3), client_of(server)
            victim.herald(b"small")
            bystander.herald()
            body = os.urandom(100_000)
            bystander.body(body[:50_000])
            acked = 0
            for offset in range(0, 1 << 20, 4096):
                seqno = victim.send(MessageType.VMCORE, offset, os.urandom(4096))
                if victim.ack() != seqno:
                    break
                acked = offset + 4096
            assert acked < 256 * 1024
            bystander.body(body[50_000:], base=50_000)  # the other dump goes on
            bystander.exchange(MessageType.KDH, 0, header(len(body)))
            bystander.exchange(MessageType.FINISHED, 0, b"")
            wait_for(lambda: (tmp_path / "handler.log").exists()
                     and len((tmp_path / "handler.log").read_text().splitlines()) == 2)  # fmt: skip
        assert (crash / "vmcore.localhost.0").read_bytes() == body
        text = (small / "info.localhost.0").read_text()
        assert "Dump unsuccessful: write error @ offset" in text
        assert text.endswith("No space left on device\n")
        log = (tmp_path / "handler.log").read_text().splitlines()
        assert sorted(log) == ["error ./small/vmcore.localhost.0", "success ./vmcore.localhost.0"]
        with (small / "vmcore.localhost.0").open("rb") as core:
            assert len(core.read()) >= acked  # every acknowledged byte is there
    finally:
        subprocess.run(["umount", str(small)], check=False)
