"""The files of one dump in its client directory, written at the offsets the client sends.

Body data is written with pwritev(2), a run of consecutive packets' payloads (kernels send
runs of consecutive packets) in one call straight from the receive buffer; the event loop
writes a run before it sends the ACKs that cover it, so nothing is acknowledged before it
reached the file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from dumpon.server.names import DumpNames, last_link

# A kernel's key blob is 4096 bytes; anything far beyond that is not a key.
MAX_KEY_BYTES = 64 * 1024
# O_NONBLOCK: a FIFO planted under a dump's name must not hang the server
_OPEN = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class DumpFiles:
    """info, core and key files of one dump; every method may raise OSError."""

    def __init__(self, dir_fd: int, rel_dir: str, names: DumpNames, info_fd: int) -> None:
        self.dir_fd = dir_fd
        self.rel_dir = rel_dir
        self.names = names
        self.info_fd = info_fd
        self.core_name = names.core()
        self.core_fd = _open_regular(self.core_name, os.O_TRUNC, 0o600, dir_fd)
        self.key_fd: int | None = None

    def path(self, name: str) -> str:
        """A name as the handler sees it: relative to the dump directory."""
        return f"{self.rel_dir}/{name}"

    def write_core(self, offset: int, parts: list[memoryview]) -> None:
        """Write `parts`, back to back, at `offset` of the core file."""
        _pwritev_all(self.core_fd, parts, offset)

    def write_key(self, offset: int, data: memoryview) -> bool:
        """Write part of the key blob; False when it lies beyond any plausible key."""
        if offset + len(data) > MAX_KEY_BYTES:
            return False
        if self.key_fd is None:
            self.key_fd = _open_regular(self.names.key, 0, 0o400, self.dir_fd)
        _pwrite_all(self.key_fd, data, offset)
        return True

    def append_info(self, text: str) -> None:
        _write_all(self.info_fd, text.encode("utf-8", "backslashreplace"))

    def rename_core(self, new_name: str) -> None:
        if new_name != self.core_name:
            os.rename(self.core_name, new_name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
            self.core_name = new_name

    def truncate_core(self, length: int) -> None:
        os.ftruncate(self.core_fd, length)

    def sync_data(self) -> None:
        """The core and the key on stable storage (the info file is synced by its writer)."""
        for fd in (self.core_fd, self.key_fd):
            if fd is not None:
                os.fsync(fd)

    def link_last(self) -> None:
        """Point the `.last` links at this dump, each replaced atomically."""
        links = [("vmcore", self.core_name), ("info", self.names.info)]
        if self.key_fd is not None:
            links.append(("key", self.names.key))
        for kind, target in links:
            final = last_link(kind, self.names.host)
            temporary = f".{final}.new"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=self.dir_fd)
            os.symlink(target, temporary, dir_fd=self.dir_fd)
            os.rename(temporary, final, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)

    def close(self) -> None:
        """Close the files (not the directory)."""
        for fd in (self.core_fd, self.key_fd, self.info_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _open_regular(name: str, flags: int, mode: int, dir_fd: int) -> int:
    fd = os.open(name, _OPEN | flags, mode, dir_fd=dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", name)
    return fd


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data, offset = data[written:], offset + written


def _pwritev_all(fd: int, parts: list[memoryview], offset: int) -> None:
    written = os.pwritev(fd, parts, offset)
    if written == sum(len(part) for part in parts):
        return
    # a short write (a signal, a nearly full disk): the rest one part at a time
    for part in parts:
        size = len(part)
        if written < size:
            _pwrite_all(fd, part[written:], offset + written)
            written = 0
        else:
            written -= size
        offset += size


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
