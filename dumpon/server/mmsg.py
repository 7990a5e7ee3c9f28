"""Batched datagram system calls: recvmmsg(2) and sendmmsg(2) through ctypes (Linux).

Python's socket module has neither call.  Per packet, a recv_into() and a send() cost the
server about as much as everything else it does; one call per batch costs far less.  One
Batcher is built per server and reused for every socket.

A received datagram is scattered over three places: its header into a table of headers
(so that one struct call reads a whole batch's, and each ACK, the seqno as the header
carries it, is sent straight from there), its first `payload` bytes into a data area where
slot i starts at i*`payload`, and anything longer into a spill area.  With `payload` the
size the client sends, the payloads of a batch lie back to back in the data area and are
written with one iovec: the page cache takes one long copy far faster than many short
ones.  Each payload size in use gets its own set of structures (LAYOUTS at most).

The layouts are those of Linux's <sys/socket.h>; elsewhere `batcher` returns None and the
caller keeps its portable one-call-per-datagram loop.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from collections.abc import Callable, Sequence

from dumpon.protocol.wire import ACK_SIZE, DATASIZE, HEADER, HEADER_SIZE, SEQNO_OFFSET

# Payload sizes with structures of their own; a client cannot make the server build more.
LAYOUTS = 4


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_Iovec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


_STRIDE = ctypes.sizeof(_Mmsghdr)
_LEN_OFFSET = _Mmsghdr.msg_len.offset


def _pinned(buffer: bytearray) -> ctypes.Array[ctypes.c_char]:
    """`buffer` seen by ctypes: while this view lives, the buffer cannot be resized (and
    so moved), and the addresses the kernel is given stay valid."""
    return (ctypes.c_char * len(buffer)).from_buffer(buffer)


class _Vector:
    """`count` mmsghdrs; message i is scattered over (or gathered from) the (address,
    length) pieces that `pieces(i)` returns."""

    def __init__(self, count: int, pieces: Callable[[int], list[tuple[int, int]]]) -> None:
        per = len(pieces(0))
        self._iovecs = (_Iovec * (count * per))()
        self.headers = (_Mmsghdr * count)()
        first = ctypes.addressof(self._iovecs)
        for i in range(count):
            for j, (address, length) in enumerate(pieces(i)):
                self._iovecs[i * per + j].iov_base = address
                self._iovecs[i * per + j].iov_len = length
            self.headers[i].msg_hdr.msg_iov = ctypes.cast(
                first + i * per * ctypes.sizeof(_Iovec), ctypes.POINTER(_Iovec)
            )
            self.headers[i].msg_hdr.msg_iovlen = per
        self.address = ctypes.addressof(self.headers)
        # every msg_len at once: one slice of the array's bytes seen as unsigned ints
        self._lengths = (
            memoryview(self.headers).cast("B").cast("I")[_LEN_OFFSET // 4 :: _STRIDE // 4]
        )

    def lengths(self, count: int) -> list[int]:
        return self._lengths[:count].tolist()


class _Layout:
    """Receive structures for clients that send `payload`-byte payloads."""

    def __init__(self, batcher: Batcher, payload: int) -> None:
        slots, spill = batcher.slots, batcher.room - payload
        self.payload = payload
        self.data = batcher.body[: slots * payload]
        self.spill = batcher.body[slots * payload :]
        headers, body = batcher.header_address, batcher.body_address
        self.vector = _Vector(
            slots,
            lambda i: [
                (headers + i * HEADER_SIZE, HEADER_SIZE),
                (body + i * payload, payload),
                (body + slots * payload + i * spill, spill),
            ],
        )
        self.spill_size = spill


class Batcher:
    """Receive up to `slots` datagrams, or send up to `slots` ACKs, in one system call."""

    def __init__(self, libc: ctypes.CDLL, max_payload: int, slots: int) -> None:
        self._recvmmsg = libc.recvmmsg
        self._recvmmsg.argtypes = [
            ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
        ]  # fmt: skip
        self._sendmmsg = libc.sendmmsg
        self._sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
        self.slots = slots
        # one byte more than the largest payload, so that a longer datagram shows as such
        self.room = max_payload + 1
        self._header_table = bytearray(HEADER_SIZE * slots)
        self._body = bytearray(self.room * slots)
        self._acks = bytearray(ACK_SIZE * slots)
        self._pins = [_pinned(buffer) for buffer in (self._header_table, self._body, self._acks)]
        self.header_address, self.body_address, acks = map(ctypes.addressof, self._pins)
        self.body = memoryview(self._body)
        self._layouts: dict[int, _Layout] = {}
        self._layout = self._layout_for(min(DATASIZE, max_payload))
        self._echoes = _Vector(
            slots, lambda i: [(self.header_address + i * HEADER_SIZE + SEQNO_OFFSET, ACK_SIZE)]
        )
        self._sent = _Vector(slots, lambda i: [(acks + i * ACK_SIZE, ACK_SIZE)])
        fields = HEADER.format.lstrip("<>!=@")
        self._fields = [struct.Struct(">" + fields * count) for count in range(1, slots + 1)]

    def _layout_for(self, payload: int) -> _Layout:
        """The structures for `payload`, built the first time; past LAYOUTS sizes, the
        first one's (correct for any size, only slower to write from): a client that
        keeps changing its size must not make the server rebuild them for every batch."""
        layout = self._layouts.get(payload)
        if layout is None:
            if len(self._layouts) >= LAYOUTS:
                return next(iter(self._layouts.values()))
            layout = self._layouts[payload] = _Layout(self, payload)
        return layout

    def receive(self, fd: int, payload: int) -> list[int]:
        """The sizes of the datagrams waiting on `fd` (up to `slots`), received for a
        client that sends `payload`-byte payloads (any size is received whole; this one
        is written fastest) and kept until the next call; [] when none waits.  An ICMP
        error queued for the socket (a closed port answered an earlier ACK) is skipped."""
        payload = min(max(payload, 1), self.room - 1)
        layout = self._layout = self._layout_for(payload)
        for _ in range(2):  # the queued error is cleared by reporting it
            count = self._recvmmsg(fd, layout.vector.address, self.slots, 0, None)
            if count >= 0:
                return layout.vector.lengths(count)
            error = _error()
            if isinstance(error, BlockingIOError | InterruptedError):
                return []
            if not isinstance(error, ConnectionRefusedError):
                raise error
        return []

    def headers(self, count: int) -> tuple[int, ...]:
        """The header fields (HEADER's five per datagram, back to back) of the first
        `count` datagrams received; those of a datagram shorter than a header mean
        nothing."""
        return self._fields[count - 1].unpack_from(self._header_table)

    def datagrams(self, sizes: list[int]) -> list[memoryview]:
        """The received datagrams of `sizes` bytes, each put back together."""
        layout = self._layout
        payload, spill = layout.payload, layout.spill_size
        table, data, extra = self._header_table, layout.data, layout.spill
        whole: list[memoryview] = []
        for i, size in enumerate(sizes):
            rest = max(size - HEADER_SIZE, 0)
            head = table[i * HEADER_SIZE : i * HEADER_SIZE + min(size, HEADER_SIZE)]
            body = data[i * payload : i * payload + min(rest, payload)]
            tail = extra[i * spill : i * spill + max(rest - payload, 0)]
            whole.append(memoryview(b"".join((head, body, tail))))
        return whole

    def payloads(self, sizes: list[int]) -> list[memoryview]:
        """What follows the header in each received datagram (all at least a header long),
        in as few pieces as it lies in: one when the payloads are back to back."""
        layout = self._layout
        payload, spill, data = layout.payload, layout.spill_size, layout.data
        full = payload + HEADER_SIZE
        if sizes[:-1].count(full) == len(sizes) - 1 and sizes[-1] <= full:
            return [data[: (len(sizes) - 1) * payload + sizes[-1] - HEADER_SIZE]]
        pieces: list[memoryview] = []
        start = end = -1
        for i, size in enumerate(sizes):
            length, slot = size - HEADER_SIZE, i * payload
            if slot != end:  # the previous payload was short: a new piece
                if end > start:
                    pieces.append(data[start:end])
                start = slot
            end = slot + min(length, payload)
            if length > payload:
                pieces.append(data[start:end])
                pieces.append(layout.spill[i * spill : i * spill + length - payload])
                start = end = -1
        if end > start:
            pieces.append(data[start:end])
        return pieces

    def acknowledge(self, fd: int, count: int) -> OSError | None:
        """ACK the first `count` datagrams received (all at least a header long), in
        order, on the connected socket `fd`; the first error, if any."""
        return self._send_all(fd, self._echoes.address, count)

    def send(self, fd: int, acks: Sequence[bytes]) -> OSError | None:
        """Send `acks` (ACK_SIZE bytes each) on the connected socket `fd`, in order; the
        first error, if any."""
        first: OSError | None = None
        for done in range(0, len(acks), self.slots):
            batch = acks[done : done + self.slots]
            self._acks[: ACK_SIZE * len(batch)] = b"".join(batch)
            first = first or self._send_all(fd, self._sent.address, len(batch))
        return first

    def _send_all(self, fd: int, address: int, count: int) -> OSError | None:
        """sendmmsg(2) the first `count` messages of the vector at `address`; the datagrams
        after a failed one are still tried."""
        first: OSError | None = None
        done = 0
        while done < count:
            sent = self._sendmmsg(fd, address + done * _STRIDE, count - done, 0)
            if sent < 0:
                first = first or _error()
                sent = 1  # skip the datagram that failed
            done += sent
        return first


def _error() -> OSError:
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code))


def batcher(max_payload: int, slots: int) -> Batcher | None:
    """A Batcher for datagrams of up to a header and `max_payload` bytes where the C
    library has both calls and their layout is known (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    if not (hasattr(libc, "recvmmsg") and hasattr(libc, "sendmmsg")):
        return None
    return Batcher(libc, max_payload, slots)
