"""A dump body's way from the encrypted file to the core, on several threads at once.

Worker threads each claim the next chunk of the body, read it at its offset (pread) and
decrypt it on their own (ekcd.ChunkDecryptor: any chunk decrypts without the others); one
writer thread takes the chunks back in order and writes them one after the other, after
gunzip or unzstd with decompression.  File I/O, OpenSSL and zlib/zstd release the GIL, so
reading, decrypting, decompressing and writing overlap and use every core, while the output
still grows by plain sequential writes (several writers of one file would fight over its
inode lock, and the disk would see them out of order); output far behind the writer
leaves the page cache as it goes.  A fixed pool of chunk buffers goes round, so memory is
the same whatever the body's size.  The first failure stops every thread; `run` raises it
as a StageError.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from dumpon.crypto.decompress import Compression, decompressor, detect
from dumpon.crypto.ekcd import ChunkDecryptor

CHUNK_SIZE: Final = 1 << 20  # a multiple of both ciphers' alignment; fits a core's L2 cache
HEAD_SIZE: Final = 512  # the decrypted bytes kept to tell what the body is
_POLL: Final = 0.05  # seconds between looks at the stop flag while waiting
# Output further behind the writer than this is written back and dropped from the page cache.
DROP_BEHIND: Final = 256 << 20

Stage = Literal["read", "decrypt", "decompress", "write"]


class StageError(Exception):
    """A stage's failure: `stage` names it, `cause` is the original error."""

    def __init__(self, stage: Stage, cause: Exception) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
        self.cause = cause


class _Stopped(Exception):
    """Raised in a thread that waits while the run is being torn down."""


@dataclass(frozen=True, slots=True)
class Outcome:
    bytes_in: int
    bytes_out: int
    compression: Compression | None  # undone on the way (decompress=True only)
    head: bytes  # the first HEAD_SIZE decrypted bytes (fewer for a smaller body)


@dataclass(slots=True)
class _Chunk:
    index: int
    buffer: bytearray
    length: int  # shorter than the chunk size only at the end of the body


def _workers() -> int:
    """One per core: with the writer, every core has a thread to run."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Pipeline:
    """One run over one body: `source` and `sink` are file descriptors the caller owns;
    `sink` must be a regular file opened for writing, positioned at 0."""

    def __init__(
        self,
        source: int,
        sink: int,
        decryptor: ChunkDecryptor,
        *,
        decompress: bool = False,
        chunk_size: int = CHUNK_SIZE,
        workers: int | None = None,
    ) -> None:
        if chunk_size % 64:
            raise ValueError(f"chunk size {chunk_size} is not a multiple of 64")
        self._source = source
        self._sink = sink
        self._decryptor = decryptor
        self._decompress = decompress
        self._chunk_size = chunk_size
        self._workers = workers or _workers()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._failure: StageError | None = None
        self._next_index = 0
        self._end = -1  # body length, once a worker has found it (a short or empty chunk)
        self._head = b""
        self._compression: Compression | None = None
        self._bytes_out = 0
        # decrypted chunks by index for the writer, and the buffers that go round
        self._ready: dict[int, _Chunk] = {}
        self._arrived = threading.Condition(self._lock)
        self._spare: queue.SimpleQueue[bytearray] = queue.SimpleQueue()

    def run(self) -> Outcome:
        """Stream the whole body.  A failure, or an exception in the caller's thread (from a
        signal handler, say), stops every thread before this returns or raises."""
        # one being written, one per worker, one ready in between
        for _ in range(self._workers + 2):
            self._spare.put(bytearray(self._chunk_size + 15))
        threads = [self._thread("decrypt", self._work) for _ in range(self._workers)]
        threads.append(self._thread("decompress" if self._decompress else "write", self._drain))
        try:
            for thread in threads:
                thread.start()
            writer = threads[-1]  # done once the last chunk is out; then the workers stop
            while writer.is_alive():
                writer.join(_POLL)  # short waits, so that signal handlers run promptly
        finally:
            self._stopping.set()
            for thread in threads:
                thread.join()
            for chunk in self._ready.values():  # decrypted, never written (a failure, the end)
                self._spare.put(chunk.buffer)
            _wipe(self._spare)
        if self._failure is not None:
            raise self._failure
        return Outcome(self._end, self._bytes_out, self._compression, self._head)

    def _thread(self, stage: Stage, body: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                body()
            except _Stopped:
                pass
            except StageError as exc:
                self._fail(exc)
            except Exception as exc:
                self._fail(StageError(stage, exc))

        return threading.Thread(target=guarded, name=f"body-{stage}", daemon=True)

    def _fail(self, exc: StageError) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = exc
        self._stopping.set()

    def _claim(self) -> int | None:
        """The next chunk's index, or None once the body's end is known to be before it."""
        with self._lock:
            index = self._next_index
            if self._stopping.is_set() or 0 <= self._end <= index * self._chunk_size:
                return None
            self._next_index += 1
            return index

    def _found_end(self, length: int) -> None:
        with self._lock:
            if self._end < 0 or length < self._end:
                self._end = length

    def _work(self) -> None:
        lead = self._decryptor.lead
        encrypted = bytearray(lead + self._chunk_size)
        _advise(self._source, 0, 0, "POSIX_FADV_SEQUENTIAL")
        while True:
            plain = self._take_spare()  # before the claim: the writer never waits on a
            index = self._claim()  # chunk whose worker has no buffer
            if index is None:
                self._spare.put(plain)
                return
            offset = index * self._chunk_size
            before = lead if offset else 0
            try:
                count = _pread_full(
                    self._source, memoryview(encrypted)[lead - before :], offset - before
                )
            except OSError as exc:
                raise StageError("read", exc) from exc
            length = max(count - before, 0)
            if length < self._chunk_size:
                self._found_end(offset + length)
            source = memoryview(encrypted)[lead : lead + length]
            try:
                self._decryptor.decrypt(
                    offset, memoryview(encrypted)[:lead], source, memoryview(plain)
                )
            except ValueError as exc:
                raise StageError("decrypt", exc) from exc
            if index == 0:
                self._head = bytes(plain[: min(length, HEAD_SIZE)])
            with self._arrived:
                self._ready[index] = _Chunk(index, plain, length)
                self._arrived.notify_all()

    def _take_spare(self) -> bytearray:
        while True:
            try:
                return self._spare.get(timeout=_POLL)
            except queue.Empty:
                if self._stopping.is_set():
                    raise _Stopped from None

    def _drain(self) -> None:
        """The decrypted chunks in order, decompressed if asked and possible, written."""
        chunks = _InOrder(self._arrival, self._spare.put)
        kind = detect(chunks.peek(4)) if self._decompress else None
        self._compression = kind
        if kind is None:  # the chunks go out as they are
            while chunk := chunks.read_chunk():
                self._write(chunk)
            return
        stream = decompressor(kind, chunks)
        buffer = bytearray(self._chunk_size)
        view = memoryview(buffer)
        try:
            while True:
                filled = 0
                while filled < len(buffer):
                    try:
                        count = stream.readinto(view[filled:])
                    except Exception as exc:
                        raise StageError("decompress", exc) from exc
                    if not count:
                        break
                    filled += count
                self._write(view[:filled])
                if filled < len(buffer):
                    return
        finally:
            buffer[:] = bytes(len(buffer))

    def _write(self, data: memoryview) -> None:
        start = self._bytes_out
        try:
            done = 0
            while done < len(data):
                done += os.write(self._sink, data[done:])
            self._bytes_out += len(data)
            _drop_behind(self._sink, start, self._bytes_out)
        except OSError as exc:
            raise StageError("write", exc) from exc

    def _arrival(self, index: int) -> _Chunk | None:
        """Chunk `index` once decrypted; None past the body's end (a chunk read there after
        the file grew is left out, as the end is where a read first came up short)."""
        with self._arrived:
            while True:
                if 0 <= self._end <= index * self._chunk_size:
                    return None
                if index in self._ready:
                    return self._ready.pop(index)
                if self._stopping.is_set():
                    raise _Stopped
                self._arrived.wait(_POLL)


def _drop_behind(fd: int, start: int, end: int) -> None:
    """Having written `start` to `end`, advise the kernel that the output DROP_BEHIND
    further back is not needed (Linux starts writing it back) and, twice as far back, by
    now written, drop it from the page cache (pages still dirty or busy are skipped).

    A dump is as large as the machine's memory: left alone, its dirty pages pile up in the
    page cache until every write waits for the disk, and push out everything else cached.
    This way the output keeps at most about 2 * DROP_BEHIND in the cache, the disk is busy
    from early on, and new writes reuse the pages freed behind them (on the 2-core test VM
    a 4 GiB body took 4.5 to 7.5 s and 4 s of CPU time, instead of 6.5 to 22 s and 5 to
    17 s).  An output shorter than DROP_BEHIND is left to the kernel, as cp's is.
    """
    for lag in (DROP_BEHIND, 2 * DROP_BEHIND):
        if end > lag:
            begin = max(start - lag, 0)
            _advise(fd, begin, end - lag - begin, "POSIX_FADV_DONTNEED")


def _advise(fd: int, offset: int, length: int, advice: str) -> None:
    """posix_fadvise where there is one; advice only, so a refusal changes nothing."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, offset, length, getattr(os, advice))


def _wipe(pool: queue.SimpleQueue[bytearray]) -> None:
    """Clear the plaintext left in the buffers back in `pool`."""
    while True:
        try:
            buffer = pool.get_nowait()
        except queue.Empty:
            return
        buffer[:] = bytes(len(buffer))


class _InOrder:
    """The decrypted chunks, in order, as a file a decompressor reads; each buffer goes
    back to `release` once read."""

    def __init__(
        self, arrival: Callable[[int], _Chunk | None], release: Callable[[bytearray], None]
    ) -> None:
        self._arrival = arrival
        self._release = release
        self._index = 0
        self._chunk: _Chunk | None = None
        self._offset = 0
        self._ended = False

    def _current(self) -> _Chunk | None:
        if self._chunk is not None and self._offset == self._chunk.length:
            self._release(self._chunk.buffer)
            self._chunk = None
        if self._chunk is None and not self._ended:
            chunk = self._arrival(self._index)
            self._index += 1
            if chunk is None or chunk.length == 0:
                self._ended = True
            else:
                self._chunk, self._offset = chunk, 0
        return self._chunk

    def read_chunk(self) -> memoryview:
        """The rest of the current chunk without a copy (valid until the next call)."""
        chunk = self._current()
        if chunk is None:
            return memoryview(b"")
        view = memoryview(chunk.buffer)[self._offset : chunk.length]
        self._offset = chunk.length
        return view

    def peek(self, size: int) -> bytes:
        chunk = self._current()
        return b"" if chunk is None else bytes(chunk.buffer[: min(size, chunk.length)])

    def read(self, size: int = -1) -> bytes:
        chunk = self._current()
        if chunk is None:
            return b""
        end = chunk.length if size < 0 else min(chunk.length, self._offset + size)
        data = bytes(chunk.buffer[self._offset : end])
        self._offset = end
        return data


def _pread_full(fd: int, buffer: memoryview, offset: int) -> int:
    """Fill `buffer` from `offset`; fewer bytes only at the end of the file."""
    filled = 0
    while filled < len(buffer):
        count = os.preadv(fd, [buffer[filled:]], offset + filled)
        if not count:
            break
        filled += count
    return filled
