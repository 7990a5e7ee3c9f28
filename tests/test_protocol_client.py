"""The client machine: the kernel's message sequence, ACK bitmap, resend and give-up rules."""

from __future__ import annotations

import pytest

from dumpon.protocol.client import (
    ClientMachine,
    ClientState,
    ProtocolError,
    Transmit,
    Tunables,
)
from dumpon.protocol.wire import HERALD_PORT, Message, MessageType, pack_ack, parse_message


def _messages(transmit: Transmit | None) -> list[Message]:
    assert transmit is not None
    return [parse_message(d) for d in transmit.datagrams]


def _ack_all(
    machine: ClientMachine, transmit: Transmit | None, now: float = 0.0
) -> Transmit | None:
    following = None
    for message in _messages(transmit):
        following = machine.receive(pack_ack(message.seqno), 40000, now)
    return following


def test_encrypted_dump_in_13_order_at_mtu_1500() -> None:
    blob = bytes(4096)
    machine = ClientMachine(payload=1448, herald=b"dir\0", key_blob=blob, order=13)
    herald = machine.start(0.0)
    assert herald.port == HERALD_PORT
    assert _messages(herald) == [Message(MessageType.HERALD, 1, 0, b"dir\0")]
    key = machine.receive(pack_ack(1), 40000, 0.25)
    assert machine.stats.herald_rtt == 0.25
    assert key is not None
    assert key.port == 40000  # the herald ACK's source port from now on
    assert [(m.type, m.seqno, m.offset, len(m.payload)) for m in _messages(key)] == [
        (MessageType.EKCD_KEY, 2, 0, 1448),
        (MessageType.EKCD_KEY, 3, 1448, 1448),
        (MessageType.EKCD_KEY, 4, 2896, 1200),
    ]
    assert _ack_all(machine, key) is None
    assert machine.wants_body
    body = machine.send_body(0, bytes(range(256)) * 256, 1.0)
    messages = _messages(body)
    assert len(messages) == 46  # 64 KiB at 1448 bytes a packet
    assert [m.seqno for m in messages] == list(range(5, 51))
    assert messages[-1].offset == 45 * 1448
    assert b"".join(m.payload for m in messages) == bytes(range(256)) * 256
    assert _ack_all(machine, body) is None
    kdh = machine.finish_body(b"K" * 512, 2.0)
    assert _messages(kdh) == [Message(MessageType.KDH, 51, 0, b"K" * 512)]
    finished = _ack_all(machine, kdh)
    assert _messages(finished) == [Message(MessageType.FINISHED, 52, 0, b"")]
    assert _ack_all(machine, finished) is None
    assert machine.state is ClientState.DONE


def test_12_order_sends_the_key_after_the_kdh() -> None:
    machine = ClientMachine(payload=4096, key_blob=bytes(4096), order=12)
    assert _ack_all(machine, machine.start(0.0)) is None
    assert machine.state is ClientState.BODY
    _ack_all(machine, machine.send_body(0, b"x" * 10, 0.0))
    key = _ack_all(machine, machine.finish_body(bytes(512), 0.0))
    assert [(m.type, m.seqno) for m in _messages(key)] == [(MessageType.EKCD_KEY, 4)]
    finished = _ack_all(machine, key)
    assert [(m.type, m.seqno) for m in _messages(finished)] == [(MessageType.FINISHED, 5)]


def test_the_ack_bitmap_covers_all_64_bits() -> None:
    # 64 chunks of 1024 bytes: the kernel's int shift would count chunk 31 as 31..63.
    machine = ClientMachine(payload=1024)
    _ack_all(machine, machine.start(0.0))
    body = machine.send_body(0, bytes(65536), 0.0)
    assert len(body.datagrams) == 64
    for seqno in range(2, 2 + 32):
        assert machine.receive(pack_ack(seqno), 9, 0.0) is None
    assert not machine.wants_body
    for seqno in range(34, 2 + 63):
        machine.receive(pack_ack(seqno), 9, 0.0)
    assert not machine.wants_body  # chunk 63 still missing
    machine.receive(pack_ack(65), 9, 0.0)
    assert machine.wants_body


def test_resend_only_unacked_then_give_up_after_retries_plus_one() -> None:
    tunables = Tunables(polls=1999, retries=10)
    assert tunables.resend_after == 1.0
    machine = ClientMachine(payload=1448, tunables=tunables)
    _ack_all(machine, machine.start(0.0))
    body = machine.send_body(0, bytes(3000), 0.0)
    assert body.wake_at == 1.0
    machine.receive(pack_ack(3), 9, 0.5)
    now = body.wake_at
    rounds = 0
    while (resend := machine.timeout(now)) is not None:
        rounds += 1
        assert [m.seqno for m in _messages(resend)] == [2, 4]
        assert resend.wake_at == now + 1.0
        now = resend.wake_at
    assert rounds == 11  # "retries > nretries": 11 resend rounds, failure at about 12 s
    assert now == 12.0
    assert machine.state is ClientState.FAILED
    assert machine.failed_in is ClientState.BODY
    assert "no ACK for 2 of 3 packets (seqno 2..4)" in machine.failure
    assert machine.stats.retransmits == 22


def test_no_server() -> None:
    machine = ClientMachine(tunables=Tunables(polls=1, retries=0))
    herald = machine.start(0.0)
    assert machine.timeout(herald.wake_at) is not None
    assert machine.timeout(1.0) is None
    assert machine.failed_in is ClientState.HERALD


@pytest.mark.parametrize(
    "datagram", [b"\0\0\0\1\0", b"\0\0\1", pack_ack(0), pack_ack(2), pack_ack(2**32 - 1)]
)
def test_what_is_not_an_ack_for_the_herald(datagram: bytes) -> None:
    machine = ClientMachine()
    machine.start(0.0)
    assert machine.receive(datagram, 5000, 0.0) is None
    assert machine.state is ClientState.HERALD


def test_12x_acks_may_be_longer() -> None:
    machine = ClientMachine(ack_exact=False)
    machine.start(0.0)
    machine.receive(pack_ack(1) + b"junk", 5000, 0.0)
    assert machine.state is ClientState.BODY


def test_port_comes_from_the_first_ack_only() -> None:
    machine = ClientMachine()
    machine.start(0.0)
    machine.receive(pack_ack(7), 5000, 0.0)  # any ACK, even a useless one, sets the port
    machine.receive(pack_ack(1), 6000, 0.0)
    assert machine.port == 5000


def test_events_out_of_turn_are_refused() -> None:
    machine = ClientMachine()
    with pytest.raises(ProtocolError, match="send_body while idle"):
        machine.send_body(0, b"x", 0.0)
    machine.start(0.0)
    with pytest.raises(ProtocolError, match="start while herald"):
        machine.start(0.0)
    machine.receive(pack_ack(1), 5000, 0.0)
    with pytest.raises(ProtocolError, match="body run of 65537 bytes"):
        machine.send_body(0, bytes(65537), 0.0)
    with pytest.raises(ValueError, match="order 14"):
        ClientMachine(order=14)
