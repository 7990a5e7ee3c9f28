"""The server side of one dump, sans I/O: what arrived, what is missing, what to ACK.

The server owns the sockets and files.  It answers a HERALD on port 20023 from a fresh
socket (parse_herald() reads it) and feeds every datagram that later reaches that socket
to ServerSession.receive(), which says what to send back (an ACK, or nothing) and what to
store.  Rules follow netdumpd's client_event() and handle_*(): a runt or a length field
that disagrees with the datagram is dropped unACKed, as is an unknown type; everything
else is ACKed, duplicates included, so a client whose ACK was lost can go on.

A KDH may come in pieces (payloads under 512 bytes); each piece is ACKed and the header
is reported once all 512 bytes are in.  A piece past byte 512, a second header that
differs from the first, or a complete header of an unknown version is dropped unACKed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from operator import add, sub
from typing import Final

from dumpon.protocol.kdh import KDH_SIZE, KdhError, KernelDumpHeader, parity
from dumpon.protocol.ranges import RangeSet
from dumpon.protocol.wire import (
    ACK,
    HEADER,
    HEADER_SIZE,
    MAX_PAYLOAD,
    Message,
    MessageType,
    WireError,
    herald_path,
    pack_ack,
    parse_message,
)

_VMCORE: Final = int(MessageType.VMCORE)
_NO_LIMIT: Final = 1 << 65  # past any 64-bit offset plus 32-bit length
_unpack_header: Final = HEADER.unpack_from
_pack_ack: Final = ACK.pack
KEY_BLOB_MAX: Final = 64 * 1024  # far above roundup(37 + 2048, block size) for any dumper


@dataclass(frozen=True, slots=True)
class Herald:
    """A dump's first message: its seqno (to ACK) and the relative path it asks for."""

    seqno: int
    path: bytes | None


def parse_herald(datagram: bytes | bytearray | memoryview) -> Herald:
    """A HERALD sent to port 20023; WireError when the datagram is anything else."""
    message = parse_message(datagram)
    if message.type != MessageType.HERALD:
        raise WireError(f"message type {message.type} on the herald port")
    return Herald(message.seqno, herald_path(message.payload))


class SessionState(Enum):
    RECEIVING = "receiving"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class BodyData:
    """Dump body bytes to store at `offset` of the core file."""

    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class KeyData:
    """Key blob bytes to store at `offset` of the key file."""

    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class HeaderReceived:
    """The first KDH of the dump.  netdumpd records a header that fails the parity test too
    (its info file says `Header Parity Check: Fail`), so `parity_ok` tells."""

    header: KernelDumpHeader
    raw: bytes
    parity_ok: bool


@dataclass(frozen=True, slots=True)
class Finished:
    """FINISHED arrived (the first time).  `holes` are body ranges below the KDH's
    dumplength that never arrived; `complete` is the verdict over body, header and key."""

    complete: bool
    holes: tuple[tuple[int, int], ...]


SessionEvent = BodyData | KeyData | HeaderReceived | Finished


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to do with one datagram: send `ack` back (None: drop it, `reason` says why) and
    handle `event` (None: nothing new, e.g. a duplicate)."""

    ack: bytes | None
    event: SessionEvent | None = None
    reason: str = ""


class ServerSession:
    """One dump from one client, from the HERALD ACK on.

    `max_payload` bounds a message's payload (netdumpd: NETDUMP_DATASIZE; this project takes
    anything UDP carries, so 13+ kernels on jumbo frames work); `max_body` bounds where body
    data may land (None: anywhere), so a hostile client cannot make a huge sparse file.
    """

    def __init__(self, *, max_payload: int = MAX_PAYLOAD, max_body: int | None = None) -> None:
        self.max_payload = max_payload
        self.max_body = max_body
        self._body_limit = _NO_LIMIT if max_body is None else max_body
        self.state = SessionState.RECEIVING
        self.body = RangeSet()
        self.key = RangeSet()
        self._key_bytes = bytearray()
        self.header: KernelDumpHeader | None = None
        self.header_raw: bytes | None = None
        self._header_parts = RangeSet()
        self._header_bytes = bytearray(KDH_SIZE)
        self.any_data_received = False  # netdumpd: a new HERALD before data is a retransmit

    def receive(self, datagram: bytes | bytearray | memoryview) -> Outcome:
        try:
            message = parse_message(datagram)
        except WireError as exc:
            return Outcome(None, reason=str(exc))
        if len(message.payload) > self.max_payload:
            return Outcome(
                None, reason=f"payload of {len(message.payload)} bytes over {self.max_payload}"
            )
        handler = _HANDLERS.get(message.type)
        if handler is None:
            return Outcome(None, reason=f"unexpected message type {message.type}")
        return handler(self, message)

    def receive_body(self, datagram: memoryview) -> tuple[bytes, int, bool] | None:
        """The hot path of a dump: a well-formed VMCORE message within the limits, handled
        as receive() would, without building objects.  Returns (ack, offset, new): `new`
        says whether the payload, datagram[HEADER_SIZE:], holds bytes not received before.
        None for any other datagram, which then goes to receive()."""
        size = len(datagram)
        if size < HEADER_SIZE:
            return None
        kind, seqno, offset, length, _ = _unpack_header(datagram)
        end = offset + length
        if (
            kind != _VMCORE
            or HEADER_SIZE + length != size
            or length > self.max_payload
            or end > self._body_limit
        ):
            return None
        self.any_data_received = True
        return _pack_ack(seqno), offset, self.body.add(offset, end) > 0

    def receive_body_run(self, fields: tuple[int, ...], sizes: list[int]) -> tuple[int, int] | None:
        """The hot path for a batch of datagrams: if every one is a well-formed VMCORE
        message within the limits and each payload starts where the one before it ends,
        they are handled as receive() would handle them one by one, and the result is
        (offset, new): the payloads, back to back, belong at `offset` of the body, and
        `new` of their bytes were not received before.  Each datagram is to be ACKed and
        the payloads stored.  Otherwise None, and nothing is recorded: the datagrams go
        to receive() one by one.

        `sizes` are the datagrams' sizes; `fields` their HEADER fields, five per datagram
        back to back (whatever a datagram shorter than a header left there).
        """
        count = len(sizes)
        lengths = fields[3::5]
        if (
            fields[0::5].count(_VMCORE) != count
            or list(map(sub, sizes, lengths)).count(HEADER_SIZE) != count
            or max(lengths) > self.max_payload
        ):
            return None
        offsets = fields[2::5]
        ends = tuple(map(add, offsets, lengths))
        if ends[:-1] != offsets[1:] or ends[-1] > self._body_limit:
            return None
        self.any_data_received = True
        return offsets[0], self.body.add(offsets[0], ends[-1])

    def _vmcore(self, message: Message) -> Outcome:
        end = message.offset + len(message.payload)
        if self.max_body is not None and end > self.max_body:
            return Outcome(None, reason=f"body data up to {end} past the limit {self.max_body}")
        self.any_data_received = True
        if not self.body.add(message.offset, end):
            return Outcome(pack_ack(message.seqno))
        return Outcome(pack_ack(message.seqno), BodyData(message.offset, message.payload))

    def _key(self, message: Message) -> Outcome:
        end = message.offset + len(message.payload)
        if end > KEY_BLOB_MAX:
            return Outcome(None, reason=f"key data up to {end} past the limit {KEY_BLOB_MAX}")
        self.any_data_received = True
        if self.key.covers(message.offset, end):
            return Outcome(pack_ack(message.seqno))
        self.key.add(message.offset, end)
        if len(self._key_bytes) < end:
            self._key_bytes.extend(bytes(end - len(self._key_bytes)))
        self._key_bytes[message.offset : end] = message.payload
        return Outcome(pack_ack(message.seqno), KeyData(message.offset, message.payload))

    def _kdh(self, message: Message) -> Outcome:
        """A KDH fits one packet at any real MTU; smaller payloads get it in pieces, which are
        put together by offset like the body's."""
        end = min(message.offset + len(message.payload), KDH_SIZE)
        if message.offset >= KDH_SIZE:
            return Outcome(None, reason=f"KDH data at offset {message.offset}, past {KDH_SIZE}")
        piece = message.payload[: end - message.offset]
        if self.header_raw is not None:
            if self.header_raw[message.offset : end] == piece:
                return Outcome(pack_ack(message.seqno))
            return Outcome(None, reason="a second, different KDH in the same dump")
        self._header_parts.add(message.offset, end)
        self._header_bytes[message.offset : end] = piece
        self.any_data_received = True
        if not self._header_parts.covers(0, KDH_SIZE):
            return Outcome(pack_ack(message.seqno))
        raw = bytes(self._header_bytes)
        try:
            header = KernelDumpHeader.parse(raw, check_parity=False)
        except KdhError as exc:
            self._header_parts = RangeSet()
            return Outcome(None, reason=f"bad KDH: {exc}")
        self.header, self.header_raw = header, raw
        return Outcome(pack_ack(message.seqno), HeaderReceived(header, raw, parity(raw) == 0))

    def _finished(self, message: Message) -> Outcome:
        if self.state is SessionState.FINISHED:
            return Outcome(pack_ack(message.seqno))
        self.state = SessionState.FINISHED
        holes = tuple(self.holes())
        return Outcome(pack_ack(message.seqno), Finished(self.complete, holes))

    def holes(self) -> list[tuple[int, int]]:
        """Body ranges below dumplength not yet received ([] while no KDH says the length)."""
        if self.header is None:
            return []
        return self.body.holes(self.header.dumplength)

    @property
    def key_size(self) -> int:
        """The key blob size the KDH announces (0: not encrypted, or no KDH yet)."""
        return self.header.dumpkeysize if self.header is not None else 0

    def key_blob(self) -> bytes:
        """The key blob received so far (its first `key_size` bytes once the KDH is in)."""
        size = self.key_size or len(self._key_bytes)
        return bytes(self._key_bytes[:size])

    @property
    def complete(self) -> bool:
        """A KDH arrived, the body has no holes below dumplength, and the key is whole."""
        if self.header is None or self.holes():
            return False
        return self.key.covers(0, self.key_size)


_HANDLERS: Final[dict[int, Callable[[ServerSession, Message], Outcome]]] = {
    MessageType.VMCORE: ServerSession._vmcore,
    MessageType.EKCD_KEY: ServerSession._key,
    MessageType.KDH: ServerSession._kdh,
    MessageType.FINISHED: ServerSession._finished,
}
