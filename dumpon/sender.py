"""Sending a dump over UDP as a FreeBSD kernel would: the driver of the client machine.

The socket is bound to the client address and port 20024 (and, where the process may,
to the interface with SO_BINDTODEVICE), sends with DF set and TTL 255 like the kernel's
IP output, and asks Linux for ICMP errors (IP_RECVERR) so that a closed server port is
reported instead of waited out.  Datagrams from other addresses than the server are not
ACKs (debugnet_handle_ip() drops them); they are counted to name a wrong-address setup.

The socket blocks, with the kernel's SO_RCVTIMEO and SO_SNDTIMEO as time limits rather
than Python's socket timeout: that one polls the socket before every send and receive,
which doubles the system calls of the hot loop.  A receive that runs out of time fails
with EAGAIN, which is the machine's timeout.
"""

from __future__ import annotations

import errno
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from dumpon.dumpsource import Dump
from dumpon.errors import Exit, ToolError, strerror
from dumpon.protocol.client import ClientMachine, ClientState, ClientStats, Transmit
from dumpon.protocol.wire import ACK_PORT, HERALD_PORT

IP_RECVERR: Final = 11  # Linux <linux/in.h>
IP_MTU_DISCOVER: Final = 10
IP_PMTUDISC_DO: Final = 2  # DF on every datagram, as the kernel's netdump IP output
_TTL: Final = 255
_SHORTEST_WAIT: Final = 1e-4
# How long the hot loop polls for an ACK before it sleeps in recv(): longer than a fast
# server takes to ACK the end of a batch, so that the client is not woken up at every
# batch, which costs tens of microseconds (more in a virtual machine).  The kernel never
# sleeps here: debugnet_send() (sys/net/debugnet.c) busy-waits between polls of the NIC.
_POLL_FOR: Final = 200e-6
_TIMEVAL: Final = struct.Struct("@ll")  # struct timeval on LP64 Linux and BSD
_UNREACHABLE: Final = (errno.EHOSTUNREACH, errno.ENETUNREACH)
_CONGESTED: Final = (errno.EAGAIN, errno.ENOBUFS)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the dump goes from and to."""

    server: str  # IPv4 address
    client: str = ""  # "" lets the host's routing choose the source address
    iface: str | None = None
    client_port: int = ACK_PORT
    server_port: int = HERALD_PORT


@dataclass(slots=True)
class SendResult:
    stats: ClientStats
    data_port: int
    seconds: float
    body_bytes: int
    source: str  # the address the dump was sent from
    warnings: list[str] = field(default_factory=list)


class Progress(Protocol):
    """What the sender tells a progress display."""

    def update(self, body_bytes: int, stats: ClientStats) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    def update(self, body_bytes: int, stats: ClientStats) -> None:
        pass

    def close(self) -> None:
        pass


def open_socket(endpoints: Endpoints, warnings: list[str]) -> socket.socket:
    """The client's UDP socket; every failure is a ToolError naming the address or interface."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if sys.platform.startswith("linux"):
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, _TTL)
        if endpoints.iface is not None:
            _bind_to_device(sock, endpoints.iface, warnings)
        try:
            sock.bind((endpoints.client, endpoints.client_port))
        except OSError as exc:
            raise _bind_error(exc, endpoints) from None
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_to_device(sock: socket.socket, iface: str, warnings: list[str]) -> None:
    option = getattr(socket, "SO_BINDTODEVICE", None)
    if option is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, option, iface.encode("utf-8", "surrogateescape"))
    except PermissionError:
        warnings.append(f"not bound to {iface}: SO_BINDTODEVICE needs CAP_NET_RAW")
    except OSError as exc:
        raise ToolError(f"interface '{iface}': {strerror(exc.errno or 0)}", Exit.CONFIG) from None


def _bind_error(exc: OSError, endpoints: Endpoints) -> ToolError:
    where = f"{endpoints.client or '0.0.0.0'}:{endpoints.client_port}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return ToolError(
            f"wrong source address: {endpoints.client} is not an address of this host",
            Exit.CONFIG,
        )
    if exc.errno == errno.EADDRINUSE:
        return ToolError(f"{where} is in use (another netdump send?)", Exit.TEMPFAIL)
    return ToolError(f"bind {where}: {strerror(exc.errno or 0)}", Exit.OSERR)


def _set_time_limit(sock: socket.socket, option: int, seconds: float) -> None:
    seconds = max(seconds, _SHORTEST_WAIT)
    whole = int(seconds)
    sock.setsockopt(socket.SOL_SOCKET, option, _TIMEVAL.pack(whole, int((seconds - whole) * 1e6)))


def _destination(port: int, herald_port: int) -> int:
    """The machine says 20023 until the first ACK; the herald port may be another here."""
    return herald_port if port == HERALD_PORT else port


class _Run:
    """One dump's event loop: socket and clock on one side, the machine on the other."""

    def __init__(
        self,
        machine: ClientMachine,
        dump: Dump,
        sock: socket.socket,
        server: str,
        progress: Progress,
        clock: Callable[[], float],
    ) -> None:
        self.machine = machine
        self.dump = dump
        self.sock = sock
        self.server = server
        self.progress = progress
        self.clock = clock
        self.deadline = 0.0
        self.strangers: set[str] = set()
        self.unreachable = 0

    def transmit(self, action: Transmit | None, server_port: int) -> None:
        if action is None:
            return
        port = _destination(action.port, server_port)
        address = (self.server, port)
        sendto = self.sock.sendto
        try:
            for datagram in action.datagrams:
                try:
                    sendto(datagram, address)
                except OSError as exc:
                    # a full send queue drops the datagram, as a full NIC ring would
                    if exc.errno not in _CONGESTED:
                        raise
        except OSError as exc:
            self.network_error(exc, port)
        self.deadline = action.wake_at
        # Never 0: SO_RCVTIMEO 0 means no time limit at all.
        _set_time_limit(self.sock, socket.SO_RCVTIMEO, action.wake_at - self.clock())

    def network_error(self, exc: OSError, port: int) -> None:
        """ICMP errors (IP_RECVERR) and local send failures, named."""
        where = f"{self.server}:{port}"
        if isinstance(exc, ConnectionRefusedError):
            raise ToolError(f"refused: {where} answered ICMP port unreachable", Exit.PROTOCOL)
        if exc.errno in _UNREACHABLE:
            # The host's ARP for the next hop failed (or a router said so); the kernel gives
            # up after net.netdump.arp_retries ARP rounds.
            self.unreachable += 1
            if self.unreachable > self.machine.tunables.arp_retries:
                raise ToolError(f"{where}: {strerror(exc.errno or 0)}", Exit.UNAVAILABLE)
            return
        if exc.errno == errno.EMSGSIZE:
            raise ToolError(
                f"{self.machine.payload}-byte payloads do not fit the path MTU to {where}"
                " (try --payload)",
                Exit.CONFIG,
            )
        raise ToolError(f"sending to {where}: {strerror(exc.errno or 0)}", Exit.OSERR)

    def run(self, server_port: int) -> None:
        machine, body, clock = self.machine, self.dump.body, self.clock
        # a send queue that stays full this long drops the datagram, as a full NIC ring would
        _set_time_limit(self.sock, socket.SO_SNDTIMEO, machine.tunables.resend_after)
        staging = machine.staging
        self.transmit(machine.start(clock()), server_port)
        filtered = False
        while True:
            if machine.wants_body:
                run = body.read_run(staging)
                if run:
                    action = machine.send_body(body.position - len(run), run, clock())
                else:
                    action = machine.finish_body(self.dump.header(body.length), clock())
                self.transmit(action, server_port)
                self.progress.update(machine.stats.body_acked, machine.stats)
                continue
            state = machine.state
            if state is ClientState.DONE or state is ClientState.FAILED:
                return
            if not filtered and state is not ClientState.HERALD:
                filtered = self.filter_by_server()
            try:
                if filtered:
                    self.receive_filtered(server_port)
                else:
                    self.receive_any(server_port)
            except BlockingIOError:  # SO_RCVTIMEO ran out
                self.transmit(machine.timeout(clock()), server_port)
            except OSError as exc:
                self.network_error(exc, _destination(machine.port, server_port))

    def receive_any(self, server_port: int) -> None:
        """One datagram from anywhere; only the server's count (debugnet_handle_ip())."""
        # 8 bytes tell a 4-byte ACK from anything longer.
        datagram, (address, port) = self.sock.recvfrom(8)
        now = self.clock()
        if address == self.server:
            self.transmit(self.machine.receive(datagram, port, now), server_port)
        elif len(datagram) == 4:
            self.strangers.add(address)
        if now >= self.deadline:
            self.transmit(self.machine.timeout(now), server_port)

    def receive_filtered(self, server_port: int) -> None:
        """The hot loop once the socket only lets the server's datagrams in: the ACKs of a
        whole batch without going back to the caller."""
        machine, clock, recv = self.machine, self.clock, self.sock.recv
        receive, port = machine.receive, machine.port
        while True:
            datagram = self.poll(recv, clock)
            now = clock()
            action = receive(datagram, port, now)
            if action is not None or not machine.waiting:
                self.transmit(action, server_port)
                return
            if now >= self.deadline:
                self.transmit(machine.timeout(now), server_port)
                return

    def poll(self, recv: Callable[[int, int], bytes], clock: Callable[[], float]) -> bytes:
        """The next datagram: polled for up to _POLL_FOR (never past the machine's wake-up
        time), then waited for in recv() under SO_RCVTIMEO."""
        until = min(clock() + _POLL_FOR, self.deadline)
        while True:
            try:
                return recv(8, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if clock() >= until:
                    return recv(8, 0)

    def filter_by_server(self) -> bool:
        """Let the kernel drop datagrams from other addresses than the server's, any port
        (connect() to port 0 filters on the address alone on Linux), so that the hot loop
        can use recv(); where that is not possible, keep checking each sender."""
        if not sys.platform.startswith("linux"):
            return False
        try:
            self.sock.connect((self.server, 0))
        except OSError:
            return False
        return True

    def failure(self, endpoints: Endpoints) -> ToolError:
        machine = self.machine
        if machine.failed_in is ClientState.HERALD:
            if self.strangers:
                others = ", ".join(sorted(self.strangers))
                return ToolError(
                    f"wrong source address: ACKs came from {others}, not from {self.server}",
                    Exit.CONFIG,
                )
            return ToolError(
                f"no server: no ACK from {self.server}:{endpoints.server_port} after"
                f" {machine.tunables.retries + 2} HERALDs",
                Exit.UNAVAILABLE,
            )
        where = machine.failed_in.value if machine.failed_in else "?"
        return ToolError(f"dump failed while sending {where}: {machine.failure}", Exit.TEMPFAIL)


IP_MTU: Final = 14  # Linux <linux/in.h>: the path MTU of a connected socket
DEFAULT_MTU: Final = 1500


def path_mtu(server: str, iface: str | None) -> int:
    """The MTU on the way to `server` (through `iface` where the process may bind to it),
    as the host's routing knows it; Ethernet's 1500 where the platform cannot tell."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            if iface is not None:
                _bind_to_device(probe, iface, [])
            probe.connect((server, HERALD_PORT))
            return int(probe.getsockopt(socket.IPPROTO_IP, IP_MTU))
        except OSError:
            return DEFAULT_MTU


def _route_source(server: str) -> str:
    """The source address the host's routing picks for `server` (connect() sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((server, HERALD_PORT))
        except OSError:
            return "0.0.0.0"
        return str(probe.getsockname()[0])


def send(
    machine: ClientMachine,
    dump: Dump,
    endpoints: Endpoints,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SendResult:
    """Send `dump` to the server; the SendResult once FINISHED is ACKed, else a ToolError.

    Ctrl-C (KeyboardInterrupt) closes the socket and the display and propagates.
    """
    warnings: list[str] = []
    display = progress or NoProgress()
    sock = open_socket(endpoints, warnings)
    started = clock()
    try:
        loop = _Run(machine, dump, sock, endpoints.server, display, clock)
        loop.run(endpoints.server_port)
        if machine.state is ClientState.FAILED:
            raise loop.failure(endpoints)
        source = sock.getsockname()[0]
        if source == "0.0.0.0":
            source = _route_source(endpoints.server)
    finally:
        display.close()
        sock.close()
    return SendResult(
        machine.stats, machine.port, clock() - started, dump.body.position, source, warnings
    )
