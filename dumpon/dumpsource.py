"""What `netdump send` transmits: a file's bytes as a dump body, compressed and encrypted
the way a FreeBSD kernel writes them, and the kernel dump header that follows the body.

Two forms of FILE are understood:

- any file (a vmcore from savecore, a disk image, a test pattern): the whole file is the
  body and a version 4 header is synthesized for it;
- a raw dump with its headers (one block holding the kernel dump header, the key blob if
  encrypted, the body, the trailing header): either cut out of its device, so FILE starts
  with the header, or a whole dump device or its image, with the dump at its end where
  savecore(8) looks for it.  Headers must carry the kernel-dump magic and good parity.
  The header is sent as found, the key blob (if any) as the EKCD_KEY, and exactly
  `dumplength` body bytes.

Compression (kern_shutdown.c, kern_gzio.c, kern_zstdio.c) runs first, at
kern.kerneldump_gzlevel's default 6, and the compressed stream is padded with zeros to
whole 4096-byte blocks; encryption (dumpon/crypto/ekcd.py) runs last, over the padding
too, with a fresh one-time key and IV.  AES-256-CBC needs whole 16-byte blocks, so an
uncompressed body is zero-padded to a multiple of 16 and `dumplength` counts the padding.
"""

from __future__ import annotations

import errno
import io
import os
import platform
import secrets
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final, Protocol

from dumpon.crypto.ekcd import IV_SIZE, NETDUMP_BLOCK_SIZE, KeyBlob, Padding, StreamContext
from dumpon.errors import Exit, ToolError, errno_of, strerror
from dumpon.kernel.abi import COMP_GZIP, COMP_NONE, ENC_AES_256_CBC, ENC_NONE
from dumpon.protocol.kdh import (
    ARCHITECTURE_VERSIONS,
    KDH_SIZE,
    KERNELDUMPMAGIC,
    TEXTDUMPMAGIC,
    KdhError,
    KernelDumpHeader,
)

GZLEVEL: Final = 6  # kern.kerneldump_gzlevel, used for gzip and zstd alike
_READ_SIZE: Final = 1 << 20
_AES_BLOCK: Final = 16
# uname -m on Linux -> FreeBSD's MACHINE_ARCH
_MACHINE_ARCH: Final = {"x86_64": "amd64", "i686": "i386", "i386": "i386", "arm64": "aarch64"}


@dataclass(frozen=True, slots=True)
class DumpSpec:
    """How to turn FILE into a dump."""

    path: str
    hostname: str | None = None  # None: this host's name
    panic: str | None = None  # None: a text naming FILE
    compression: int = COMP_NONE
    public_key: str | None = None  # PEM file: encrypt with a fresh one-time key
    public_key_pem: bytes | None = None  # or the PEM text itself (as the emulation records it)
    cipher: int = ENC_NONE  # with public_key; ENC_NONE means ChaCha20
    order: int = 13  # 12: PKCS#1 v1.5 key wrapping, as 12.x dumpon did


@dataclass(slots=True)
class Dump:
    """A dump ready to send: body runs, the header for the final length, the key blob."""

    body: Body
    header: Callable[[int], bytes]  # dumplength -> the 512-byte KDH
    key_blob: bytes | None
    form: str  # what FILE was taken for, for the user
    total: int | None = None  # body bytes expected, when known before the end


class Body(Protocol):
    """Body bytes in runs, and `length`, the final dumplength, once the end is reached.

    A run returned by read_run() stays valid until the next call (the client machine keeps
    it for resends until every chunk is ACKed, and asks for the next run only then).
    """

    position: int  # body bytes handed out so far

    @property
    def length(self) -> int: ...

    def read_run(self, size: int) -> bytes | memoryview: ...


class TransformedBody:
    """Compressed and/or encrypted body bytes, from a chain of generators."""

    def __init__(self, pieces: Iterator[bytes | memoryview], length: Callable[[], int]) -> None:
        self._pieces = pieces
        self._length = length
        self._pending = bytearray()
        self._offset = 0
        self._done = False
        self.position = 0

    @property
    def length(self) -> int:
        return self._length()

    def read_run(self, size: int) -> bytes | memoryview:
        while len(self._pending) - self._offset < size and not self._done:
            piece = next(self._pieces, None)
            if piece is None:
                self._done = True
            else:
                if self._offset:
                    del self._pending[: self._offset]
                    self._offset = 0
                self._pending += piece
        run = memoryview(self._pending)[self._offset : self._offset + size]
        self._offset += len(run)
        self.position += len(run)
        return bytes(run)


class PlainBody:
    """The fast path: file bytes as they are, read straight into one reused buffer."""

    def __init__(self, source: BinaryIO, limit: int | None) -> None:
        self._source = source
        self._limit = limit
        self._buffer = bytearray()
        self._done = False
        self.position = 0

    @property
    def length(self) -> int:
        return self.position

    def read_run(self, size: int) -> bytes | memoryview:
        if len(self._buffer) != size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)
        if self._limit is not None:
            view = view[: max(0, min(size, self._limit - self.position))]
        filled = 0
        while filled < len(view) and not self._done:
            count = _readinto(self._source, view[filled:])
            if not count:
                self._done = True
            filled += count
        self.position += filled
        return view[:filled]


def _readinto(source: BinaryIO, view: memoryview) -> int:
    try:
        return source.readinto(view)  # type: ignore[attr-defined, no-any-return]
    except OSError as exc:
        name = getattr(source, "name", "FILE")
        raise ToolError(f"{name}: {strerror(errno_of(exc))}", Exit.IOERR) from None


def _read_pieces(source: BinaryIO, limit: int | None) -> Iterator[bytes]:
    left = limit
    while left is None or left > 0:
        buffer = bytearray(_READ_SIZE if left is None else min(_READ_SIZE, left))
        count = _readinto(source, memoryview(buffer))
        if not count:
            return
        if left is not None:
            left -= count
        yield bytes(buffer[:count])


class _Counter:
    """Counts the bytes of a stage's output (dumplength is known only at the end)."""

    def __init__(self) -> None:
        self.total = 0

    def count(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.total += len(piece)
            yield piece


def _compress(pieces: Iterator[bytes], compression: int) -> Iterator[bytes]:
    if compression == COMP_GZIP:
        import zlib

        gzip = zlib.compressobj(GZLEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        for piece in pieces:
            yield gzip.compress(piece)
        yield gzip.flush()
        return
    import zstandard

    zstd = zstandard.ZstdCompressor(level=GZLEVEL).compressobj()
    for piece in pieces:
        yield zstd.compress(piece)
    yield zstd.flush()


def _pad(pieces: Iterator[bytes], block: int, counter: _Counter) -> Iterator[bytes]:
    """The pieces, then zeros up to a multiple of `block` (of what `counter` saw)."""
    yield from pieces
    yield bytes(-counter.total % block)


def _encrypt(pieces: Iterator[bytes], context: StreamContext) -> Iterator[bytes]:
    for piece in pieces:
        out = bytearray(len(piece) + _AES_BLOCK)
        count = context.update_into(piece, out)
        yield bytes(out[:count])
    tail = context.finalize()
    if tail:
        yield tail


def build_body(
    source: BinaryIO,
    limit: int | None,
    compression: int,
    context: StreamContext | None,
    cipher: int,
) -> Body:
    """The body pipeline: read, compress and pad to blocks, pad for AES, encrypt."""
    if compression == COMP_NONE and context is None:
        return PlainBody(source, limit)
    raw = _Counter()
    pieces: Iterator[bytes] = raw.count(_read_pieces(source, limit))
    length: Callable[[], int] = lambda: raw.total  # noqa: E731
    if compression != COMP_NONE:
        packed = _Counter()
        pieces = _pad(packed.count(_compress(pieces, compression)), NETDUMP_BLOCK_SIZE, packed)
        length = lambda: packed.total  # noqa: E731
    elif cipher == ENC_AES_256_CBC:
        pieces = _pad(pieces, _AES_BLOCK, raw)
        length = lambda: raw.total + -raw.total % _AES_BLOCK  # noqa: E731
    if context is not None:
        pieces = _encrypt(pieces, context)
    return TransformedBody(pieces, length)


def open_source(path: str) -> BinaryIO:
    """FILE for reading: a regular file, a block device or a FIFO; errors name it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        missing = (errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.ELOOP)
        code = Exit.NOINPUT if exc.errno in missing else Exit.IOERR
        raise ToolError(f"{path}: {strerror(errno_of(exc))}", code) from None
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
        os.close(fd)
        raise ToolError(f"{path}: not a regular file, block device or FIFO", Exit.NOINPUT)
    return os.fdopen(fd, "rb", buffering=0)


@dataclass(frozen=True, slots=True)
class _RawDump:
    """Where the parts of a raw dump lie in FILE."""

    header: KernelDumpHeader
    raw: bytes  # the header's bytes, sent as they are
    key_at: int
    body_at: int


_DUMP_MAGICS: Final = (KERNELDUMPMAGIC.encode(), TEXTDUMPMAGIC.encode())
_SECTOR_SIZES: Final = (512, 4096)


def _header_at(fd: int, offset: int) -> tuple[KernelDumpHeader, bytes] | None:
    raw = os.pread(fd, KDH_SIZE, offset)
    if len(raw) < KDH_SIZE or not raw.startswith(_DUMP_MAGICS):
        return None
    try:
        return KernelDumpHeader.parse(raw), raw
    except KdhError:
        return None


def _find_raw_dump(source: BinaryIO) -> _RawDump | None:
    """A dump with headers in FILE, or None: FILE is then a plain body.

    Either FILE starts with the leading header (a dump cut out of its device), or FILE is a
    whole dump device (or its image) and the dump sits at its end as the kernel writes it:
    | leading header | key | body (dumpextent) | trailing header |, each header one block;
    savecore(8) finds it from the last block and checks both headers match.
    """
    fd = source.fileno()
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
            return None
        size = os.lseek(fd, 0, os.SEEK_END)
        os.lseek(fd, 0, os.SEEK_SET)
        found = _header_at(fd, 0)
        if found is not None:
            header, raw = found
            key_at = max(header.blocksize, KDH_SIZE)
            return _RawDump(header, raw, key_at, key_at + header.dumpkeysize)
        for block in _SECTOR_SIZES:
            found = _header_at(fd, size - block) if size >= 2 * block else None
            if found is None or found[0].blocksize != block:
                continue
            header, raw = found
            first = size - 2 * block - header.extent - header.dumpkeysize
            if first >= 0 and os.pread(fd, KDH_SIZE, first) == raw:
                return _RawDump(header, raw, first + block, first + block + header.dumpkeysize)
    except OSError as exc:
        raise ToolError(f"{source.name}: {strerror(errno_of(exc))}", Exit.IOERR) from None
    return None


def _architecture() -> str:
    machine = platform.machine()
    return _MACHINE_ARCH.get(machine, machine.lower())


def synthesized_header(spec: DumpSpec, key_size: int) -> Callable[[int], bytes]:
    """The v4 header a kernel would send for this body, given its final length."""
    arch = _architecture()
    fields = KernelDumpHeader(
        architecture=arch,
        architectureversion=ARCHITECTURE_VERSIONS.get(arch, 1),
        dumplength=0,
        dumptime=int(time.time()),
        hostname=spec.hostname if spec.hostname is not None else socket.gethostname(),
        versionstring=f"{platform.system()} {platform.release()} (netdump send)\n",
        panicstring=spec.panic if spec.panic is not None else f"netdump send {spec.path}",
        dumpkeysize=key_size,
        compression=spec.compression,
    )
    return lambda length: fields.with_length(length).pack()


def _fresh_key(spec: DumpSpec) -> tuple[KeyBlob, StreamContext]:
    from dumpon.crypto.ekcd import body_cipher, wrap_dump_key

    padding: Padding = "pkcs1" if spec.order == 12 else "oaep"
    if spec.public_key is not None:
        wrapped = wrap_dump_key(spec.public_key, spec.cipher, spec.compression, padding)
    else:
        assert spec.public_key_pem is not None
        with tempfile.NamedTemporaryFile(prefix="netdump-key-", suffix=".pem") as pem:
            pem.write(spec.public_key_pem)
            pem.flush()
            wrapped = wrap_dump_key(pem.name, spec.cipher, spec.compression, padding)
    try:
        # The kernel's configuration-time IV is random; every dump then hashes it once.
        blob = KeyBlob.for_dump(wrapped, secrets.token_bytes(IV_SIZE))
        return blob, body_cipher(wrapped.cipher, wrapped.key, blob.iv, encrypt=True)
    finally:
        wrapped.wipe()


def prepare(spec: DumpSpec) -> Dump:
    """Open FILE and set up the body pipeline, the header and the key for it."""
    source = open_source(spec.path)
    try:
        found = _find_raw_dump(source)
        if found is not None:
            return _raw_dump(spec, source, found)
        return prepare_body(spec, source)
    except BaseException:
        source.close()
        raise


def prepare_body(spec: DumpSpec, source: BinaryIO) -> Dump:
    """`source` as the body of a dump with a synthesized header (netdump check's pattern)."""
    encrypt = spec.public_key is not None or spec.public_key_pem is not None
    blob, context = _fresh_key(spec) if encrypt else (None, None)
    key = blob.pack() if blob is not None else None
    cipher = blob.cipher if blob is not None else ENC_NONE
    body = build_body(source, None, spec.compression, context, cipher)
    total = None if spec.compression != COMP_NONE else _regular_size(source)
    return Dump(body, synthesized_header(spec, len(key or b"")), key, "body", total)


def _regular_size(source: BinaryIO) -> int | None:
    try:
        info = os.fstat(source.fileno())
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _raw_dump(spec: DumpSpec, source: BinaryIO, found: _RawDump) -> Dump:
    name, header = spec.path, found.header
    if spec.public_key or spec.public_key_pem or spec.compression != COMP_NONE:
        raise ToolError(
            f"{name} is a raw dump with its own header: -k and --compression do not apply",
            Exit.USAGE,
        )
    fd = source.fileno()
    size = os.lseek(fd, 0, os.SEEK_END)
    if size < found.body_at + header.dumplength:
        raise ToolError(
            f"{name}: raw dump is cut short: its header needs {found.body_at + header.dumplength}"
            f" bytes, the file has {size}",
            Exit.DATAERR,
        )
    key = os.pread(fd, header.dumpkeysize, found.key_at) if header.dumpkeysize else None
    os.lseek(fd, found.body_at, os.SEEK_SET)
    raw = found.raw
    body = PlainBody(source, header.dumplength)
    form = f"raw dump (header version {header.version}, {header.dumplength} body bytes)"
    return Dump(body, lambda _length: raw, key, form, header.dumplength)
