"""A dump sent message by message from inside a namespace, timing every ACK.

    python -m tests.netns_client SERVER SOURCE BYTES COPY

Writes the body it sent to COPY and prints JSON: {"max_ack_seconds": ..., "acks": n}.
Run by tests through `ip netns exec`.
"""

from __future__ import annotations

import json
import os
import sys
import time

from dumpon.protocol.wire import MessageType
from tests.server_support import RawClient, header


def main() -> None:
    server, source, size, copy = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    client = RawClient(20023, source=source, server=server, timeout=5.0)
    slowest = 0.0
    acks = 0

    def timed(kind: int, offset: int, payload: bytes) -> None:
        nonlocal slowest, acks
        start = time.monotonic()
        client.exchange(kind, offset, payload)
        slowest = max(slowest, time.monotonic() - start)
        acks += 1

    start = time.monotonic()
    client.herald()
    slowest = time.monotonic() - start
    body = os.urandom(size)
    with open(copy, "wb") as out:
        out.write(body)
    for offset in range(0, size, 1448):
        timed(MessageType.VMCORE, offset, body[offset : offset + 1448])
    timed(MessageType.KDH, 0, header(size))
    timed(MessageType.FINISHED, 0, b"")
    print(json.dumps({"max_ack_seconds": slowest, "acks": acks + 1}), flush=True)


if __name__ == "__main__":
    main()
