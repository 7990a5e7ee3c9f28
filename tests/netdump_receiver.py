"""A minimal netdump receiver for tests: the project's ServerSession behind real sockets.

In a thread (`Receiver(...).start()`) or as a process (`python -m tests.netdump_receiver
ADDRESS OUTDIR`, e.g. inside a network namespace): it prints its herald port, takes one
dump, writes `body`, `key` and `kdh` into OUTDIR and exits 0 once FINISHED arrived (after
a second of answering repeated FINISHED messages, whose ACK the network may have lost).
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from dumpon.protocol.session import (
    BodyData,
    Finished,
    HeaderReceived,
    KeyData,
    ServerSession,
    parse_herald,
)
from dumpon.protocol.wire import WireError, pack_ack


@dataclass
class Received:
    body: bytearray = field(default_factory=bytearray)
    key: bytes = b""
    kdh: bytes = b""
    herald_path: bytes | None = None
    data_port: int = 0
    finished: Finished | None = None
    session: ServerSession | None = None


class Receiver:
    """One dump from one client; `herald_port` is where to send the HERALD."""

    def __init__(
        self, address: str = "127.0.0.1", port: int = 0, timeout: float = 20.0, linger: float = 0.0
    ) -> None:
        self.herald = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.herald.bind((address, port))
        self.address = address
        self.herald_port = self.herald.getsockname()[1]
        self.timeout = timeout
        self.linger = linger  # seconds to answer a repeated FINISHED, as netdumpd does
        self.result = Received()
        self.drop_acks = 0  # ACKs to swallow (a server whose ACKs get lost)
        self._thread: threading.Thread | None = None

    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self.serve, daemon=True)
        self._thread.start()
        return self

    def join(self) -> Received:
        assert self._thread is not None
        self._thread.join(self.timeout + 5)
        return self.result

    def serve(self) -> None:
        data: socket.socket | None = None
        session = ServerSession()
        self.result.session = session
        try:
            while self.result.finished is None:
                sockets = [self.herald] + ([data] if data else [])
                ready, _, _ = select.select(sockets, [], [], self.timeout)
                if not ready:
                    return
                for sock in ready:
                    datagram, client = sock.recvfrom(65535)
                    if sock is self.herald:
                        data = self._herald(datagram, client, data, session)
                    else:
                        self._data(sock, datagram, session)
            if data is not None:
                self._linger(data, session)
        finally:
            self.herald.close()
            if data is not None:
                data.close()

    def _linger(self, data: socket.socket, session: ServerSession) -> None:
        """ACK what still comes after FINISHED: when the FINISHED ACK is lost, the client
        sends FINISHED again, and a closed port would answer it with ICMP unreachable."""
        deadline = time.monotonic() + self.linger
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([data], [], [], left)
            if not ready:
                return
            outcome = session.receive(data.recv(65535))
            if outcome.ack is not None:
                data.send(outcome.ack)

    def _herald(
        self,
        datagram: bytes,
        client: tuple[str, int],
        data: socket.socket | None,
        session: ServerSession,
    ) -> socket.socket | None:
        try:
            herald = parse_herald(datagram)
        except WireError:
            return data
        if data is None:
            data = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            data.bind((self.address, 0))
            data.connect(client)
            self.result.herald_path = herald.path
            self.result.data_port = data.getsockname()[1]
        if not session.any_data_received:
            data.send(pack_ack(herald.seqno))
        return data

    def _data(self, sock: socket.socket, datagram: bytes, session: ServerSession) -> None:
        outcome = session.receive(datagram)
        event = outcome.event
        if isinstance(event, BodyData):
            end = event.offset + len(event.data)
            if len(self.result.body) < end:
                self.result.body.extend(bytes(end - len(self.result.body)))
            self.result.body[event.offset : end] = event.data
        elif isinstance(event, KeyData):
            self.result.key = session.key_blob()
        elif isinstance(event, HeaderReceived):
            self.result.kdh = event.raw
        elif isinstance(event, Finished):
            self.result.finished = event
            self.result.key = session.key_blob()
        if outcome.ack is not None:
            if self.drop_acks > 0:
                self.drop_acks -= 1
                return
            sock.send(outcome.ack)


def main() -> int:
    address, outdir = sys.argv[1], sys.argv[2]
    receiver = Receiver(address, linger=1.0)
    print(receiver.herald_port, flush=True)
    receiver.serve()
    result = receiver.result
    for name, content in (("body", result.body), ("key", result.key), ("kdh", result.kdh)):
        with open(os.path.join(outdir, name), "wb") as out:
            out.write(content)
    return 0 if result.finished is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
