"""The netdump wire format: the 24-byte message header, the 4-byte ACK, message types.

Layouts follow sys/net/debugnet.h (`struct debugnet_msg_hdr`, `struct debugnet_ack`) and
sys/netinet/netdump/netdump.h; every field is big-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

HERALD_PORT: Final = 20023  # NETDUMP_PORT: where the HERALD goes
ACK_PORT: Final = 20024  # NETDUMP_ACKPORT: the client's port, source of all its messages
DATASIZE: Final = 4096  # NETDUMP_DATASIZE: the reference server's payload limit
MAX_IN_FLIGHT: Final = 64  # DEBUGNET_MAX_IN_FLIGHT: chunks one ACK bitmap can record
IP_UDP_HEADERS: Final = 28  # sizeof(struct udpiphdr): IPv4 without options, UDP
UDP_MAX_PAYLOAD: Final = 65507  # largest UDP payload in an IPv4 datagram

HEADER: Final = struct.Struct(">IIQII")  # type, seqno, offset, len, aux2
HEADER_SIZE: Final = HEADER.size  # 24
ACK: Final = struct.Struct(">I")
ACK_SIZE: Final = ACK.size  # 4
# An ACK is the message's seqno as its header carries it: header bytes 4..8.
SEQNO_OFFSET: Final = 4
MAX_PAYLOAD: Final = UDP_MAX_PAYLOAD - HEADER_SIZE


class MessageType(IntEnum):
    """mh_type values (debugnet.h, netdump.h)."""

    HERALD = 1
    FINISHED = 2
    VMCORE = 3  # DEBUGNET_DATA
    KDH = 4
    EKCD_KEY = 5


class WireError(ValueError):
    """A datagram that is not a well-formed netdump message; the text says why."""


@dataclass(frozen=True, slots=True)
class Message:
    """One client message: header fields and the payload they describe."""

    type: int
    seqno: int
    offset: int
    payload: bytes
    aux2: int = 0

    def pack(self) -> bytes:
        return pack_header(self.type, self.seqno, self.offset, len(self.payload), self.aux2) + (
            self.payload
        )


def pack_header(kind: int, seqno: int, offset: int, length: int, aux2: int = 0) -> bytes:
    """The 24-byte header of a message whose payload is `length` bytes."""
    return HEADER.pack(kind, seqno, offset, length, aux2)


def parse_message(datagram: bytes | bytearray | memoryview) -> Message:
    """A received message; WireError for a runt or a length field that disagrees with the
    datagram (netdumpd drops both without an ACK)."""
    if len(datagram) < HEADER_SIZE:
        raise WireError(f"runt datagram of {len(datagram)} bytes (header is {HEADER_SIZE})")
    kind, seqno, offset, length, aux2 = HEADER.unpack_from(datagram)
    if HEADER_SIZE + length != len(datagram):
        raise WireError(
            f"length field {length} does not match the {len(datagram) - HEADER_SIZE}-byte payload"
        )
    return Message(kind, seqno, offset, bytes(datagram[HEADER_SIZE:]), aux2)


def pack_ack(seqno: int) -> bytes:
    return ACK.pack(seqno)


def parse_ack(datagram: bytes | bytearray | memoryview) -> int | None:
    """The acknowledged seqno, or None: a FreeBSD 13+ client takes only a 4-byte payload as an
    ACK (debugnet_handle_udp)."""
    if len(datagram) != ACK_SIZE:
        return None
    return int.from_bytes(datagram, "big")


def payload_size(mtu: int, limit: int | None = DATASIZE) -> int:
    """Dump bytes per packet on an interface: MTU - 52 (IP, UDP and message headers), capped
    at `limit` (12.x caps at NETDUMP_DATASIZE, 13+ does not: pass None)."""
    room = mtu - IP_UDP_HEADERS - HEADER_SIZE
    if room <= 0:
        raise ValueError(f"MTU {mtu} leaves no room for a payload")
    return room if limit is None else min(limit, room)


HERALD_PATH_MAX: Final = 1024  # the reference server's limit (MAXPATHLEN)


def herald_path(payload: bytes) -> bytes | None:
    """The relative dump path a HERALD carries, or None when it carries none.

    netdumpd takes the path only when 0 < len <= 1024 and the payload ends in NUL; the
    HERALD itself is accepted either way.  The path is returned without its NUL, up to
    the first NUL inside it.
    """
    if not 0 < len(payload) <= HERALD_PATH_MAX or payload[-1] != 0:
        return None
    path = payload[: payload.index(0)]
    return path or None


def herald_payload(path: str | bytes) -> bytes:
    """The HERALD payload for `net.netdump.path`: empty, or the path and its NUL."""
    raw = path.encode() if isinstance(path, str) else path
    if b"\0" in raw:
        raise ValueError("a herald path cannot contain NUL")
    if len(raw) + 1 > HERALD_PATH_MAX:
        raise ValueError(f"herald path of {len(raw)} bytes is longer than {HERALD_PATH_MAX - 1}")
    return raw + b"\0" if raw else b""
