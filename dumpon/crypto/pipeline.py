"""A dump body's way from the encrypted file to the core: read, decrypt, maybe decompress,
write, each stage on its own thread.

The stages pass a few large buffers round in fixed pools, so memory stays the same whatever
the body's size, and they overlap: file I/O, OpenSSL and zlib/zstd all release the GIL.
Decryption also cuts every buffer into one part per core (see ekcd.ParallelDecryptor).
The first failing stage stops the others; `run` re-raises its error as a StageError.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from dumpon.crypto.decompress import Compression, decompressor, detect
from dumpon.crypto.ekcd import ParallelDecryptor

BUFFER_SIZE: Final = 2 << 20  # a multiple of both ciphers' alignment (16 and 64)
POOL_DEPTH: Final = 3  # buffers per pool: one being filled, one being drained, one queued
HEAD_SIZE: Final = 512  # the decrypted bytes kept to tell what the body is
_POLL: Final = 0.05  # seconds between looks at the stop flag while waiting
_CUT_MINIMUM: Final = 256 << 10  # smaller pieces are not worth a second thread

Stage = Literal["read", "decrypt", "decompress", "write"]


class StageError(Exception):
    """A stage's failure: `stage` names it, `__cause__` is the original error."""

    def __init__(self, stage: Stage, cause: Exception) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
        self.cause = cause


class _Stopped(Exception):
    """Raised in a stage that waits while the run is being torn down."""


@dataclass(slots=True)
class _Piece:
    buffer: bytearray
    length: int
    pool: queue.SimpleQueue[bytearray]  # where the buffer goes back once drained


_END: Final = None
_T = TypeVar("_T")
_Channel = queue.SimpleQueue[_Piece | None]


@dataclass(frozen=True, slots=True)
class Outcome:
    bytes_in: int
    bytes_out: int
    compression: Compression | None  # undone on the way (decompress=True only)
    head: bytes  # the first HEAD_SIZE decrypted bytes (fewer for a smaller body)


def _pool(size: int) -> queue.SimpleQueue[bytearray]:
    pool: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _ in range(POOL_DEPTH):
        pool.put(bytearray(size))
    return pool


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Pipeline:
    """One run over one body: `source` and `sink` are file descriptors the caller owns."""

    def __init__(
        self,
        source: int,
        sink: int,
        decryptor: ParallelDecryptor,
        *,
        decompress: bool = False,
        buffer_size: int = BUFFER_SIZE,
    ) -> None:
        self._source = source
        self._sink = sink
        self._decryptor = decryptor
        self._decompress = decompress
        self._buffer_size = buffer_size
        self._stopping = threading.Event()
        self._failure: StageError | None = None
        self._lock = threading.Lock()
        self._bytes_in = 0
        self._bytes_out = 0
        self._compression: Compression | None = None
        self._head = b""

    def run(self) -> Outcome:
        """Stream the whole body; a failure (or an exception in the caller's thread, e.g.
        from a signal handler) stops every stage before this returns or raises."""
        encrypted, plain = _pool(self._buffer_size), _pool(self._buffer_size + 15)
        inflated = _pool(self._buffer_size) if self._decompress else queue.SimpleQueue()
        to_decrypt: _Channel = queue.SimpleQueue()
        decrypted: _Channel = queue.SimpleQueue()
        to_write: _Channel = queue.SimpleQueue()
        stages: list[tuple[Stage, Callable[[], None]]] = [
            ("read", lambda: self._read(encrypted, to_decrypt)),
            ("decrypt", lambda: self._decrypt(to_decrypt, plain, decrypted)),
        ]
        if self._decompress:
            stages.append(
                ("decompress", lambda: self._undo_compression(decrypted, inflated, to_write))
            )
        else:
            to_write = decrypted
        stages.append(("write", lambda: self._write(to_write)))
        threads = [
            threading.Thread(target=self._guard, args=stage, name=f"body-{stage[0]}", daemon=True)
            for stage in stages
        ]
        try:
            for thread in threads:
                thread.start()
            while threads[-1].is_alive():
                threads[-1].join(_POLL)  # short waits, so signal handlers run promptly
        finally:
            self._stopping.set()
            for thread in threads:
                thread.join()
            for pool in (plain, inflated):
                _wipe(pool)
        if self._failure is not None:
            raise self._failure
        return Outcome(self._bytes_in, self._bytes_out, self._compression, self._head)

    def _guard(self, stage: Stage, body: Callable[[], None]) -> None:
        try:
            body()
        except _Stopped:
            pass
        except Exception as exc:
            with self._lock:
                if self._failure is None:
                    self._failure = StageError(stage, exc)
            self._stopping.set()

    def _take(self, channel: queue.SimpleQueue[_T]) -> _T:
        while True:
            try:
                return channel.get(timeout=_POLL)
            except queue.Empty:
                if self._stopping.is_set():
                    raise _Stopped from None

    def _read(self, pool: queue.SimpleQueue[bytearray], out: _Channel) -> None:
        """Whole buffers, so that every piece but the last keeps the ciphers' alignment."""
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._source, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while True:
            buffer = self._take(pool)
            view, filled = memoryview(buffer), 0
            while filled < len(buffer):
                count = os.readv(self._source, [view[filled:]])
                if not count:
                    break
                filled += count
            self._bytes_in += filled
            if filled:
                out.put(_Piece(buffer, filled, pool))
            if filled < len(buffer):
                out.put(_END)
                return

    def _decrypt(self, inbox: _Channel, pool: queue.SimpleQueue[bytearray], out: _Channel) -> None:
        parts = _cores()
        with ThreadPoolExecutor(max(parts - 1, 1), thread_name_prefix="body-decrypt") as helpers:
            while (piece := self._take(inbox)) is not _END:
                target = self._take(pool)
                count = parts if piece.length >= parts * _CUT_MINIMUM else 1
                source = memoryview(piece.buffer)[: piece.length]
                first, *rest = self._decryptor.split(source, memoryview(target), count)
                pending = [helpers.submit(job) for job in rest]
                first()
                for job in pending:
                    job.result()
                piece.pool.put(piece.buffer)
                if not self._head:
                    self._head = bytes(target[: min(piece.length, HEAD_SIZE)])
                out.put(_Piece(target, piece.length, pool))
        out.put(_END)

    def _undo_compression(
        self, inbox: _Channel, pool: queue.SimpleQueue[bytearray], out: _Channel
    ) -> None:
        reader = _PieceReader(inbox, self._take)
        kind = detect(reader.peek(4))
        if kind is None:  # not compressed: the pieces go on as they are
            reader.forward(out)
            return
        self._compression = kind
        stream = decompressor(kind, reader)
        try:
            while True:
                buffer = self._take(pool)
                view, filled = memoryview(buffer), 0
                while filled < len(buffer) and (count := stream.readinto(view[filled:])):
                    filled += count
                if filled:
                    out.put(_Piece(buffer, filled, pool))
                if filled < len(buffer):
                    out.put(_END)
                    return
        finally:
            reader.close()

    def _write(self, inbox: _Channel) -> None:
        while (piece := self._take(inbox)) is not _END:
            view, done = memoryview(piece.buffer)[: piece.length], 0
            while done < piece.length:
                done += os.write(self._sink, view[done:])
            self._bytes_out += piece.length
            piece.pool.put(piece.buffer)


def _wipe(pool: queue.SimpleQueue[bytearray]) -> None:
    """Clear the plaintext the buffers still hold (the ones back in their pool)."""
    while True:
        try:
            buffer = pool.get_nowait()
        except queue.Empty:
            return
        buffer[:] = bytes(len(buffer))


class _PieceReader:
    """The decrypted pieces as a file a decompressor reads; buffers go back when read."""

    def __init__(self, inbox: _Channel, take: Callable[[_Channel], _Piece | None]) -> None:
        self._inbox = inbox
        self._take = take
        self._piece: _Piece | None = None
        self._offset = 0
        self._ended = False

    def _current(self) -> _Piece | None:
        if self._piece is not None and self._offset == self._piece.length:
            self._piece.pool.put(self._piece.buffer)
            self._piece = None
        if self._piece is None and not self._ended:
            self._piece, self._offset = self._take(self._inbox), 0
            self._ended = self._piece is None
        return self._piece

    def peek(self, size: int) -> bytes:
        piece = self._current()
        return b"" if piece is None else bytes(piece.buffer[: min(size, piece.length)])

    def read(self, size: int = -1) -> bytes:
        piece = self._current()
        if piece is None:
            return b""
        end = piece.length if size < 0 else min(piece.length, self._offset + size)
        data = bytes(piece.buffer[self._offset : end])
        self._offset = end
        return data

    def forward(self, out: _Channel) -> None:
        while (piece := self._current()) is not None:
            out.put(piece)
            self._piece = None
        out.put(_END)

    def close(self) -> None:
        if self._piece is not None:
            self._piece.pool.put(self._piece.buffer)
            self._piece = None
