"""Sockets: the herald socket that learns each HERALD's destination, and per-dump sockets.

The reference server answers from a new socket bound to the address the HERALD was sent
to (a multi-homed server must answer from the address the kernel expects) and connected
to the client.  The destination address comes from IP_PKTINFO (Linux) or IP_RECVDSTADDR
(FreeBSD and the other BSDs).
"""

from __future__ import annotations

import socket
import sys

# <netinet/in.h>: Linux IP_PKTINFO, BSD IP_RECVDSTADDR (neither is exported by Python)
_IP_PKTINFO = 8
_IP_RECVDSTADDR = 7
_LINUX = sys.platform.startswith("linux")
_CMSG_SPACE = socket.CMSG_SPACE(12)
# Per dump: room for a kernel's whole batch (64 packets) and then some.
DUMP_RCVBUF = 512 * 1024


def herald_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        option = _IP_PKTINFO if _LINUX else _IP_RECVDSTADDR
        sock.setsockopt(socket.IPPROTO_IP, option, 1)
        sock.bind((address, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def receive_herald(sock: socket.socket, size: int) -> tuple[bytes, tuple[str, int], str | None]:
    """One datagram, its source, and the local address it was sent to (None: unknown)."""
    data, ancillary, _flags, source = sock.recvmsg(size, _CMSG_SPACE)
    destination = None
    for level, kind, value in ancillary:
        if level != socket.IPPROTO_IP:
            continue
        if _LINUX and kind == _IP_PKTINFO and len(value) >= 12:
            # struct in_pktinfo: ifindex, spec_dst, addr (the header's destination)
            destination = socket.inet_ntoa(value[8:12])
        elif not _LINUX and kind == _IP_RECVDSTADDR and len(value) >= 4:
            destination = socket.inet_ntoa(value[:4])
    return data, source, destination


def dump_socket(local: str, peer: tuple[str, int]) -> socket.socket:
    """A socket bound to (local, any port) and connected to the client's (address, port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, DUMP_RCVBUF)
        sock.bind((local, 0))
        sock.connect(peer)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
