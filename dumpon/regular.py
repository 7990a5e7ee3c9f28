"""Regular files only: open an input without ever blocking on it, refuse to replace anything
but a regular file, and name what a non-regular file is when refusing it."""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from dumpon.errors import strerror

_KINDS = {
    stat.S_IFREG: "a regular file",
    stat.S_IFDIR: "a directory",
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def file_kind(mode: int) -> str:
    """What a file of this mode is, for a message ("a FIFO")."""
    return _KINDS.get(stat.S_IFMT(mode), "an unknown kind of file")


class NotRegularFile(OSError):
    """`path` exists but is not a regular file.  `kind` says what it is ("a FIFO"); `what`
    says it as C programs do (EISDIR's text for a directory, else "<kind>, not a regular
    file")."""

    def __init__(self, path: str, mode: int) -> None:
        self.path = path
        self.kind = file_kind(mode)
        if stat.S_ISDIR(mode):
            self.what = strerror(errno.EISDIR)
            super().__init__(errno.EISDIR, self.what)
        else:
            self.what = f"{self.kind}, not a regular file"
            super().__init__(errno.EINVAL, self.what)


def open_regular_fd(path: str) -> int:
    """A read-only descriptor for the regular file at `path` (symlinks followed).

    Anything else is refused with NotRegularFile before it can block: the path is looked
    at first, so a device is never opened at all, then opened with O_NONBLOCK (a FIFO
    swapped in meanwhile does not wait for a writer) and checked again on the descriptor,
    which is then made blocking.
    """
    before = os.stat(path)
    if not stat.S_ISREG(before.st_mode):
        raise NotRegularFile(path, before.st_mode)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: str) -> BinaryIO:
    """open_regular_fd() as a binary file object."""
    return os.fdopen(open_regular_fd(path), "rb")


def check_replaceable(path: str) -> None:
    """Refuse to replace `path` when it is anything but a regular file (or absent)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, mode)
