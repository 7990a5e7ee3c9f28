"""Client and server machines over a simulated channel that loses, duplicates and reorders
datagrams in both directions (hypothesis draws each datagram's fate): the server must end up
with the exact bytes, and the client must keep the kernel's rules on the way."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from hypothesis import event, given, settings
from hypothesis import strategies as st

from dumpon.protocol.client import ClientMachine, ClientState, Transmit, Tunables
from dumpon.protocol.kdh import KernelDumpHeader
from dumpon.protocol.session import ServerSession, parse_herald
from dumpon.protocol.wire import HERALD_PORT, MAX_IN_FLIGHT, pack_ack, parse_message

DATA_PORT = 40000
FATES = st.sampled_from(["deliver", "deliver", "deliver", "drop", "duplicate", "delay"])


@dataclass
class Channel:
    """A discrete-event network: datagrams with arrival times, a fate for each."""

    data: st.DataObject
    budget: int  # fates drawn before the channel turns perfect, so every run ends
    queue: list[tuple[float, int, str, int, bytes]] = field(default_factory=list)
    order: itertools.count[int] = field(default_factory=itertools.count)

    def send(self, now: float, to: str, port: int, datagram: bytes) -> None:
        fate = "deliver"
        if self.budget > 0:
            self.budget -= 1
            fate = self.data.draw(FATES)
        if fate == "drop":
            return
        copies = 2 if fate == "duplicate" else 1
        latency = 0.001
        if fate == "delay":
            latency = self.data.draw(st.sampled_from([0.0015, 0.004, 0.02]))
        for _ in range(copies):
            heapq.heappush(self.queue, (now + latency, next(self.order), to, port, datagram))


@dataclass
class Trace:
    """What the client did, for checking the kernel's rules."""

    sent: list[int] = field(default_factory=list)  # seqnos in send order, resends included
    acked: set[int] = field(default_factory=set)  # ACKs the client received


def _run(
    data: st.DataObject, body: bytes, payload: int, staging: int, key: bytes | None, order: int
) -> tuple[ClientMachine, ServerSession, Trace, bytes]:
    tunables = Tunables(polls=9, poll_interval=0.001, retries=10_000)
    machine = ClientMachine(
        payload=payload, key_blob=key, order=order, tunables=tunables, staging=staging
    )
    channel = Channel(data, budget=data.draw(st.integers(0, 120)))
    trace = Trace()
    session: ServerSession | None = None
    kdh = KernelDumpHeader("amd64", 2, len(body), 0, "h", "v\n", "p").pack()
    offset = 0
    wake_at = 0.0

    def transmit(now: float, action: Transmit | None) -> None:
        nonlocal wake_at
        if action is None:
            return
        assert len(action.datagrams) <= MAX_IN_FLIGHT
        for datagram in action.datagrams:
            seqno = parse_message(datagram).seqno
            trace.sent.append(seqno)
            channel.send(now, "server", action.port, datagram)
        wake_at = action.wake_at

    def feed_body(now: float) -> None:
        nonlocal offset
        while machine.wants_body:
            if offset < len(body):
                run = body[offset : offset + staging]
                transmit(now, machine.send_body(offset, run, now))
                offset += len(run)
            else:
                transmit(now, machine.finish_body(kdh, now))

    transmit(0.0, machine.start(0.0))
    for _ in range(200_000):
        if machine.state in (ClientState.DONE, ClientState.FAILED):
            break
        if channel.queue and channel.queue[0][0] <= wake_at:
            now, _, to, port, datagram = heapq.heappop(channel.queue)
            if to == "client":
                seqno = int.from_bytes(datagram, "big")
                if machine._busy and seqno >= machine.seqno:
                    trace.acked.add(seqno)
                transmit(now, machine.receive(datagram, port, now))
            elif port == HERALD_PORT:
                herald = parse_herald(datagram)
                if session is None:
                    session = ServerSession()
                if not session.any_data_received:  # netdumpd re-ACKs a repeated HERALD
                    channel.send(now, "client", DATA_PORT, pack_ack(herald.seqno))
            else:
                assert port == DATA_PORT and session is not None
                outcome = session.receive(datagram)
                assert outcome.ack is not None, outcome.reason
                channel.send(now, "client", DATA_PORT, outcome.ack)
        else:
            now = wake_at
            resend = machine.timeout(now)
            if resend is not None:
                resent = {parse_message(d).seqno for d in resend.datagrams}
                assert not resent & trace.acked, "an ACKed chunk was sent again"
            transmit(now, resend)
        feed_body(now)
    assert session is not None
    return machine, session, trace, kdh


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    body=st.binary(min_size=1, max_size=3000),
    payload=st.sampled_from([3, 100, 1448]),
    staging=st.sampled_from([250, 1000, 65536]),
    encrypted=st.booleans(),
    order=st.sampled_from([12, 13]),
)
def test_lossy_channel_delivers_the_exact_dump(
    data: st.DataObject, body: bytes, payload: int, staging: int, encrypted: bool, order: int
) -> None:
    key = bytes(range(256)) * 16 if encrypted else None
    machine, session, trace, kdh = _run(data, body, payload, staging, key, order)
    assert machine.state is ClientState.DONE, machine.failure
    event(f"retransmits: {min(machine.stats.retransmits, 5)}")
    # The server has every byte, in place.
    assert session.complete
    assert session.header_raw == kdh
    assert session.key_blob() == (key or b"")
    assert [span for span in session.body] == [(0, len(body))]
    # Seqnos: from 1, consecutive over the whole dump, each chunk counted once.
    unique = sorted(set(trace.sent))
    assert unique == list(range(1, machine.seqno))
    assert machine.stats.packets == len(trace.sent)
    assert machine.stats.retransmits == len(trace.sent) - len(unique)
    # A window is not sent before every chunk of the previous one is ACKed.
    first_seen: dict[int, int] = {}
    for position, seqno in enumerate(trace.sent):
        first_seen.setdefault(seqno, position)
    assert sorted(first_seen, key=first_seen.__getitem__) == unique
