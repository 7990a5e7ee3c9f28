"""Undo a dump body's gzip or zstd compression as a stream, into caller-owned buffers.

Both readers pull their input through `Source.read`, so they sit in the middle of a pipeline;
every failure, a cut-off stream included, is a DecompressError naming the format.
"""

from __future__ import annotations

from typing import IO, Final, Literal, Protocol, cast

GZIP_MAGIC: Final = b"\x1f\x8b"
ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_READ_SIZE: Final = 1 << 17

Compression = Literal["gzip", "zstd"]


class DecompressError(Exception):
    pass


class Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Decompressor(Protocol):
    def readinto(self, buffer: memoryview, /) -> int:
        """Fill part of `buffer`; 0 only at the end of a whole stream."""
        ...


def detect(head: bytes | memoryview) -> Compression | None:
    """The compression a body starts with, from its first four bytes."""
    if bytes(head[:2]) == GZIP_MAGIC:
        return "gzip"
    if bytes(head[:4]) == ZSTD_MAGIC:
        return "zstd"
    return None


def decompressor(kind: Compression, source: Source) -> Decompressor:
    return Gunzip(source) if kind == "gzip" else Unzstd(source)


class Gunzip:
    """gzip members one after the other (zero padding between them allowed), as gzip(1)."""

    def __init__(self, source: Source) -> None:
        import gzip

        # cast: GzipFile only ever calls read()
        self._stream = gzip.GzipFile(fileobj=cast(IO[bytes], source), mode="rb")

    def readinto(self, buffer: memoryview) -> int:
        import gzip
        import zlib

        try:
            return self._stream.readinto(buffer)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise DecompressError(f"gzip: {exc}") from exc


class Unzstd:
    """zstd frames one after the other; zstandard's reader ends quietly on a cut-off frame,
    so the frames are followed too and a stream that stops inside one is an error."""

    def __init__(self, source: Source) -> None:
        import zstandard

        self._source = source
        self._frames = ZstdFrameTracker()
        tracked = cast(IO[bytes], _Tracked(source, self._frames))  # only read() is called
        self._stream = zstandard.ZstdDecompressor().stream_reader(tracked, read_across_frames=True)

    def readinto(self, buffer: memoryview) -> int:
        import zstandard

        try:
            count: int = self._stream.readinto(buffer)
            if count:
                return count
            while rest := self._source.read(_READ_SIZE):
                self._frames.feed(rest)
        except zstandard.ZstdError as exc:
            raise DecompressError(f"zstd: {exc}") from exc
        if not self._frames.complete:
            raise DecompressError("zstd: the stream ends inside a frame (truncated dump?)")
        return 0


class _Tracked:
    def __init__(self, source: Source, frames: ZstdFrameTracker) -> None:
        self._source = source
        self._frames = frames

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._frames.feed(data)
        return data


class ZstdFrameTracker:
    """Follows zstd frame and block boundaries (RFC 8878) to tell whether a stream is whole.

    Only headers are looked at; block contents are skipped, so this costs little.
    """

    _ZSTD: Final = 0xFD2FB528
    _SKIPPABLE_MASK: Final = 0xFFFFFFF0
    _SKIPPABLE: Final = 0x184D2A50

    def __init__(self) -> None:
        self._state = "magic"
        self._need = 4
        self._header = bytearray()
        self._skip = 0
        self._checksum = False
        self._frames = 0

    @property
    def complete(self) -> bool:
        return self._frames > 0 and self._state == "magic" and not self._header and not self._skip

    def feed(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            if self._skip:
                step = min(self._skip, len(data) - pos)
                self._skip -= step
                pos += step
                continue
            step = min(self._need - len(self._header), len(data) - pos)
            self._header += data[pos : pos + step]
            pos += step
            if len(self._header) == self._need:
                self._advance(int.from_bytes(self._header, "little"))
                self._header.clear()

    def _expect(self, state: str, need: int, skip: int = 0) -> None:
        self._state, self._need, self._skip = state, need, skip

    def _advance(self, value: int) -> None:
        if self._state == "magic":
            if value == self._ZSTD:
                self._expect("descriptor", 1)
            elif value & self._SKIPPABLE_MASK == self._SKIPPABLE:
                self._expect("skippable", 4)
            else:
                raise DecompressError("zstd: not a zstd frame")
        elif self._state == "skippable":
            self._expect("magic", 4, value)
        elif self._state == "descriptor":
            single_segment = value >> 5 & 1
            self._checksum = bool(value >> 2 & 1)
            fcs = (single_segment, 2, 4, 8)[value >> 6]
            rest = (1 - single_segment) + (0, 1, 2, 4)[value & 3] + fcs
            self._expect("block", 3, rest)
        elif self._state == "block":
            last, kind, size = value & 1, value >> 1 & 3, value >> 3
            if kind == 3:
                raise DecompressError("zstd: reserved block type")
            body = 1 if kind == 1 else size
            if last:
                self._frames += 1
                self._expect("magic", 4, body + 4 * self._checksum)
            else:
                self._expect("block", 3, body)
