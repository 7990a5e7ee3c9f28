"""One dump in progress: its socket, its protocol session and its files.

A dump starts at the HERALD, before its host name is known (the lookup runs in the
background).  Until the name arrives, accepted messages wait in memory, up to a bound;
they are ACKed, as the reference server ACKs data it holds in its buffer, and written as
soon as the files exist, which happens at the latest when the dump ends.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass

from dumpon.errors import os_error_text
from dumpon.protocol.session import (
    BodyData,
    Finished,
    HeaderReceived,
    KeyData,
    ServerSession,
    SessionEvent,
)
from dumpon.protocol.wire import DATASIZE
from dumpon.server import info
from dumpon.server.handler import Outcome
from dumpon.server.names import COMPRESSION_SUFFIXES
from dumpon.server.slots import claim
from dumpon.server.storage import DumpFiles

log = logging.getLogger("netdumpd")

# Messages held while the host name is looked up; beyond this they are dropped unACKed
# and the client sends them again.
MAX_WAITING_BYTES = 1 << 20
# Distinct received ranges a session may record: a client scattering tiny pieces over a
# huge offset space would otherwise grow the server's memory without bound.
MAX_RANGES = 1 << 16


class DumpFailed(Exception):
    """The dump cannot go on (write error, bad storage); the text goes to the info file."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a dump's files go: an open client directory and its path for the handler."""

    dir_fd: int
    rel_dir: str


class Dump:
    """Everything about one client's dump; the event loop drives it."""

    def __init__(
        self,
        peer: tuple[str, int],
        sock: socket.socket,
        place: Place,
        session: ServerSession,
        now: float,
    ) -> None:
        self.peer = peer
        self.sock = sock
        self.place = place
        self.session = session
        self.started = self.last_seen = now
        self.host: str | None = None
        self.files: DumpFiles | None = None
        # the payload size the client sends, as far as its batches show (until then the
        # reference's NETDUMP_DATASIZE): receive buffers are laid out for it
        self.payload_size = DATASIZE
        self._waiting: list[SessionEvent] = []
        self._waiting_bytes = 0
        self._header_applied = False

    @property
    def address(self) -> str:
        return self.peer[0]

    def open_files(self, host: str, max_dumps: int, rotate: bool) -> None:
        """Claim an index for `host` and create the files; then write what waited."""
        claimed = claim(self.place.dir_fd, host, max_dumps, rotate)
        try:
            self.files = DumpFiles(
                self.place.dir_fd, self.place.rel_dir, claimed.names, claimed.info_fd
            )
        except OSError:
            os.close(claimed.info_fd)
            os.unlink(claimed.names.info, dir_fd=self.place.dir_fd)
            raise
        self.host = host
        self.files.append_info(info.opening(host, self.address))
        waiting, self._waiting = self._waiting, []
        for event in waiting:
            self.store(event)

    def would_hold(self, size: int) -> bool:
        """Whether a message of `size` bytes may wait for the files to exist."""
        return self._waiting_bytes + size <= MAX_WAITING_BYTES

    def store(self, event: SessionEvent) -> None:
        """Write one accepted message (or keep it while the files do not exist yet)."""
        files = self.files
        if files is None:
            self._waiting.append(event)
            self._waiting_bytes += _size(event)
            return
        try:
            if isinstance(event, BodyData):
                files.write_core(event.offset, [memoryview(event.data)])
            elif isinstance(event, KeyData):
                files.write_key(event.offset, memoryview(event.data))
            elif isinstance(event, HeaderReceived):
                self._apply_header(files, event)
        except OSError as exc:
            offset = event.offset if isinstance(event, BodyData | KeyData) else 0
            raise DumpFailed(_write_error(exc, offset)) from exc

    def write_body(self, offset: int, parts: list[memoryview]) -> None:
        """Payloads of consecutive new body messages, written now (the files exist)."""
        files = self.files
        assert files is not None
        try:
            files.write_core(offset, parts)
        except OSError as exc:
            raise DumpFailed(_write_error(exc, offset)) from exc

    def check_pieces(self) -> None:
        """Bound the session's record of received ranges (the loop calls it per batch)."""
        if len(self.session.body) > MAX_RANGES:
            raise DumpFailed("Dump unsuccessful: too many separate pieces of data")

    def _apply_header(self, files: DumpFiles, event: HeaderReceived) -> None:
        """Info lines, renames and trimming, once: a resent header changes nothing."""
        if self._header_applied:
            return
        self._header_applied = True
        header = event.header
        files.append_info(info.header_block(header, event.parity_ok))
        compression = header.compression if header.version >= 3 else 0
        name = files.names.core(header.version >= 2 and header.dumpkeysize > 0, compression)
        files.rename_core(name)
        if compression in COMPRESSION_SUFFIXES:
            # the kernel pads compressed dumps to whole blocks; decompressors choke on it
            files.truncate_core(header.dumplength)

    def flush(self) -> None:
        """Core and key on stable storage: the slow part of finishing, which the event
        loop leaves to another thread (syncer), as nothing else touches these files."""
        files = self.files
        assert files is not None
        files.sync_data()

    def complete(self, finished: Finished, flushed: OSError | None) -> None:
        """After flush() (`flushed`: its error, if any): `.last` links, the info file's
        closing lines, themselves synced."""
        files = self.files
        assert files is not None
        try:
            if flushed is not None:
                raise flushed
            files.link_last()
            files.append_info(self._data_line() + "Dump complete\n")
            os.fsync(files.info_fd)
        except OSError as exc:
            raise DumpFailed(_write_error(exc, 0)) from exc
        if not finished.complete:
            log.warning("Dump from %s [%s] finished with data missing", self.host, self.address)

    def end(self, last_line: str) -> None:
        """Write the closing lines of a dump that did not finish; never raises."""
        files = self.files
        if files is None:
            return
        try:
            files.append_info(self._data_line() + last_line + "\n")
        except OSError as exc:
            log.error("Cannot complete %s: %s", files.names.info, os_error_text(exc))

    def _data_line(self) -> str:
        header = self.session.header
        length = header.dumplength if header is not None else None
        return info.data_line(self.session.body.total, length, self.session.holes())

    def outcome(self, reason: str) -> Outcome:
        files = self.files
        assert files is not None and self.host is not None
        key = files.path(files.names.key) if files.key_fd is not None else None
        return Outcome(
            reason,
            self.address,
            self.host,
            files.path(files.names.info),
            files.path(files.core_name),
            key,
        )

    def close_files(self) -> None:
        if self.files is not None:
            self.files.close()
        os.close(self.place.dir_fd)

    def close(self) -> None:
        self.sock.close()
        self.close_files()


def _size(event: SessionEvent) -> int:
    if isinstance(event, BodyData | KeyData):
        return len(event.data)
    return 512


def _write_error(exc: OSError, offset: int) -> str:
    reason = os_error_text(exc)
    if exc.errno == errno.EINVAL and exc.filename:
        reason = f"{exc.filename}: {os_error_text(exc)}"
    return f"Dump unsuccessful: write error @ offset {offset:08x}: {reason}"
