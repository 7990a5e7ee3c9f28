"""recvmmsg(2)/sendmmsg(2) batches over real loopback UDP sockets (Linux only)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dumpon.protocol.wire import HEADER, HEADER_SIZE, MessageType, pack_ack
from dumpon.server import mmsg

MAX_PAYLOAD = 76  # a datagram holds at most a header and 77 bytes (one more, to show a cut)


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
    batcher = mmsg.batcher(MAX_PAYLOAD, slots)
    if batcher is None:
        pytest.skip("recvmmsg/sendmmsg are used on Linux only")
    return batcher


def _drain(batcher: mmsg.Batcher, sock: socket.socket, payload: int) -> list[list[bytes]]:
    calls: list[list[bytes]] = []
    for _ in range(10):
        sizes = batcher.receive(sock.fileno(), payload)
        if not sizes:
            return calls
        calls.append([bytes(view) for view in batcher.datagrams(sizes)])
    raise AssertionError("the socket never ran dry")


def _message(seqno: int, offset: int, payload: bytes) -> bytes:
    return HEADER.pack(MessageType.VMCORE, seqno, offset, len(payload), 0) + payload


def test_waiting_datagrams_arrive_a_batch_per_call(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """Whole, whatever their size: empty, runts, a header alone, payloads that spill."""
    ours, theirs = pair
    batcher = _batcher(slots=4)
    assert batcher.receive(ours.fileno(), 20) == []
    sent = [bytes([index]) * (index * 17) for index in range(6)]  # 0 to 85 bytes
    for datagram in sent:
        theirs.send(datagram)
    assert _drain(batcher, ours, payload=20) == [sent[:4], sent[4:]]


def test_a_datagram_longer_than_the_largest_message_is_cut_one_byte_past_it(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """Slots hold one byte more than the longest message, so that a cut one shows."""
    ours, theirs = pair
    batcher = _batcher(slots=2)
    theirs.send(b"a" * (HEADER_SIZE + MAX_PAYLOAD + 50))
    theirs.send(b"b" * 3)
    assert _drain(batcher, ours, payload=10) == [[b"a" * (HEADER_SIZE + MAX_PAYLOAD + 1), b"bbb"]]


def test_headers_of_a_batch_come_at_once(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    batcher = _batcher(slots=4)
    payloads = [b"x" * 30, b"", b"y" * MAX_PAYLOAD]
    for seqno, payload in enumerate(payloads, 7):
        theirs.send(_message(seqno, seqno * 1000, payload))
    theirs.send(b"runt")
    sizes = batcher.receive(ours.fileno(), 30)
    assert sizes == [HEADER_SIZE + len(payload) for payload in payloads] + [4]
    fields = batcher.headers(3)
    assert [fields[i : i + 5] for i in range(0, 15, 5)] == [
        (MessageType.VMCORE, seqno, seqno * 1000, len(payload), 0)
        for seqno, payload in enumerate(payloads, 7)
    ]


def test_payloads_of_the_clients_size_are_one_piece(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    batcher = _batcher(slots=4)
    payloads = [os.urandom(32), os.urandom(32), os.urandom(32), os.urandom(5)]
    for seqno, payload in enumerate(payloads):
        theirs.send(_message(seqno, 0, payload))
    pieces = batcher.payloads(batcher.receive(ours.fileno(), 32))
    assert [bytes(piece) for piece in pieces] == [b"".join(payloads)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, MAX_PAYLOAD), min_size=1, max_size=6),
    st.integers(1, MAX_PAYLOAD),
)
def test_payloads_of_any_size_come_back_in_order(lengths: list[int], payload: int) -> None:
    """Short ones, empty ones and ones that spill past the client's size alike."""
    batcher = _batcher(slots=6)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ours,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as theirs,
    ):
        ours.bind(("127.0.0.1", 0))
        theirs.connect(ours.getsockname())
        sent = [os.urandom(length) for length in lengths]
        for seqno, body in enumerate(sent):
            theirs.send(_message(seqno, 0, body))
        ours.settimeout(2)
        ours.recv(1, socket.MSG_PEEK)  # wait for the first; the rest follow on loopback
        sizes: list[int] = []
        while len(sizes) < len(sent):
            sizes = batcher.receive(ours.fileno(), payload)
            assert sizes, "a datagram went missing on loopback"
        pieces = batcher.payloads(sizes)
        assert b"".join(bytes(piece) for piece in pieces) == b"".join(sent)
        assert len(pieces) <= len(sent) + sum(length > payload for length in lengths)
        assert [bytes(view)[HEADER_SIZE:] for view in batcher.datagrams(sizes)] == sent


def test_each_ack_of_a_batch_is_its_datagrams_seqno(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    batcher = _batcher(slots=4)
    seqnos = [1, 0xFFFFFFFF, 0x01020304]
    for seqno in seqnos:
        theirs.send(_message(seqno, 0, b"payload"))
    assert len(batcher.receive(ours.fileno(), 7)) == 3
    assert batcher.acknowledge(ours.fileno(), 2) is None  # the first two only
    assert [theirs.recv(64) for _ in range(2)] == [pack_ack(seqno) for seqno in seqnos[:2]]
    theirs.settimeout(0.1)
    with pytest.raises(TimeoutError):
        theirs.recv(64)


def test_clients_of_many_payload_sizes_build_few_layouts(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    batcher = _batcher(slots=2)
    for payload in range(1, 3 * mmsg.LAYOUTS):
        body = bytes([payload]) * payload
        theirs.send(_message(payload, 0, body))
        ours.settimeout(2)
        ours.recv(1, socket.MSG_PEEK)
        sizes = batcher.receive(ours.fileno(), payload)
        assert [bytes(piece) for piece in batcher.payloads(sizes)] == [body]
        assert len(batcher._layouts) <= mmsg.LAYOUTS


def test_acks_sent_in_one_call_arrive_in_order(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    batcher = _batcher(slots=2)
    acks = [index.to_bytes(4, "big") for index in range(5)]  # more than 2 slots
    assert batcher.send(ours.fileno(), acks) is None
    assert [theirs.recv(64) for _ in acks] == acks


def test_an_icmp_error_for_an_ack_is_skipped(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """A client that went away: its port unreachable comes back as ECONNREFUSED."""
    ours, theirs = pair
    batcher = _batcher(slots=2)
    theirs.close()
    assert batcher.send(ours.fileno(), [bytes(4)]) is None
    assert batcher.receive(ours.fileno(), 4) == []  # recv() would raise ConnectionRefusedError
