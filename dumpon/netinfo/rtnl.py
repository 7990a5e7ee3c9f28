"""The few rtnetlink requests dumpon needs: route get, the neighbour table, NTF_USE.

pyroute2 answers the same questions but costs ~130 ms to import, more than the whole
`dumpon` run may take; these three requests need ~150 lines.  The codec is sans-IO
(bytes in, bytes out); `Rtnl` is the thin socket driver.  Linux only.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
RTM_NEWNEIGH, RTM_GETNEIGH = 28, 30
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_CREATE = 0x100, 0x400
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC = 1, 4, 5, 7
NDA_DST, NDA_LLADDR, NDA_CACHEINFO = 1, 2, 3
NTF_USE = 0x01

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_RTMSG = struct.Struct(
    "=BBBBBBBBI"
)  # family, dst_len, src_len, tos, table, proto, scope, type, flags
_NDMSG = struct.Struct("=BBHiHBB")  # family, pad, pad, ifindex, state, flags, type
_ATTR = struct.Struct("=HH")  # rtattr: length, type
_CACHEINFO = struct.Struct("=IIII")  # confirmed, used, updated (clock ticks ago), refcnt


@dataclass(frozen=True, slots=True)
class Message:
    kind: int
    flags: int
    sequence: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Route:
    """The kernel's answer for one destination."""

    oif: int
    gateway: str | None  # None: the destination is on-link, it is its own next hop
    prefsrc: str | None  # the source address the kernel would choose


@dataclass(frozen=True, slots=True)
class NeighbourEntry:
    ifindex: int
    state: int
    address: str | None
    mac: str | None
    confirmed_ticks: int | None  # how long ago the kernel last confirmed the mapping


def _align(length: int) -> int:
    return (length + 3) & ~3


def _attribute(kind: int, payload: bytes) -> bytes:
    raw = _ATTR.pack(_ATTR.size + len(payload), kind) + payload
    return raw.ljust(_align(len(raw)), b"\0")


def _message(kind: int, flags: int, sequence: int, body: bytes) -> bytes:
    return _HEADER.pack(_HEADER.size + len(body), kind, flags, sequence, 0) + body


def route_get(sequence: int, destination: str, oif: int | None = None) -> bytes:
    """RTM_GETROUTE for one IPv4 destination, optionally through interface `oif`."""
    body = _RTMSG.pack(socket.AF_INET, 32, 0, 0, 0, 0, 0, 0, 0)
    body += _attribute(RTA_DST, socket.inet_aton(destination))
    if oif is not None:
        body += _attribute(RTA_OIF, struct.pack("=I", oif))
    return _message(RTM_GETROUTE, NLM_F_REQUEST, sequence, body)


def neighbour_dump(sequence: int) -> bytes:
    """RTM_GETNEIGH for every IPv4 neighbour entry."""
    body = _NDMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0)
    return _message(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, sequence, body)


def neighbour_use(sequence: int, address: str, ifindex: int) -> bytes:
    """RTM_NEWNEIGH with NTF_USE: the kernel creates the entry and resolves it itself."""
    body = _NDMSG.pack(socket.AF_INET, 0, 0, ifindex, 0, NTF_USE, 0)
    body += _attribute(NDA_DST, socket.inet_aton(address))
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
    return _message(RTM_NEWNEIGH, flags, sequence, body)


def messages(data: bytes) -> Iterator[Message]:
    """Split a datagram from the kernel into its netlink messages."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, flags, sequence, _port = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            raise ValueError(f"netlink message of bad length {length}")
        yield Message(kind, flags, sequence, data[offset + _HEADER.size : offset + length])
        offset += _align(length)


def attributes(data: bytes) -> dict[int, bytes]:
    """The attributes after a fixed header; the first occurrence of each type wins."""
    found: dict[int, bytes] = {}
    offset = 0
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            raise ValueError(f"netlink attribute of bad length {length}")
        found.setdefault(kind & 0x3FFF, data[offset + _ATTR.size : offset + length])
        offset += _align(length)
    return found


def error_code(message: Message) -> int:
    """The errno of an NLMSG_ERROR (0 for an acknowledgement)."""
    (code,) = struct.unpack_from("=i", message.body)
    return -int(code)


def parse_route(message: Message) -> Route:
    found = attributes(message.body[_RTMSG.size :])
    oif = struct.unpack("=I", found[RTA_OIF])[0] if RTA_OIF in found else 0
    gateway = socket.inet_ntoa(found[RTA_GATEWAY]) if RTA_GATEWAY in found else None
    prefsrc = socket.inet_ntoa(found[RTA_PREFSRC]) if RTA_PREFSRC in found else None
    return Route(oif, gateway, prefsrc)


def parse_neighbour(message: Message) -> NeighbourEntry:
    _family, _p1, _p2, ifindex, state, _flags, _type = _NDMSG.unpack_from(message.body)
    found = attributes(message.body[_NDMSG.size :])
    address = socket.inet_ntoa(found[NDA_DST]) if len(found.get(NDA_DST, b"")) == 4 else None
    lladdr = found.get(NDA_LLADDR)
    mac = ":".join(f"{b:02x}" for b in lladdr) if lladdr else None
    cache = found.get(NDA_CACHEINFO)
    confirmed = _CACHEINFO.unpack(cache)[0] if cache and len(cache) == _CACHEINFO.size else None
    return NeighbourEntry(ifindex, state, address, mac, confirmed)


class Rtnl:
    """An rtnetlink socket that sends one request at a time and collects its answer."""

    def __init__(self, timeout: float = 2.0) -> None:
        self._socket = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._socket.settimeout(timeout)
        self._socket.bind((0, 0))
        self._sequence = 0

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._socket.close()

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def request(self, data: bytes) -> list[Message]:
        """Send a request; the answer's messages, up to NLMSG_DONE or the single reply.
        A negative acknowledgement becomes OSError with the kernel's errno."""
        sequence = _HEADER.unpack_from(data)[3]
        self._socket.send(data)
        answer: list[Message] = []
        while True:
            for message in messages(self._socket.recv(65536)):
                if message.sequence != sequence:
                    continue  # a late answer to an earlier request
                if message.kind == NLMSG_ERROR:
                    code = error_code(message)
                    if code:
                        raise OSError(code, os.strerror(code))
                    return answer
                if message.kind == NLMSG_DONE:
                    return answer
                answer.append(message)
                if not message.flags & NLM_F_MULTI:
                    return answer


def route(destination: str, oif: int | None = None) -> Route:
    """The kernel's route to `destination`; OSError (e.g. ENETUNREACH) when it has none."""
    with Rtnl() as rtnl:
        answer = rtnl.request(route_get(rtnl.next_sequence(), destination, oif))
    for message in answer:
        if message.kind == RTM_NEWROUTE:
            return parse_route(message)
    raise OSError(errno.EPROTO, "no route message in the kernel's answer")


def neighbour(rtnl: Rtnl, address: str, ifindex: int) -> NeighbourEntry | None:
    """The neighbour table's entry for `address` on interface `ifindex`, if any."""
    for message in rtnl.request(neighbour_dump(rtnl.next_sequence())):
        if message.kind == RTM_NEWNEIGH:
            entry = parse_neighbour(message)
            if entry.ifindex == ifindex and entry.address == address:
                return entry
    return None
