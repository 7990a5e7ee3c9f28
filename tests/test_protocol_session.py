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
    Outcome,
    ServerSession,
    SessionState,
    parse_herald,
)
from dumpon.protocol.wire import (
    HEADER,
    HEADER_SIZE,
    Message,
    MessageType,
    WireError,
    pack_ack,
    pack_header,
)


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


# --- a batch of body messages at once (the server's recvmmsg(2) path) ---------------------

# What a receive slot may still hold from an earlier, longer datagram: a plausible header.
_LEFTOVER = pack_header(MessageType.VMCORE, 1, 0, 0)


def _batch(datagrams: list[bytes]) -> tuple[tuple[int, ...], list[int]]:
    """receive_body_run()'s view of `datagrams`: their header fields and their sizes."""
    fields: list[int] = []
    for datagram in datagrams:
        slot = datagram + _LEFTOVER[len(datagram) :]
        fields.extend(HEADER.unpack_from(slot))
    return tuple(fields), [len(datagram) for datagram in datagrams]


def _one_by_one(session: ServerSession, datagrams: list[bytes]) -> list[Outcome]:
    return [session.receive(datagram) for datagram in datagrams]


def test_a_run_of_body_messages_is_taken_at_once() -> None:
    session = ServerSession()
    session.receive(_msg(MessageType.VMCORE, 2, 100, b"xy"))
    pieces = [(96, b"abcd"), (100, b"efg"), (103, b""), (103, b"h")]
    run = [_msg(MessageType.VMCORE, seqno, at, data) for seqno, (at, data) in enumerate(pieces, 3)]
    assert session.receive_body_run(*_batch(run)) == (96, 6)  # 100 and 101 came before
    assert list(session.body) == [(96, 104)]


@pytest.mark.parametrize(
    ("datagram", "why"),
    [
        (b"\0" * 10, "runt"),
        (pack_header(MessageType.VMCORE, 3, 4, 5) + b"abc", "length field"),
        (_msg(MessageType.KDH, 3, 4, b"abcd"), "not body data"),
        (_msg(MessageType.FINISHED, 3, 4), "not body data"),
        (_msg(MessageType.VMCORE, 3, 5, b"abcd"), "not where the first ends"),
        (_msg(MessageType.VMCORE, 3, 4, bytes(4097)), "payload over the limit"),
        (_msg(MessageType.VMCORE, 3, 9998, b"abcd"), "past the body limit"),
    ],
)
def test_a_batch_with_anything_else_is_left_to_receive(datagram: bytes, why: str) -> None:
    session = ServerSession(max_payload=4096, max_body=10000)
    batch = [_msg(MessageType.VMCORE, 2, 0, b"abcd"), datagram]
    if why == "past the body limit":
        batch = [_msg(MessageType.VMCORE, 2, 9994, b"abcd"), datagram]
    assert session.receive_body_run(*_batch(batch)) is None, why
    assert session.body.total == 0 and not session.any_data_received


_body_messages = st.lists(
    st.tuples(
        st.sampled_from([MessageType.VMCORE] * 6 + [MessageType.KDH, MessageType.FINISHED]),
        st.integers(0, 300),
        st.integers(0, 40),
        st.sampled_from([0, 0, 0, 1, -1]),  # a length field off by one now and then
    ),
    min_size=1,
    max_size=12,
)


@given(_body_messages, st.booleans())
def test_a_run_is_handled_as_one_by_one_would_be(
    messages: list[tuple[int, int, int, int]], contiguous: bool
) -> None:
    """Whatever the batch, receive_body_run() takes it only if receive() would take each
    datagram as new-or-repeated body data, and then leaves the same state behind."""
    datagrams, offset = [], 0
    for seqno, (kind, start, size, skew) in enumerate(messages, 2):
        start = offset if contiguous else start
        header = pack_header(kind, seqno, start, max(0, size + skew))
        datagrams.append(header + bytes([seqno]) * size)
        offset = start + size
    batched, single = ServerSession(max_body=320), ServerSession(max_body=320)
    single.receive(_msg(MessageType.VMCORE, 1, 50, bytes(20)))
    batched.receive(_msg(MessageType.VMCORE, 1, 50, bytes(20)))
    before = single.body.total
    run = batched.receive_body_run(*_batch(datagrams))
    outcomes = _one_by_one(single, datagrams)
    taken = all(  # ACKed as new or repeated body data
        outcome.ack is not None and datagram[3] == MessageType.VMCORE
        for datagram, outcome in zip(datagrams, outcomes, strict=True)
    )
    spans = [HEADER.unpack_from(d)[2:4] for d in datagrams if len(d) >= HEADER_SIZE]
    back_to_back = all(a + n == b for (a, n), (b, _) in itertools.pairwise(spans))
    if not (taken and back_to_back):
        assert run is None
        assert batched.body.total == 20
        return
    assert run == (spans[0][0], single.body.total - before)
    assert list(batched.body) == list(single.body)
    assert batched.any_data_received
