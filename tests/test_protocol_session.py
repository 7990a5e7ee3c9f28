"""The server session machine: what it ACKs, what it stores, holes against dumplength."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dumpon.protocol.kdh import KernelDumpHeader
from dumpon.protocol.ranges import RangeSet
from dumpon.protocol.session import (
    BodyData,
    Finished,
    HeaderReceived,
    KeyData,
    ServerSession,
    SessionState,
    parse_herald,
)
from dumpon.protocol.wire import Message, MessageType, WireError, pack_ack, pack_header


def _kdh(length: int, keysize: int = 0) -> bytes:
    return KernelDumpHeader(
        "amd64", 2, length, 1700000000, "h", "v\n", "p", dumpkeysize=keysize
    ).pack()


def _msg(kind: MessageType, seqno: int, offset: int = 0, payload: bytes = b"") -> bytes:
    return Message(kind, seqno, offset, payload).pack()


def test_herald() -> None:
    assert parse_herald(_msg(MessageType.HERALD, 1, 0, b"sub/dir\0")).path == b"sub/dir"
    assert parse_herald(_msg(MessageType.HERALD, 7)).seqno == 7
    with pytest.raises(WireError, match="type 3 on the herald port"):
        parse_herald(_msg(MessageType.VMCORE, 1))


def test_a_whole_dump() -> None:
    session = ServerSession()
    first = session.receive(_msg(MessageType.VMCORE, 2, 0, b"abcd"))
    assert first.ack == pack_ack(2)
    assert first.event == BodyData(0, b"abcd")
    assert session.any_data_received
    second = session.receive(_msg(MessageType.VMCORE, 3, 4, b"ef"))
    assert second.event == BodyData(4, b"ef")
    kdh = _kdh(6)
    header = session.receive(_msg(MessageType.KDH, 4, 0, kdh))
    assert isinstance(header.event, HeaderReceived)
    assert header.event.parity_ok
    assert header.event.header.dumplength == 6
    done = session.receive(_msg(MessageType.FINISHED, 5))
    assert done == type(done)(pack_ack(5), Finished(True, ()))
    assert session.state is SessionState.FINISHED
    assert session.receive(_msg(MessageType.FINISHED, 5)).event is None  # ACKed again


def test_duplicates_are_acked_and_not_stored_twice() -> None:
    session = ServerSession()
    session.receive(_msg(MessageType.VMCORE, 2, 0, b"abcd"))
    again = session.receive(_msg(MessageType.VMCORE, 2, 0, b"abcd"))
    assert (again.ack, again.event) == (pack_ack(2), None)
    kdh = _kdh(4)
    session.receive(_msg(MessageType.KDH, 3, 0, kdh))
    assert session.receive(_msg(MessageType.KDH, 3, 0, kdh)).event is None
    other = session.receive(_msg(MessageType.KDH, 9, 0, _kdh(5)))
    assert other.ack is None
    assert "different KDH" in other.reason


def test_holes_against_dumplength() -> None:
    session = ServerSession()
    session.receive(_msg(MessageType.VMCORE, 2, 4096, b"x" * 100))
    session.receive(_msg(MessageType.KDH, 3, 0, _kdh(8192)))
    outcome = session.receive(_msg(MessageType.FINISHED, 4))
    assert outcome.event == Finished(False, ((0, 4096), (4196, 8192)))
    assert not session.complete


def test_compressed_padding_past_dumplength_is_not_a_hole() -> None:
    session = ServerSession()
    session.receive(_msg(MessageType.VMCORE, 2, 0, b"z" * 4096))
    session.receive(_msg(MessageType.KDH, 3, 0, _kdh(1000)))
    assert session.holes() == []
    assert session.complete


def test_key_before_or_after_the_kdh() -> None:
    blob = bytes(range(256)) * 16
    for key_first in (True, False):
        session = ServerSession()
        messages = [
            _msg(MessageType.EKCD_KEY, 2, 0, blob[:1448]),
            _msg(MessageType.EKCD_KEY, 3, 1448, blob[1448:]),
        ]
        header = _msg(MessageType.KDH, 9, 0, _kdh(0, keysize=4096))
        order = [*messages, header] if key_first else [header, *messages]
        events = [session.receive(m).event for m in order]
        assert KeyData(0, blob[:1448]) in events
        assert session.key_blob() == blob
        assert session.complete
        assert session.receive(messages[0]).event is None


def test_missing_key_makes_the_dump_incomplete() -> None:
    session = ServerSession()
    session.receive(_msg(MessageType.KDH, 2, 0, _kdh(0, keysize=4096)))
    session.receive(_msg(MessageType.EKCD_KEY, 3, 0, b"k" * 1448))
    assert not session.complete


def test_kdh_in_pieces() -> None:
    session = ServerSession()
    kdh = _kdh(0)
    first = session.receive(_msg(MessageType.KDH, 2, 0, kdh[:300]))
    assert (first.ack, first.event) == (pack_ack(2), None)
    second = session.receive(_msg(MessageType.KDH, 3, 300, kdh[300:]))
    assert isinstance(second.event, HeaderReceived)
    assert session.receive(_msg(MessageType.KDH, 2, 0, kdh[:300])).ack == pack_ack(2)


def test_bad_parity_is_acked_and_reported() -> None:
    raw = bytearray(_kdh(0))
    raw[100] ^= 1
    outcome = ServerSession().receive(_msg(MessageType.KDH, 2, 0, bytes(raw)))
    assert outcome.ack == pack_ack(2)
    assert isinstance(outcome.event, HeaderReceived)
    assert not outcome.event.parity_ok


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"\0" * 10, "runt"),
        (pack_header(3, 2, 0, 5) + b"abc", "does not match"),
        (_msg(MessageType.HERALD, 2), "unexpected message type 1"),
        (pack_header(9, 2, 0, 0), "unexpected message type 9"),
        (_msg(MessageType.KDH, 2, 512, bytes(100)), "KDH data at offset 512"),
        (_msg(MessageType.KDH, 2, 0, bytes(512)), "bad KDH: header version 0"),
        (_msg(MessageType.EKCD_KEY, 2, 65536, b"k"), "past the limit"),
    ],
)
def test_dropped_without_ack(datagram: bytes, reason: str) -> None:
    outcome = ServerSession().receive(datagram)
    assert outcome.ack is None
    assert reason in outcome.reason


def test_limits() -> None:
    small = ServerSession(max_payload=4096, max_body=10000)
    assert "over 4096" in small.receive(_msg(MessageType.VMCORE, 2, 0, bytes(4097))).reason
    assert "past the limit 10000" in small.receive(_msg(MessageType.VMCORE, 2, 9999, b"ab")).reason


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 50)), max_size=40))
def test_rangeset_against_a_model(ranges: list[tuple[int, int]]) -> None:
    covered: set[int] = set()
    rangeset = RangeSet()
    for start, size in ranges:
        new = set(range(start, start + size)) - covered
        assert rangeset.add(start, start + size) == len(new)
        covered |= new
    assert rangeset.total == len(covered)
    spans = list(rangeset)
    assert len(rangeset) == len(spans)
    assert all(end < nxt for (_, end), (nxt, _) in itertools.pairwise(spans))
    assert {b for s, e in spans for b in range(s, e)} == covered
    holes = rangeset.holes(260)
    assert {b for s, e in holes for b in range(s, e)} == set(range(260)) - covered
    for start, size in ranges:
        assert rangeset.covers(start, start + size)
    assert not rangeset.covers(261, 262)
