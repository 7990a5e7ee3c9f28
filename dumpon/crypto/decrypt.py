"""decryptcore(8)'s work: find a dump's files, check and open every input, unwrap the key,
then decrypt (and maybe decompress) the body into a new file through the threaded pipeline,
in constant memory.  Messages are FreeBSD's decryptcore texts.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from dumpon.crypto import ekcd, pipeline
from dumpon.crypto.decompress import DecompressError, detect
from dumpon.crypto.keyfile import KeyFileError, parse_private_key, read_key_file
from dumpon.errors import Exit, ToolError, errno_of, os_error_text, strerror
from dumpon.kernel.abi import ENCKEY_MAX_SIZE
from dumpon.outfile import exclusive_output
from dumpon.regular import NotRegularFile, open_regular_fd
from dumpon.terminate import signals_raise

DEFAULT_CRASHDIR: Final = "/var/crash"
_COMPRESSED_SUFFIXES: Final = (".gz", ".zst")
_DUMP_NUMBER: Final = re.compile(r"[0-9]+")

Log = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def _failed(message: str, exc: OSError | None = None) -> ToolError:
    """A ToolError worded as pjdlog does: errno text after a colon, then a full stop."""
    if isinstance(exc, NotRegularFile):
        message = f"{message}: not a regular file ({exc.kind})."
    elif exc is not None:
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
    dump with that number is taken; several are an error that lists them.  `number` is
    ASCII digits only (str.isdigit would let other scripts' digits into file names).
    """
    if not _DUMP_NUMBER.fullmatch(number):
        raise ToolError(f"Invalid dump number {number!r}: only the digits 0-9.", Exit.FAILURE)
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
    warn: Log = _quiet,
) -> Result:
    """Decrypt one dump body into `output_path` (created exclusively, mode 0600).

    Every input is opened and checked before the output exists.  With `force` an existing
    regular file is replaced, atomically at the end; nothing else ever is.  On any failure,
    and on TERM, HUP or INT (raised as terminate.Terminated), the partial output is removed.
    A body that does not look like a dump gets a `warn` (the key is probably wrong).
    Raises ToolError with decryptcore's message.
    """
    with signals_raise(), contextlib.ExitStack() as inputs:
        # FreeBSD's order: open all three inputs, then read and check them.
        key_fd, body_fd, private_fd = (
            inputs.enter_context(_open(path))
            for path in (key_path, encrypted_path, private_key_path)
        )
        blob, decryptor, private_bits = _unwrap(key_fd, private_fd, private_key_path, log=log)
        log(
            f"Decrypting {encrypted_path} ({ekcd.CIPHER_NAMES[blob.cipher]},"
            f" RSA-{private_bits} key {key_path})."
        )
        outcome = _write_output(
            body_fd, decryptor, encrypted_path, output_path, force=force, decompress=decompress
        )
    if decompress:
        log(f"Body is {outcome.compression or 'not compressed'}.")
    log(f"Wrote {outcome.bytes_out} bytes from {outcome.bytes_in} encrypted bytes.")
    if outcome.head and not looks_like_a_dump(outcome.head):  # an empty body tells nothing
        warn(
            f"warning: {output_path} does not start like a kernel dump (minidump, ELF, textdump,"
            " gzip or zstd): the private key is probably wrong."
        )
    return Result(blob.cipher, outcome.bytes_in, outcome.bytes_out, outcome.compression)


@contextlib.contextmanager
def _open(path: str) -> Iterator[int]:
    try:
        fd = open_regular_fd(path)
    except OSError as exc:
        raise _failed(f"Unable to open {path}", exc) from exc
    try:
        yield fd
    finally:
        os.close(fd)


def _unwrap(
    key_fd: int, private_fd: int, private_key_path: str, *, log: Log
) -> tuple[ekcd.KeyBlob, ekcd.ChunkDecryptor, int]:
    """The key blob, a decryptor with the unwrapped key, and the private key's size."""
    try:
        with os.fdopen(key_fd, "rb", closefd=False) as key_file:
            blob = ekcd.KeyBlob.parse(key_file.read(ekcd.KDK_HEADER_SIZE + ENCKEY_MAX_SIZE))
    except OSError as exc:
        raise _failed("Unable to read key", exc) from exc
    except ValueError as exc:
        raise _failed(f"Unable to read key: {exc}.") from exc
    try:
        with os.fdopen(private_fd, "rb", closefd=False) as pk:
            private_key = parse_private_key(read_key_file(pk), check=False)
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
        return blob, ekcd.chunk_decryptor(blob.cipher, key, blob.iv), private_key.key_size
    finally:
        key[:] = bytes(len(key))


def _write_output(
    body_fd: int,
    decryptor: ekcd.ChunkDecryptor,
    encrypted_path: str,
    output_path: str,
    *,
    force: bool,
    decompress: bool,
) -> pipeline.Outcome:
    try:
        with exclusive_output(output_path, replace=force) as out:
            engine = pipeline.Pipeline(body_fd, out.fileno(), decryptor, decompress=decompress)
            try:
                return engine.run()
            except pipeline.StageError as exc:
                raise _stage_failure(exc, encrypted_path) from exc.cause
    except ToolError:
        raise
    except OSError as exc:
        # The output's creation or its final naming: the body's own errors are worded above.
        raise _failed(f"Unable to open {output_path}", exc) from exc


def _stage_failure(exc: pipeline.StageError, encrypted_path: str) -> ToolError:
    cause = exc.cause
    if exc.stage == "read" and isinstance(cause, OSError):
        return _failed(f"Unable to read data from {encrypted_path}", cause)
    if exc.stage == "write" and isinstance(cause, OSError):
        return _failed("Unable to write core", cause)
    if exc.stage == "decrypt" and isinstance(cause, ValueError):
        # a body cut inside an AES block
        return _failed("Unable to decrypt core.")
    if isinstance(cause, DecompressError):
        return _failed(f"Unable to decompress core: {cause}.")
    return ToolError(f"internal error in the {exc.stage} stage: {cause!r}", Exit.FAILURE)


# The first bytes of what a kernel writes: a minidump header (MINIDUMP_MAGIC in
# sys/<arch>/include/minidump.h, "minidump FreeBSD/amd64" etc.), a full dump's ELF header,
# a textdump's ustar tar header (sys/ddb/db_textdump.c), or a compressed stream.
_MINIDUMP_MAGIC: Final = b"minidump FreeBSD/"
_ELF_MAGIC: Final = b"\x7fELF"
_USTAR_MAGIC: Final = b"ustar"
_USTAR_OFFSET: Final = 257


def looks_like_a_dump(head: bytes) -> bool:
    """Whether decrypted bytes start as a FreeBSD kernel dump could (garbage means a wrong key)."""
    return (
        head.startswith((_MINIDUMP_MAGIC, _ELF_MAGIC))
        or head[_USTAR_OFFSET : _USTAR_OFFSET + len(_USTAR_MAGIC)] == _USTAR_MAGIC
        or detect(head) is not None
    )
