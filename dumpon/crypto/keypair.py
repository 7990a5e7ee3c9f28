"""Writing a key pair for encrypted dumps: never a half-written file, never a mismatched pair.

private.pem and public.pem cannot be replaced together in one atomic step, so both are
first written to `.private.pem.pending` and `.public.pem.pending` (created before the slow
key generation, so an unusable directory fails at once), synced, and then moved into
place, private key first, with SIGINT, SIGTERM and SIGHUP held off between the two moves.
A run stopped between them anyway (SIGKILL, a crash, power loss) leaves the new private
key, the old public key and `.public.pem.pending`: the next keygen in that directory
finds that the pending public key matches private.pem and moves it into place before
anything else (a pending public key that does not match belongs to a run stopped before
its private key moved, and is deleted).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumpon import changes
from dumpon.crypto.keyfile import (
    DEFAULT_BITS,
    MAX_BITS,
    MIN_BITS,
    KeyFileError,
    parse_private_key,
    parse_public_key,
    read_key_file,
)
from dumpon.errors import Exit, ToolError, errno_of, strerror
from dumpon.regular import open_regular

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

_HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class KeyPairFiles:
    private: str
    public: str

    @classmethod
    def final(cls, directory: str) -> KeyPairFiles:
        return cls(os.path.join(directory, "private.pem"), os.path.join(directory, "public.pem"))

    @classmethod
    def pending(cls, directory: str) -> KeyPairFiles:
        return cls(
            os.path.join(directory, ".private.pem.pending"),
            os.path.join(directory, ".public.pem.pending"),
        )


def check_bits(bits: int) -> None:
    """Refuse a size the generator would not produce exactly (OpenSSL makes a 4094-bit
    modulus when asked for 4095 bits)."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ToolError(
            f"key size must be between {MIN_BITS} and {MAX_BITS} bits (got {bits})", Exit.USAGE
        )
    if bits % 2:
        raise ToolError(
            f"key size must be an even number of bits (got {bits}: OpenSSL would make a"
            f" {bits - 1}-bit key)",
            Exit.USAGE,
        )


def write_key_pair(
    directory: str,
    bits: int = DEFAULT_BITS,
    *,
    force: bool = False,
    note: Callable[[str], None] = lambda _: None,
) -> KeyPairFiles:
    """Generate an RSA key pair into `directory`: private.pem (PKCS#8, 0600), public.pem (SPKI).

    Without `force` neither file may exist yet; with `force` both are replaced.  A
    replacement an earlier run left half done is completed first, and `note` told so.
    """
    check_bits(bits)
    files = KeyPairFiles.final(directory)
    if finish_interrupted(directory):
        note(f"{directory}: completed the key replacement an interrupted run left")
    if not force:
        # Checked before the slow key generation; the final link() still closes the race.
        for path in (files.private, files.public):
            if os.path.lexists(path):
                raise ToolError(f"{path} already exists (use --force to replace it)")
    with _pending_files(directory, files) as (private_out, public_out):
        private = _generate(bits)
        private_pem, public_pem = _pem_pair(private)
        for fd, data in ((private_out, private_pem), (public_out, public_pem)):
            _write_all(fd, data)
            os.fsync(fd)
        _install_pair(directory, KeyPairFiles.pending(directory), files, force)
    changes.applied("keys were written")
    return files


def finish_interrupted(directory: str) -> bool:
    """Complete or undo a replacement an earlier run left half done; True if completed."""
    files, pending = KeyPairFiles.final(directory), KeyPairFiles.pending(directory)
    # Failures here (a missing directory, ...) are reported when the new files are created.
    with contextlib.suppress(OSError):
        os.unlink(pending.private)  # never moved into place, or already linked there
    try:
        info = os.lstat(pending.public)
    except OSError:
        return False
    if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and _matches(files, pending):
        os.replace(pending.public, files.public)
        return True
    os.unlink(pending.public)
    return False


def _matches(files: KeyPairFiles, pending: KeyPairFiles) -> bool:
    """Whether the pending public key is the public half of the installed private key."""
    try:
        with open_regular(files.private) as f:
            private = parse_private_key(read_key_file(f))
        with open_regular(pending.public) as f:
            public = parse_public_key(read_key_file(f))
    except (OSError, KeyFileError):
        return False
    return bool(private.public_key().public_numbers() == public.key.public_numbers())


@contextlib.contextmanager
def _pending_files(directory: str, files: KeyPairFiles) -> Iterator[tuple[int, int]]:
    """Both pending files, created exclusively; removed again unless moved into place.

    A failure names the file the user asked for: the pending one is an implementation detail.
    """
    pending = KeyPairFiles.pending(directory)
    fds: list[int] = []
    try:
        for path, final, mode in (
            (pending.private, files.private, 0o600),
            (pending.public, files.public, 0o644),
        ):
            try:
                fds.append(os.open(path, _CREATE, mode))
            except OSError as exc:
                raise ToolError(f"{final}: {strerror(errno_of(exc))}", Exit.CANTCREAT) from exc
            os.fchmod(fds[-1], mode)
        yield fds[0], fds[1]
    except BaseException:
        if fds:
            _remove_unmoved(directory)
        raise
    finally:
        for fd in fds:
            os.close(fd)


def _remove_unmoved(directory: str) -> None:
    """Drop pending files that were not moved; a moved private key keeps its public key."""
    files, pending = KeyPairFiles.final(directory), KeyPairFiles.pending(directory)
    if os.path.lexists(pending.private) or not os.path.lexists(files.private):
        for path in (pending.private, pending.public):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _generate(bits: int) -> RSAPrivateKey:
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if private.key_size != bits:  # check_bits should make this impossible
        raise ToolError(f"made a {private.key_size}-bit key instead of {bits}", Exit.SOFTWARE)
    return private


def _pem_pair(private: RSAPrivateKey) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization

    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _install_pair(directory: str, pending: KeyPairFiles, files: KeyPairFiles, force: bool) -> None:
    """Move both pending files into place, private first, with termination signals held."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        _install(pending.private, files.private, force)
        try:
            _install(pending.public, files.public, force)
        except OSError:
            if not force:  # there was no pair before: leave none
                os.unlink(files.private)
            raise
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        path = exc.filename2 or exc.filename or directory
        raise ToolError(f"{path}: {strerror(errno_of(exc))}", Exit.CANTCREAT) from exc
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _install(source: str, target: str, force: bool) -> None:
    """Rename over `target` with `force`; otherwise link (which never replaces) and unlink."""
    if force:
        os.replace(source, target)
        return
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        raise OSError(errno.EEXIST, strerror(errno.EEXIST), target) from None
    os.unlink(source)
