"""The client side of a dump, sans I/O, behaving as a FreeBSD kernel's netdump client.

debugnet_send() in sys/net/debugnet.c (netdump_send() in 12.x) is the model: one send
operation (the HERALD, a staged body run, the KDH, the key blob, FINISHED) is cut into
chunks of `payload` bytes with consecutive seqnos, all sent back to back, and the client
waits until every chunk is ACKed; chunks still unACKed after `polls` polls of 0.5 ms are
sent again, and the operation fails when a resend round would be the (retries + 2)th.
The seqno base starts at 1 and advances by the chunk count after each operation.  The
first ACK moves the destination from port 20023 to that ACK's source port.

Two deliberate departures: the ACK record is a real 64-bit set (the kernel shifts an int
and so stops waiting for chunks 32..63), and an operation of more than 64 chunks is sent
64 at a time instead of overflowing that record (only with payloads under 1 KiB).

The driver feeds events: start(now), receive(datagram, port, now), timeout(now),
send_body(offset, data, now), finish_body(kdh, now); each returns the datagrams to send
(a Transmit, with the time to call timeout() if no ACK completes them) or None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from dumpon.protocol.wire import (
    ACK_SIZE,
    DATASIZE,
    HEADER,
    HERALD_PORT,
    MAX_IN_FLIGHT,
    MessageType,
)

STAGING_SIZE: Final = 64 * 1024  # MAXDUMPPGS * PAGE_SIZE on amd64: one body run
POLL_INTERVAL: Final = 0.0005  # DELAY(500) between NIC polls


@dataclass(frozen=True, slots=True)
class Tunables:
    """The kernel's knobs: net.netdump.polls, .retries, .arp_retries (FreeBSD defaults)."""

    polls: int = 2000
    retries: int = 10
    arp_retries: int = 3
    poll_interval: float = POLL_INTERVAL

    @property
    def resend_after(self) -> float:
        """Seconds without all ACKs before a resend: debugnet_send() polls npolls + 1 times."""
        return (self.polls + 1) * self.poll_interval


class ClientState(Enum):
    IDLE = "idle"
    HERALD = "herald"  # HERALD sent, waiting for its ACK
    KEY = "key"  # key blob in flight (13+ order: right after the HERALD)
    BODY = "body"  # ready for (or sending) body runs
    HEADER = "header"  # KDH in flight
    KEY_AFTER_HEADER = "key after header"  # 12.x order
    FINISHING = "finishing"  # FINISHED in flight
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send `datagrams` to the server's `port`; call timeout() at `wake_at` unless the ACKs
    complete them first."""

    port: int
    datagrams: list[bytes]
    wake_at: float


@dataclass(slots=True)
class ClientStats:
    packets: int = 0  # datagrams sent, resends included
    retransmits: int = 0  # datagrams sent again
    resend_rounds: int = 0
    body_acked: int = 0  # body bytes whose every chunk is ACKed
    stray_acks: int = 0  # ACKs for no chunk in flight (duplicates, old, too far ahead)
    herald_rtt: float | None = None  # last HERALD transmission to its ACK
    herald_sent_at: float = field(default=0.0, repr=False)


class ProtocolError(RuntimeError):
    """An event the current state does not allow (a driver bug, not a network fault)."""


class ClientMachine:
    """One dump, from HERALD to FINISHED.

    `payload` is the dump bytes per packet (the kernel: min(4096, MTU - 52) in 12.x,
    MTU - 52 in 13+); `herald` the HERALD payload (wire.herald_payload(path));
    `key_blob` the padded `struct kerneldumpkey` or None; `order` 13 sends the key right
    after the HERALD, 12 right after the KDH.  `ack_exact` takes only 4-byte datagrams
    as ACKs (13+); False takes any of 4 bytes or more (12.x).
    """

    def __init__(
        self,
        *,
        payload: int = DATASIZE,
        herald: bytes = b"",
        key_blob: bytes | None = None,
        order: int = 13,
        tunables: Tunables | None = None,
        staging: int = STAGING_SIZE,
        ack_exact: bool = True,
    ) -> None:
        if payload <= 0:
            raise ValueError(f"payload size {payload} is not positive")
        if order not in (12, 13):
            raise ValueError(f"message order {order} is not 12 or 13")
        self.payload = payload
        self.herald = herald
        self.key_blob = key_blob or None
        self.order = order
        self.tunables = tunables or Tunables()
        self.staging = staging
        self.ack_exact = ack_exact
        self.state = ClientState.IDLE
        self.port = HERALD_PORT
        self._got_port = False
        self.seqno = 1  # base of the operation in flight
        self.failure = ""
        self.failed_in: ClientState | None = None  # the state the dump failed in
        self.stats = ClientStats()
        # The operation in flight: the rest of it, and the window being waited for.
        self._kind = 0
        self._data: bytes | memoryview = b""
        self._start = 0  # offset of self._data[0] in its target
        self._sent_up_to = 0  # bytes of self._data already cut into windows
        self._window: list[bytes] = []
        self._window_bytes = 0
        self._acked = 0  # bit i: chunk i of the window is ACKed
        self._want = 0
        self._retries = 0
        self._busy = False

    # --- events -------------------------------------------------------------------------

    def start(self, now: float) -> Transmit:
        self._require(ClientState.IDLE, "start")
        self.state = ClientState.HERALD
        self.stats.herald_sent_at = now
        transmit = self._begin(MessageType.HERALD, self.herald, 0, now)
        assert transmit is not None
        return transmit

    @property
    def waiting(self) -> bool:
        """Datagrams are in flight and ACKs (or a timeout) are expected."""
        return self._busy

    @property
    def wants_body(self) -> bool:
        """Ready for the next body run (or for finish_body())."""
        return self.state is ClientState.BODY and not self._busy

    def send_body(self, offset: int, data: bytes | memoryview, now: float) -> Transmit:
        """Send one staged run of body bytes (at most `staging`) found at `offset`."""
        if not self.wants_body:
            raise ProtocolError(f"send_body while {self.state.value}, busy={self._busy}")
        if not 0 < len(data) <= self.staging:
            raise ProtocolError(f"body run of {len(data)} bytes (1..{self.staging} allowed)")
        transmit = self._begin(MessageType.VMCORE, data, offset, now)
        assert transmit is not None
        return transmit

    def finish_body(self, kdh: bytes, now: float) -> Transmit:
        """The body is all sent: send the KDH, then (12.x order) the key, then FINISHED."""
        if not self.wants_body:
            raise ProtocolError(f"finish_body while {self.state.value}, busy={self._busy}")
        self.state = ClientState.HEADER
        transmit = self._begin(MessageType.KDH, kdh, 0, now)
        assert transmit is not None
        return transmit

    def receive(
        self, datagram: bytes | bytearray | memoryview, port: int, now: float
    ) -> Transmit | None:
        """A datagram from the server's address to the client port (the driver filters the
        addresses, as debugnet_handle_ip() does).  Anything but an ACK is ignored."""
        if len(datagram) != ACK_SIZE:
            if self.ack_exact or len(datagram) < ACK_SIZE:
                return None
            datagram = datagram[:ACK_SIZE]
        if not self._got_port and self.state is ClientState.HERALD:
            self.port = port  # debugnet_handle_ack(): DN_STATE_GOT_HERALD_PORT
            self._got_port = True
        index = int.from_bytes(datagram, "big") - self.seqno
        acked = self._acked
        # Only chunks of the window in flight count: older seqnos, duplicates and seqnos
        # past the window (the kernel: "too far in future" from base + 64) are strays.
        if not self._busy or not 0 <= index < len(self._window) or acked >> index & 1:
            self.stats.stray_acks += 1
            return None
        acked |= 1 << index
        self._acked = acked
        if acked != self._want:
            return None
        return self._window_done(now)

    def timeout(self, now: float) -> Transmit | None:
        """The wake-up time passed: resend the unACKed chunks, or fail after the retries."""
        if not self._busy:
            return None
        if self._retries > self.tunables.retries:
            self._fail(
                f"no ACK for {self._unacked_count()} of {len(self._window)} packets "
                f"(seqno {self.seqno}..{self.seqno + len(self._window) - 1}) after "
                f"{self._retries} resends"
            )
            return None
        self._retries += 1
        self.stats.resend_rounds += 1
        resend = [d for i, d in enumerate(self._window) if not self._acked >> i & 1]
        self.stats.packets += len(resend)
        self.stats.retransmits += len(resend)
        if self._kind == MessageType.HERALD:
            self.stats.herald_sent_at = now
        return Transmit(self.port, resend, now + self.tunables.resend_after)

    # --- internals ----------------------------------------------------------------------

    def _require(self, state: ClientState, event: str) -> None:
        if self.state is not state:
            raise ProtocolError(f"{event} while {self.state.value}")

    def _unacked_count(self) -> int:
        return len(self._window) - self._acked.bit_count()

    def _fail(self, reason: str) -> None:
        self.failed_in = self.state
        self.state = ClientState.FAILED
        self.failure = reason
        self._busy = False

    def _begin(
        self, kind: int, data: bytes | memoryview, start: int, now: float
    ) -> Transmit | None:
        self._kind = kind
        self._data = data
        self._start = start
        self._sent_up_to = 0
        self._busy = True
        return self._next_window(now, first=True)

    def _next_window(self, now: float, first: bool = False) -> Transmit | None:
        """Cut up to MAX_IN_FLIGHT chunks off the operation; None when nothing is left."""
        data, size, done = self._data, self.payload, self._sent_up_to
        if done >= len(data) and not (first and not data):
            return None
        pack, kind, base, start = HEADER.pack, self._kind, self.seqno, self._start
        window: list[bytes] = []
        position = done
        end = min(len(data), done + size * MAX_IN_FLIGHT)
        while True:
            chunk = data[position : position + size] if position < end else b""
            length = len(chunk)
            window.append(pack(kind, base + len(window), start + position, length, 0) + chunk)
            position += length
            if position >= end:
                break
        self._sent_up_to = position
        self._window = window
        self._window_bytes = position - done
        self._acked = 0
        self._want = (1 << len(window)) - 1
        self._retries = 0
        self.stats.packets += len(window)
        return Transmit(self.port, window, now + self.tunables.resend_after)

    def _window_done(self, now: float) -> Transmit | None:
        self.seqno += len(self._window)
        if self._kind == MessageType.VMCORE:
            self.stats.body_acked += self._window_bytes
        following = self._next_window(now)
        if following is not None:
            return following
        self._busy = False
        return self._operation_done(now)

    def _operation_done(self, now: float) -> Transmit | None:
        state = self.state
        if state is ClientState.HERALD:
            self.stats.herald_rtt = now - self.stats.herald_sent_at
            if self.key_blob is not None and self.order == 13:
                self.state = ClientState.KEY
                return self._begin(MessageType.EKCD_KEY, self.key_blob, 0, now)
            self.state = ClientState.BODY
        elif state is ClientState.KEY:
            self.state = ClientState.BODY
        elif state is ClientState.HEADER and self.key_blob is not None and self.order == 12:
            self.state = ClientState.KEY_AFTER_HEADER
            return self._begin(MessageType.EKCD_KEY, self.key_blob, 0, now)
        elif state in (ClientState.HEADER, ClientState.KEY_AFTER_HEADER):
            self.state = ClientState.FINISHING
            return self._begin(MessageType.FINISHED, b"", 0, now)
        elif state is ClientState.FINISHING:
            self.state = ClientState.DONE
        return None
