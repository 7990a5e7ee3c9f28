"""The server's settings, one frozen record built by the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NETDUMP_PORT = 20023
# The largest UDP payload over IPv4 (65535 - 20 - 8) less the 24-byte message header.
UDP_MAX_PAYLOAD = 65507 - 24
# How long the loop polls without sleeping after a datagram, in microseconds: longer than
# a client's pause between batches on a fast network.
BUSY_POLL_USEC = 1000


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What netdumpd(8) documents; the defaults are the reference server's where it has one."""

    dumpdir: Path = Path("/var/crash")
    default_path: str = "."
    bind_address: str = "0.0.0.0"
    port: int = NETDUMP_PORT
    # idle time after the last valid packet before a dump ends as incomplete
    timeout: float = 600.0
    max_dumps: int = 1024
    rotate: bool = False
    minfree: int = 0
    max_dump_size: int | None = None
    max_clients: int = 256
    max_payload: int = UDP_MAX_PAYLOAD
    handler: Path | None = None
    handler_timeout: float = 300.0
    # how long a new dump waits for its reverse-DNS name before using the dotted address
    dns_timeout: float = 2.0
    # seconds the loop polls without sleeping after each datagram while dumps arrive
    busy_poll: float = BUSY_POLL_USEC / 1e6
