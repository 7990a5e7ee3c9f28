"""Helpers for netdumpd tests: an in-process server on an ephemeral loopback port, and a
raw client that speaks the wire format message by message (dumpon.protocol.wire)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from dumpon.protocol.kdh import KernelDumpHeader
from dumpon.protocol.wire import Message, MessageType, herald_payload, parse_ack
from dumpon.server import sockets
from dumpon.server.config import ServerConfig
from dumpon.server.handler import HandlerRunner
from dumpon.server.loop import Server

LOOPBACK = "127.0.0.1"


class RunningServer:
    """A Server running in a thread; `port` is its herald port."""

    def __init__(self, config: ServerConfig) -> None:
        self.root_fd = os.open(config.dumpdir, os.O_RDONLY | os.O_DIRECTORY)
        self.herald = sockets.herald_socket(config.bind_address, 0)
        self.port = self.herald.getsockname()[1]
        handler = None
        if config.handler is not None:
            handler = HandlerRunner(config.handler, config.dumpdir, config.handler_timeout)
        self.server = Server(config, self.root_fd, self.herald, handler)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.error: BaseException | None = None

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the server did not stop"
        self.herald.close()
        os.close(self.root_fd)


@contextmanager
def running_server(dumpdir: Path, **settings: object) -> Iterator[RunningServer]:
    config = replace(ServerConfig(dumpdir=dumpdir, bind_address=LOOPBACK), **settings)  # type: ignore[arg-type]
    server = RunningServer(config)
    server.thread.start()
    try:
        yield server
    finally:
        server.stop()


class RawClient:
    """One client socket: HERALD to the server's port, then messages to the dump port."""

    def __init__(
        self,
        port: int,
        *,
        settle: Callable[[], bool] | None = None,
        source: str = LOOPBACK,
        server: str = LOOPBACK,
        timeout: float = 2.0,
    ) -> None:
        self.server = server
        self.server_port = port
        self.settle = settle
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.dump_port: int | None = None
        self.seqno = 1

    def close(self) -> None:
        self.sock.close()

    def herald(self, path: str | bytes = b"") -> int:
        self.sock.sendto(
            Message(MessageType.HERALD, 1, 0, herald_payload(path)).pack(),
            (self.server, self.server_port),
        )
        data, source = self.sock.recvfrom(64)
        assert parse_ack(data) == 1
        if self.settle is not None:
            wait_for(self.settle)  # the name lookup runs in the background
        self.dump_port = source[1]
        self.seqno = 2
        return source[1]

    def send_raw(self, datagram: bytes) -> None:
        assert self.dump_port is not None
        self.sock.sendto(datagram, (self.server, self.dump_port))

    def send(self, kind: int, offset: int, payload: bytes) -> int:
        """Send one message with the next seqno; returns that seqno."""
        seqno = self.seqno
        self.seqno += 1
        self.send_raw(Message(kind, seqno, offset, payload).pack())
        return seqno

    def ack(self) -> int | None:
        """The next ACK, or None on timeout."""
        try:
            data = self.sock.recv(64)
        except TimeoutError:
            return None
        return parse_ack(data)

    def exchange(self, kind: int, offset: int, payload: bytes) -> None:
        """Send one message and wait for its ACK (ACKs for other seqnos are skipped)."""
        seqno = self.send(kind, offset, payload)
        while (ack := self.ack()) != seqno:
            assert ack is not None, f"no ACK for {seqno}"

    def body(self, data: bytes, chunk: int = 1448, base: int = 0) -> None:
        """Send a body (at offset `base`) in batches of up to 32 packets, each batch waiting
        for its ACKs."""
        offsets = list(range(0, len(data), chunk))
        for first in range(0, len(offsets), 32):
            sent = {
                self.send(MessageType.VMCORE, base + offset, data[offset : offset + chunk])
                for offset in offsets[first : first + 32]
            }
            while sent:
                ack = self.ack()
                assert ack is not None, f"missing ACKs {sorted(sent)}"
                sent.discard(ack)


def client_of(server: RunningServer, **settings: Any) -> RawClient:
    """A client of an in-process server that waits, after its HERALD, for the dump's files."""
    return RawClient(server.port, settle=server.server.named, **settings)


def header(length: int, **fields: object) -> bytes:
    values: dict[str, object] = {
        "architecture": "amd64",
        "architectureversion": 2,
        "dumplength": length,
        "dumptime": 1_700_000_000,
        "hostname": "client.example.org",
        "versionstring": "FreeBSD 14.1-RELEASE GENERIC\n",
        "panicstring": "test panic",
    }
    values.update(fields)
    return KernelDumpHeader(**values).pack()  # type: ignore[arg-type]


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
