"""The netdump message header and ACK codecs (sys/net/debugnet.h layouts)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dumpon.protocol import wire
from dumpon.protocol.wire import Message, MessageType, WireError


def test_header_layout_is_big_endian_24_bytes() -> None:
    packed = Message(MessageType.VMCORE, 0x01020304, 0x1122334455667788, b"ab").pack()
    assert packed == (bytes.fromhex("00000003 01020304 1122334455667788 00000002 00000000") + b"ab")
    assert wire.HEADER_SIZE == 24


@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**64 - 1),
    st.binary(max_size=64),
    st.integers(0, 2**32 - 1),
)
def test_message_round_trip(kind: int, seqno: int, offset: int, payload: bytes, aux2: int) -> None:
    message = Message(kind, seqno, offset, payload, aux2)
    assert wire.parse_message(message.pack()) == message


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"\0" * 23, "runt datagram of 23 bytes"),
        (wire.pack_header(3, 1, 0, 10) + b"x" * 9, "length field 10 does not match the 9-byte"),
        (wire.pack_header(3, 1, 0, 1) + b"xy", "length field 1 does not match the 2-byte"),
    ],
)
def test_malformed_messages_are_named(datagram: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        wire.parse_message(datagram)


def test_ack_is_exactly_four_bytes() -> None:
    assert wire.pack_ack(0xDEADBEEF) == bytes.fromhex("deadbeef")
    assert wire.parse_ack(bytes.fromhex("deadbeef")) == 0xDEADBEEF
    assert wire.parse_ack(b"\0\0\0\1\0") is None  # 13+ takes only 4-byte payloads
    assert wire.parse_ack(b"\0\0\1") is None


@pytest.mark.parametrize(
    ("mtu", "limit", "size"),
    [(1500, 4096, 1448), (9000, 4096, 4096), (9000, None, 8948), (4148, 4096, 4096)],
)
def test_payload_size(mtu: int, limit: int | None, size: int) -> None:
    assert wire.payload_size(mtu, limit) == size


def test_payload_size_needs_room() -> None:
    with pytest.raises(ValueError, match="MTU 52"):
        wire.payload_size(52)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (b"", None),
        (b"crash/host\0", b"crash/host"),
        (b"no-nul", None),
        (b"\0", None),
        (b"a" * 1023 + b"\0", b"a" * 1023),
        (b"a" * 1024 + b"\0", None),
        (b"a\0b\0", b"a"),
    ],
)
def test_herald_path_as_netdumpd_reads_it(payload: bytes, path: bytes | None) -> None:
    assert wire.herald_path(payload) == path


def test_herald_payload() -> None:
    assert wire.herald_payload("") == b""
    assert wire.herald_payload("x/y") == b"x/y\0"
    with pytest.raises(ValueError, match="NUL"):
        wire.herald_payload(b"a\0b")
    with pytest.raises(ValueError, match="longer than 1023"):
        wire.herald_payload("a" * 1024)
