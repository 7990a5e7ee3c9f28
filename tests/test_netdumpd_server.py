"""netdumpd end to end on the loopback, in process, message by message (ephemeral ports)."""

from __future__ import annotations

import os
import random
import socket
import stat
import time
from pathlib import Path

import pytest

from dumpon.protocol.wire import HEADER_SIZE, Message, MessageType
from dumpon.server import loop, mmsg
from tests.server_support import client_of, header, running_server, wait_for

HANDLER = """#!/bin/sh
{{ printf '%s\\n' "$@"; env | sort; }} > "{out}/handler.$1.$$"
"""


@pytest.fixture
def handler(tmp_path: Path) -> Path:
    out = tmp_path / "handler-out"
    out.mkdir()
    script = tmp_path / "handler.sh"
    script.write_text(HANDLER.format(out=out))
    script.chmod(0o755)
    return script


@pytest.fixture(params=["batched", "portable"])
def receive_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways of receiving and ACKing: recvmmsg/sendmmsg (Linux) and one call each."""
    if request.param == "portable":
        monkeypatch.setattr(mmsg, "batcher", lambda *_: None)


def handler_runs(script: Path, count: int = 1) -> list[list[str]]:
    out = script.parent / "handler-out"
    wait_for(lambda: len(list(out.iterdir())) >= count)
    time.sleep(0.05)
    return [p.read_text().splitlines() for p in sorted(out.iterdir())]


@pytest.mark.usefixtures("receive_path")
def test_a_whole_dump_lands_with_the_reference_layout(tmp_path: Path, handler: Path) -> None:
    crash = tmp_path / "crash"
    crash.mkdir()
    body = os.urandom(200_000)
    key = os.urandom(4096)
    with running_server(crash, handler=handler) as server:
        client = client_of(server)
        client.herald()
        for offset in range(0, 4096, 1448):
            client.exchange(MessageType.EKCD_KEY, offset, key[offset : offset + 1448])
        client.body(body)
        client.exchange(MessageType.KDH, 0, header(len(body), dumpkeysize=4096))
        client.exchange(MessageType.FINISHED, 0, b"")
        runs = handler_runs(handler)
    files = {p.name: p for p in crash.iterdir()}
    assert set(files) == {
        "bounds.localhost", "info.localhost.0", "vmcore_encrypted.localhost.0",
        "key.localhost.0", "info.localhost.last", "vmcore.localhost.last", "key.localhost.last",
    }  # fmt: skip
    assert files["vmcore_encrypted.localhost.0"].read_bytes() == body
    assert files["key.localhost.0"].read_bytes() == key
    assert stat.S_IMODE(files["key.localhost.0"].stat().st_mode) == 0o400
    assert stat.S_IMODE(files["info.localhost.0"].stat().st_mode) == 0o600
    assert os.readlink(files["vmcore.localhost.last"]) == "vmcore_encrypted.localhost.0"
    assert os.readlink(files["key.localhost.last"]) == "key.localhost.0"
    assert files["bounds.localhost"].read_text() == "1\n"
    text = files["info.localhost.0"].read_text()
    assert text.startswith("Dump from localhost [127.0.0.1]\n  Architecture: amd64\n")
    assert "  Header Parity Check: Pass\n" in text
    assert text.endswith(f"  Data: complete, {len(body)}B\nDump complete\n")
    (argv,) = runs
    assert argv[:5] == ["success", "127.0.0.1", "localhost", "./info.localhost.0",
                        "./vmcore_encrypted.localhost.0"]  # fmt: skip
    assert "NETDUMP_KEY=./key.localhost.0" in argv
    assert f"NETDUMP_DUMPDIR={crash}" in argv


def test_compressed_dump_is_renamed_and_trimmed_once(tmp_path: Path) -> None:
    body = os.urandom(8192)
    with running_server(tmp_path) as server:
        client = client_of(server)
        client.herald()
        client.body(body)
        kdh = header(5000, compression=2)
        client.exchange(MessageType.KDH, 0, kdh)
        client.exchange(MessageType.KDH, 0, kdh)  # a resend after a lost ACK
        client.exchange(MessageType.FINISHED, 0, b"")
        client.exchange(MessageType.FINISHED, 0, b"") if False else None
    assert (tmp_path / "vmcore.localhost.0.zst").read_bytes() == body[:5000]
    text = (tmp_path / "info.localhost.0").read_text()
    assert text.count("Architecture:") == 1
    assert "  Compression: zstd\n" in text


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_duplicate_heralds_reuse_the_dump_socket(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        client = client_of(server)
        port = client.herald()
        before = _open_fds()
        for _ in range(20):
            assert client.herald() == port
        assert _open_fds() == before
        assert server.server.dumps == 1


def test_a_late_copy_of_the_herald_does_not_end_the_dump(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        client = client_of(server)
        port = client.herald()
        client.exchange(MessageType.VMCORE, 0, b"first")
        assert client.herald() == port  # within HERALD_REPEAT_WINDOW: a delayed copy
        client.exchange(MessageType.VMCORE, 5, b"second")
        client.exchange(MessageType.FINISHED, 0, b"")
    assert (tmp_path / "vmcore.localhost.0").read_bytes() == b"firstsecond"


def test_a_new_herald_after_data_ends_the_old_dump(
    tmp_path: Path, handler: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "HERALD_REPEAT_WINDOW", 0.0)
    body = os.urandom(50_000)
    with running_server(tmp_path, handler=handler) as server:
        client = client_of(server)
        first = client.herald()
        client.body(body)
        assert client.herald() != first
        runs = handler_runs(handler)
        client.exchange(MessageType.FINISHED, 0, b"")
    assert runs[0][0] == "timeout"
    assert (tmp_path / "vmcore.localhost.0").read_bytes() == body
    old = (tmp_path / "info.localhost.0").read_text()
    assert old.endswith("Dump incomplete: client started a new dump\n")
    assert "  Data: 50000B received; no kernel dump header" in old
    assert (tmp_path / "info.localhost.1").read_text().endswith("Dump complete\n")


def test_after_the_timeout_every_acknowledged_byte_is_on_disk(tmp_path: Path) -> None:
    body = os.urandom(100_000)
    with running_server(tmp_path, timeout=0.3) as server:
        client = client_of(server)
        client.herald()
        client.body(body[:60_000])
        client.exchange(MessageType.VMCORE, 80_000, body[80_000:81_000])
        client.exchange(MessageType.KDH, 0, header(len(body)))
        wait_for(lambda: server.server.dumps == 0)
    assert (tmp_path / "vmcore.localhost.0").read_bytes()[:60_000] == body[:60_000]
    text = (tmp_path / "info.localhost.0").read_text()
    assert "holes: 0xea60-0x13880, 0x13c68-0x186a0\n" in text
    assert text.endswith("Dump incomplete: client timed out\n")


def test_shutdown_flushes_and_closes_every_dump(tmp_path: Path) -> None:
    body = os.urandom(30_000)
    with running_server(tmp_path) as server:
        client = client_of(server)
        client.herald()
        client.body(body)
    assert (tmp_path / "vmcore.localhost.0").read_bytes() == body
    assert (tmp_path / "info.localhost.0").read_text().endswith("server shut down\n")


@pytest.mark.parametrize(
    ("path", "where"),
    [
        (b"sub", "sub"),
        (b"sub/inner", "sub/deeper"),
        (b"../outside", "."),
        (b"/etc", "."),
        (b"escape", "."),
        (b"missing", "."),
    ],
)
def test_herald_paths_stay_beneath_the_dump_directory(
    tmp_path: Path, path: bytes, where: str
) -> None:
    crash = tmp_path / "crash"
    (crash / "sub" / "deeper").mkdir(parents=True)
    (crash / "sub" / "inner").symlink_to("deeper")
    (crash / "escape").symlink_to(str(tmp_path / "outside"))
    (tmp_path / "outside").mkdir()
    with running_server(crash) as server:
        client = client_of(server)
        client.herald(path)
        client.exchange(MessageType.FINISHED, 0, b"")
    assert (crash / where / "info.localhost.0").exists()
    assert list((tmp_path / "outside").iterdir()) == []


def test_invalid_messages_get_no_ack(tmp_path: Path) -> None:
    with running_server(tmp_path, max_dump_size=1 << 20) as server:
        client = client_of(server, timeout=0.1)
        client.herald()
        good = Message(MessageType.VMCORE, 7, 0, b"x" * 100).pack()
        for bad in (
            b"",
            good[:10],  # runt
            good[:-1],  # length field says more
            good + b"y",  # length field says less
            Message(9, 8, 0, b"").pack(),  # unknown type
            Message(MessageType.HERALD, 8, 0, b"").pack(),  # HERALD on the dump port
            Message(MessageType.VMCORE, 9, (1 << 64) - 10, b"z" * 100).pack(),  # huge offset
            Message(MessageType.VMCORE, 9, 1 << 20, b"z").pack(),  # past --max-dump-size
            Message(MessageType.KDH, 9, 600, b"past the header").pack(),
        ):
            client.send_raw(bad)
            assert client.ack() is None, bad[:HEADER_SIZE]
        client.send_raw(good)
        assert client.ack() == 7


def test_jumbo_payloads_are_accepted(tmp_path: Path) -> None:
    body = os.urandom(8948 * 10)
    with running_server(tmp_path) as server:
        client = client_of(server)
        client.herald()
        client.body(body, chunk=8948)
        client.exchange(MessageType.FINISHED, 0, b"")
    assert (tmp_path / "vmcore.localhost.0").read_bytes() == body


def test_clients_are_keyed_by_address_and_port(tmp_path: Path) -> None:
    bodies = [os.urandom(20_000) for _ in range(3)]
    with running_server(tmp_path) as server:
        clients = [client_of(server) for _ in bodies]
        for client in clients:
            client.herald()
        for client, body in zip(clients, bodies, strict=True):
            client.body(body)
        for client in clients:
            client.exchange(MessageType.FINISHED, 0, b"")
    stored = {(tmp_path / f"vmcore.localhost.{i}").read_bytes() for i in range(3)}
    assert stored == set(bodies)


def test_a_herald_flood_is_bounded(tmp_path: Path) -> None:
    with running_server(tmp_path, max_clients=5) as server:
        clients = [client_of(server, timeout=0.15) for _ in range(12)]
        answered = 0
        for client in clients:
            try:
                client.herald()
                answered += 1
            except TimeoutError:
                pass
        assert answered == 5
        assert server.server.dumps == 5
    assert len(list(tmp_path.glob("info.*"))) == 5


def test_minfree_refuses_new_dumps(tmp_path: Path) -> None:
    with running_server(tmp_path, minfree=1 << 62) as server:
        client = client_of(server, timeout=0.3)
        with pytest.raises(TimeoutError):
            client.herald()
    assert list(tmp_path.iterdir()) == []


def test_rotation_keeps_at_most_max_dumps(tmp_path: Path) -> None:
    with running_server(tmp_path, max_dumps=2, rotate=True) as server:
        for _ in range(4):
            client = client_of(server)
            client.herald()
            client.exchange(MessageType.VMCORE, 0, b"data")
            client.exchange(MessageType.FINISHED, 0, b"")
            time.sleep(0.02)  # distinct modification times
    assert sorted(p.name for p in tmp_path.glob("info.localhost.[0-9]")) == [
        "info.localhost.0",
        "info.localhost.1",
    ]


@pytest.mark.usefixtures("receive_path")
def test_reordered_and_duplicated_messages_make_the_same_dump(tmp_path: Path) -> None:
    body = os.urandom(300_000)
    key = os.urandom(4096)
    chunks = [(MessageType.VMCORE, offset, body[offset : offset + 1448])
              for offset in range(0, len(body), 1448)]  # fmt: skip
    chunks += [(MessageType.EKCD_KEY, offset, key[offset : offset + 1448])
               for offset in range(0, 4096, 1448)]  # fmt: skip
    kdh = header(len(body), dumpkeysize=4096)
    chunks += [(MessageType.KDH, 0, kdh[:300]), (MessageType.KDH, 300, kdh[300:])]
    shuffled = random.Random(7)
    shuffled.shuffle(chunks)
    with running_server(tmp_path) as server:
        client = client_of(server)
        client.herald()
        for first in range(0, len(chunks), 40):
            batch = chunks[first : first + 40]
            batch += shuffled.sample(batch, 8)  # duplicates, in the same window
            shuffled.shuffle(batch)
            seqnos = {client.send(kind, offset, data) for kind, offset, data in batch}
            while seqnos:
                ack = client.ack()
                assert ack is not None
                seqnos.discard(ack)
        client.exchange(MessageType.FINISHED, 0, b"")
    assert (tmp_path / "vmcore_encrypted.localhost.0").read_bytes() == body
    assert (tmp_path / "key.localhost.0").read_bytes() == key
    assert (
        (tmp_path / "info.localhost.0")
        .read_text()
        .endswith("Data: complete, 300000B\nDump complete\n")
    )


def test_a_handler_over_its_time_limit_is_killed(tmp_path: Path) -> None:
    crash = tmp_path / "crash"
    crash.mkdir()
    script = tmp_path / "slow.sh"
    script.write_text(f"#!/bin/sh\nsleep 30 &\necho $! > {tmp_path}/child\nwait\n")
    script.chmod(0o755)
    with running_server(crash, handler=script, handler_timeout=0.3) as server:
        client = client_of(server)
        client.herald()
        client.exchange(MessageType.FINISHED, 0, b"")
        wait_for(lambda: (tmp_path / "child").exists())
        child = int((tmp_path / "child").read_text())
        wait_for(lambda: not Path(f"/proc/{child}").exists() or _zombie(child))


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


@pytest.mark.usefixtures("receive_path")
def test_a_repeated_finished_is_acknowledged_after_the_dump_ended(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        client = client_of(server, timeout=0.3)
        client.herald()
        client.exchange(MessageType.VMCORE, 0, b"data")
        seqno = client.send(MessageType.FINISHED, 0, b"")
        assert client.ack() == seqno
        wait_for(lambda: (tmp_path / "info.localhost.last").is_symlink())
        client.send_raw(Message(MessageType.FINISHED, seqno, 0, b"").pack())  # ACK lost
        assert client.ack() == seqno
        client.send(MessageType.VMCORE, 4, b"late")  # nothing is stored any more
        assert client.ack() is None
    assert (tmp_path / "vmcore.localhost.0").read_bytes() == b"data"


def test_the_ack_comes_from_the_address_the_herald_was_sent_to(tmp_path: Path) -> None:
    with running_server(tmp_path, bind_address="0.0.0.0") as server:
        for address in ("127.0.0.2", "127.0.0.3"):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.bind(("127.0.0.1", 0))
                client.settimeout(2)
                client.sendto(Message(MessageType.HERALD, 1, 0, b"").pack(), (address, server.port))
                ack, source = client.recvfrom(16)
                assert (ack, source[0]) == (b"\0\0\0\1", address)
                client.sendto(Message(MessageType.FINISHED, 2, 0, b"").pack(), source)
                assert client.recv(16) == b"\0\0\0\2"


def _cpu_seconds(thread_id: int) -> float:
    """CPU time (user and system) the thread has used so far."""
    fields = Path(f"/proc/self/task/{thread_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_over(thread_id: int, seconds: float) -> float:
    before = _cpu_seconds(thread_id)
    time.sleep(seconds)
    return _cpu_seconds(thread_id) - before


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc/self/task")
def test_the_loop_polls_without_sleeping_only_while_data_arrives(tmp_path: Path) -> None:
    crash = tmp_path / "crash"
    crash.mkdir()
    with running_server(crash, busy_poll=1.5) as server:
        loop = server.thread.native_id
        assert loop is not None
        assert _cpu_over(loop, 0.5) < 0.1  # idle: asleep
        client = client_of(server)
        client.herald()
        client.exchange(MessageType.VMCORE, 0, b"data")
        assert _cpu_over(loop, 0.5) > 0.15  # polling (on a busy machine, less than all)
        time.sleep(1.2)
        assert _cpu_over(loop, 0.5) < 0.1  # busy_poll after the last datagram: asleep again
