"""recvmmsg(2)/sendmmsg(2) batches over real loopback UDP sockets (Linux only)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dumpon.server import mmsg

ROOM = 100


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two UDP sockets on loopback (ephemeral ports) connected to each other."""
    ours = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    theirs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for sock in (ours, theirs):
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
    ours.connect(theirs.getsockname())
    theirs.connect(ours.getsockname())
    ours.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


def _batcher(slots: int) -> mmsg.Batcher:
    batcher = mmsg.batcher(bytearray(ROOM * slots), ROOM, slots)
    if batcher is None:
        pytest.skip("recvmmsg/sendmmsg are used on Linux only")
    return batcher


def _drain(batcher: mmsg.Batcher, sock: socket.socket) -> list[list[bytes]]:
    calls: list[list[bytes]] = []
    for _ in range(10):
        datagrams = [bytes(view) for view in batcher.receive(sock.fileno())]
        if not datagrams:
            return calls
        calls.append(datagrams)
    raise AssertionError("the socket never ran dry")


def test_waiting_datagrams_arrive_a_batch_per_call(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    batcher = _batcher(slots=4)
    assert batcher.receive(ours.fileno()) == []
    sent = [bytes([index]) * (index * 17) for index in range(6)]  # the first one is empty
    for datagram in sent:
        theirs.send(datagram)
    assert _drain(batcher, ours) == [sent[:4], sent[4:]]


def test_a_datagram_longer_than_a_slot_is_cut_to_the_slot(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """The caller sizes slots one byte past the longest message, so a cut one shows."""
    ours, theirs = pair
    batcher = _batcher(slots=2)
    theirs.send(b"a" * (ROOM + 50))
    theirs.send(b"b" * 3)
    assert _drain(batcher, ours) == [[b"a" * ROOM, b"b" * 3]]


def test_acks_sent_in_one_call_arrive_in_order(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    batcher = _batcher(slots=2)
    acks = [index.to_bytes(mmsg.ACK_SIZE, "big") for index in range(5)]  # more than 2 slots
    assert batcher.send(ours.fileno(), acks) is None
    assert [theirs.recv(64) for _ in acks] == acks


def test_an_icmp_error_for_an_ack_is_skipped(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """A client that went away: its port unreachable comes back as ECONNREFUSED."""
    ours, theirs = pair
    batcher = _batcher(slots=2)
    theirs.close()
    assert batcher.send(ours.fileno(), [bytes(mmsg.ACK_SIZE)]) is None
    assert batcher.receive(ours.fileno()) == []  # recv() would raise ConnectionRefusedError


def test_a_buffer_without_room_for_every_slot_is_refused() -> None:
    if mmsg.batcher(bytearray(ROOM), ROOM, 1) is None:
        pytest.skip("recvmmsg/sendmmsg are used on Linux only")
    with pytest.raises(ValueError, match="no room for 2 slots"):
        mmsg.batcher(bytearray(ROOM), ROOM, 2)
