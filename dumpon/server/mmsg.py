"""Batched datagram system calls: recvmmsg(2) and sendmmsg(2) through ctypes (Linux).

Python's socket module has neither call.  Per packet, a recv_into() and a send() cost the
server about as much as everything else it does; one call per batch costs far less.  One
set of structures is built per server and reused for every socket: receive slots of a
fixed size in the caller's buffer, and ACK slots of ACK_SIZE bytes.  The layouts are
those of Linux's <sys/socket.h>; elsewhere `batcher` returns None and the caller keeps
its portable one-call-per-datagram loop.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Sequence

from dumpon.protocol.wire import ACK

ACK_SIZE = ACK.size


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


class _Vector:
    """`count` mmsghdrs, each with one iovec over `size` bytes of `buffer` (slot i at i*size)."""

    def __init__(self, buffer: bytearray, size: int, count: int) -> None:
        # keeps `buffer` exported (it cannot be resized) while the vector lives
        self._memory = (ctypes.c_char * len(buffer)).from_buffer(buffer)
        base = ctypes.addressof(self._memory)
        self._iovecs = (_Iovec * count)()
        self.headers = (_Mmsghdr * count)()
        for i in range(count):
            self._iovecs[i].iov_base = base + i * size
            self._iovecs[i].iov_len = size
            self.headers[i].msg_hdr.msg_iov = ctypes.pointer(self._iovecs[i])
            self.headers[i].msg_hdr.msg_iovlen = 1
        self.address = ctypes.addressof(self.headers)
        # every msg_len at once: one slice of the array's bytes seen as unsigned ints
        self._lengths = (
            memoryview(self.headers).cast("B").cast("I")[_LEN_OFFSET // 4 :: _STRIDE // 4]
        )

    def lengths(self, count: int) -> list[int]:
        return self._lengths[:count].tolist()


def _error() -> OSError:
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code))


class Batcher:
    """Receive up to `slots` datagrams, or send up to `slots` ACKs, in one system call."""

    def __init__(self, libc: ctypes.CDLL, buffer: bytearray, room: int, slots: int) -> None:
        if len(buffer) < room * slots:
            raise ValueError(f"buffer of {len(buffer)} bytes has no room for {slots} slots")
        self._recvmmsg = libc.recvmmsg
        self._recvmmsg.argtypes = [
            ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
        ]  # fmt: skip
        self._sendmmsg = libc.sendmmsg
        self._sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
        self._room, self._slots = room, slots
        self._view = memoryview(buffer)
        self._received = _Vector(buffer, room, slots)
        self._acks = bytearray(ACK_SIZE * slots)
        self._sent = _Vector(self._acks, ACK_SIZE, slots)

    def receive(self, fd: int) -> list[memoryview]:
        """The datagrams waiting on `fd` (up to `slots`), each a view of its slot of the
        buffer, valid until the next call; [] when none waits.  An ICMP error queued for
        the socket (a closed port answered an earlier ACK) is skipped."""
        for _ in range(2):  # the queued error is cleared by reporting it
            count = self._recvmmsg(fd, self._received.address, self._slots, 0, None)
            if count >= 0:
                view, room = self._view, self._room
                lengths = self._received.lengths(count)
                return [view[i * room : i * room + size] for i, size in enumerate(lengths)]
            error = _error()
            if isinstance(error, BlockingIOError | InterruptedError):
                return []
            if not isinstance(error, ConnectionRefusedError):
                raise error
        return []

    def send(self, fd: int, acks: Sequence[bytes]) -> OSError | None:
        """Send `acks` (ACK_SIZE bytes each) on the connected socket `fd`, in order; the
        first error, if any (the datagrams after a failed one are still tried)."""
        first: OSError | None = None
        done = 0
        while done < len(acks):
            batch = acks[done : done + self._slots]
            self._acks[: ACK_SIZE * len(batch)] = b"".join(batch)
            count = self._sendmmsg(fd, self._sent.address, len(batch), 0)
            if count < 0:
                first = first or _error()
                count = 1  # skip the datagram that failed
            done += count
        return first


def batcher(buffer: bytearray, room: int, slots: int) -> Batcher | None:
    """A Batcher over `buffer` where the C library has both calls and their layout is
    known (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    if not (hasattr(libc, "recvmmsg") and hasattr(libc, "sendmmsg")):
        return None
    return Batcher(libc, buffer, room, slots)
