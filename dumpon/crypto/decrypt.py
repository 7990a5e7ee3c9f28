"""decryptcore(8)'s work: find a dump's files, unwrap its key, decrypt (and maybe decompress)
the body into a new file, in constant memory.  Messages are FreeBSD's decryptcore texts.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO, Final, cast

from dumpon.crypto import ekcd
from dumpon.crypto.keyfile import KeyFileError, parse_private_key, read_key_file
from dumpon.errors import Exit, ToolError, errno_of, os_error_text, strerror
from dumpon.kernel.abi import ENCKEY_MAX_SIZE
from dumpon.outfile import exclusive_output

DEFAULT_CRASHDIR: Final = "/var/crash"
GZIP_MAGIC: Final = b"\x1f\x8b"
ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_COMPRESSED_SUFFIXES: Final = (".gz", ".zst")

Log = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def _failed(message: str, exc: OSError | None = None) -> ToolError:
    """A ToolError worded as pjdlog does: errno text after a colon, then a full stop."""
    if exc is not None:
        message = f"{message}: {strerror(errno_of(exc))}."
    return ToolError(message, Exit.FAILURE)


@dataclass(frozen=True, slots=True)
class DumpFiles:
    key: str
    encrypted: str
    output: str


def dump_files(
    crashdir: str, number: str, host: str | None = None, *, decompress: bool = False
) -> DumpFiles:
    """The files of dump `number` in `crashdir`, named by savecore or by netdumpd.

    savecore writes key.N and vmcore_encrypted.N; netdumpd writes key.<host>.N and
    vmcore_encrypted.<host>.N, plus .gz/.zst when compressed.  Without `host` the only
    dump with that number is taken; several are an error that lists them.
    """
    if host is None:
        candidates = _dumps_numbered(crashdir, number)
        if len(candidates) > 1:
            names = ", ".join(f"key.{name}{number}" for name in candidates)
            raise ToolError(
                f"Several dumps are numbered {number} in {crashdir}: {names}."
                "  Pick one with -H <host>, or name the files with -k, -e and -c.",
                Exit.FAILURE,
            )
        prefix = candidates[0] if candidates else ""
    else:
        prefix = f"{host}."
    stem = f"{prefix}{number}"
    suffix = next(
        (
            s
            for s in _COMPRESSED_SUFFIXES
            if os.path.lexists(os.path.join(crashdir, f"vmcore_encrypted.{stem}{s}"))
        ),
        "",
    )
    return DumpFiles(
        key=os.path.join(crashdir, f"key.{stem}"),
        encrypted=os.path.join(crashdir, f"vmcore_encrypted.{stem}{suffix}"),
        output=os.path.join(crashdir, f"vmcore.{stem}{'' if decompress else suffix}"),
    )


def _dumps_numbered(crashdir: str, number: str) -> list[str]:
    """Name prefixes ("" for savecore, "<host>." for netdumpd) of the key files for `number`."""
    try:
        names = os.listdir(crashdir)
    except OSError as exc:
        raise _failed(f"Unable to open {crashdir}", exc) from exc
    netdumpd = re.compile(rf"key\.(.+\.){re.escape(number)}")
    found = sorted(m.group(1) for name in names if (m := netdumpd.fullmatch(name)))
    return ([""] if f"key.{number}" in names else []) + found


@dataclass(frozen=True, slots=True)
class Result:
    cipher: int
    bytes_in: int
    bytes_out: int
    compression: str | None  # "gzip"/"zstd" when --decompress undid it


def decrypt_core(
    private_key_path: str,
    key_path: str,
    encrypted_path: str,
    output_path: str,
    *,
    force: bool = False,
    decompress: bool = False,
    log: Log = _quiet,
) -> Result:
    """Decrypt one dump body into `output_path` (created exclusively, mode 0600).

    With `force` an existing output is replaced, atomically at the end.  On any failure
    the partial output is removed.  Raises ToolError with decryptcore's message.
    """
    try:
        with exclusive_output(output_path, replace=force) as out:
            return _decrypt_into(
                out, private_key_path, key_path, encrypted_path, decompress=decompress, log=log
            )
    except FileExistsError as exc:
        raise _failed(f"Unable to open {output_path}", exc) from exc
    except ToolError:
        raise
    except OSError as exc:
        # The output's creation or its final rename: the body's own errors are worded below.
        raise _failed(f"Unable to open {output_path}", exc) from exc


def _open(path: str) -> io.BufferedReader:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise _failed(f"Unable to open {path}", exc) from exc


def _decrypt_into(
    out: BinaryIO,
    private_key_path: str,
    key_path: str,
    encrypted_path: str,
    *,
    decompress: bool,
    log: Log,
) -> Result:
    # FreeBSD's order: open all three inputs, then read and check them.
    with _open(key_path) as key_file, _open(encrypted_path) as body, _open(private_key_path) as pk:
        try:
            blob = ekcd.KeyBlob.parse(key_file.read(ekcd.KDK_HEADER_SIZE + ENCKEY_MAX_SIZE))
        except OSError as exc:
            raise _failed("Unable to read key", exc) from exc
        except ValueError as exc:
            raise _failed(f"Unable to read key: {exc}.") from exc
        try:
            private_key = parse_private_key(read_key_file(pk))
        except (OSError, KeyFileError) as exc:
            reason = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
            log(f"{private_key_path}: {reason}")
            raise _failed(f"Unable to read data from {private_key_path}.") from exc
        modulus_bytes = (private_key.key_size + 7) // 8
        if modulus_bytes != len(blob.wrapped):
            raise _failed(
                f"RSA modulus size mismatch: equals {8 * modulus_bytes}b"
                f" and should be {8 * len(blob.wrapped)}b."
            )
        if blob.cipher not in ekcd.CIPHER_NAMES:
            raise _failed("Invalid encryption algorithm.")
        try:
            key = ekcd.unwrap_key(private_key, blob.wrapped)
        except ValueError as exc:
            raise _failed(f"Unable to decrypt key: {exc}") from exc
        try:
            context = ekcd.body_cipher(blob.cipher, key, blob.iv, encrypt=False)
        finally:
            key[:] = bytes(len(key))
        log(
            f"Decrypting {encrypted_path} ({ekcd.CIPHER_NAMES[blob.cipher]},"
            f" RSA-{private_key.key_size} key {key_path})."
        )
        reader = ekcd.CryptReader(body, context)
        try:
            written, compression = _copy_body(
                reader, out, encrypted_path, decompress=decompress, log=log
            )
        finally:
            reader.wipe()
    log(f"Wrote {written} bytes from {reader.bytes_in} encrypted bytes.")
    return Result(blob.cipher, reader.bytes_in, written, compression)


class _DecompressError(Exception):
    pass


def _copy_body(
    reader: ekcd.CryptReader, out: BinaryIO, encrypted_path: str, *, decompress: bool, log: Log
) -> tuple[int, str | None]:
    """Write the decrypted body; (bytes written, compression undone or None)."""
    compression: str | None = None
    pieces: Iterator[bytes | memoryview] = reader.chunks()
    if decompress:
        buffered = io.BufferedReader(reader, ekcd.CHUNK_SIZE)
        magic = bytes(buffered.peek(len(ZSTD_MAGIC))[: len(ZSTD_MAGIC)])
        if magic.startswith(GZIP_MAGIC):
            compression, pieces = "gzip", _gunzip(buffered)
        elif magic == ZSTD_MAGIC:
            compression, pieces = "zstd", _unzstd(buffered)
        else:
            pieces = iter(lambda: buffered.read(ekcd.CHUNK_SIZE), b"")
        log(f"Body is {compression or 'not compressed'}.")
    written = 0
    try:
        for piece in pieces:
            try:
                out.write(piece)
            except OSError as exc:
                raise _failed("Unable to write core", exc) from exc
            written += len(piece)
        out.flush()
    except _DecompressError as exc:
        raise _failed(f"Unable to decompress core: {exc}.") from exc
    except ValueError as exc:
        # cryptography's only complaint while streaming: a body cut inside an AES block
        raise _failed("Unable to decrypt core.") from exc
    except OSError as exc:
        raise _failed(f"Unable to read data from {encrypted_path}", exc) from exc
    return written, compression


def _gunzip(source: BinaryIO) -> Iterator[bytes]:
    import gzip
    import zlib

    with gzip.GzipFile(fileobj=source, mode="rb") as stream:
        try:
            while piece := stream.read(ekcd.CHUNK_SIZE):
                yield piece
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise _DecompressError(f"gzip: {exc}") from exc


def _unzstd(source: BinaryIO) -> Iterator[bytes]:
    import zstandard

    # zstandard's reader ends quietly on a cut-off frame, so the frames are followed too.
    frames = ZstdFrameTracker()

    class _Tracked:
        def read(self, size: int = -1) -> bytes:
            data = source.read(size)
            frames.feed(data)
            return data

    # cast: stream_reader only ever calls read()
    tracked = cast(IO[bytes], _Tracked())
    stream = zstandard.ZstdDecompressor().stream_reader(tracked, read_across_frames=True)
    try:
        while piece := stream.read(ekcd.CHUNK_SIZE):
            yield piece
        while rest := source.read(ekcd.CHUNK_SIZE):
            frames.feed(rest)
    except zstandard.ZstdError as exc:
        raise _DecompressError(f"zstd: {exc}") from exc
    if not frames.complete:
        raise _DecompressError("zstd: the stream ends inside a frame (truncated dump?)")


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
                raise _DecompressError("zstd: not a zstd frame")
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
                raise _DecompressError("zstd: reserved block type")
            body = 1 if kind == 1 else size
            if last:
                self._frames += 1
                self._expect("magic", 4, body + 4 * self._checksum)
            else:
                self._expect("block", 3, body)
