"""Regular files only: open an input without ever blocking on it, and name what a
non-regular file is when refusing it."""

from __future__ import annotations

import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


class NotRegularFileError(OSError):
    """`path` exists but is not a regular file; `kind` says what it is."""

    def __init__(self, path: str, mode: int) -> None:
        self.kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        super().__init__(f"{path}: not a regular file ({self.kind})")
        self.path = path


def open_regular(path: str) -> int:
    """A read-only descriptor for the regular file at `path` (symlinks followed).

    Anything else is refused with NotRegularFileError before it can block: the path is
    looked at first, then opened with O_NONBLOCK (a FIFO swapped in meanwhile does not
    wait for a writer) and checked again on the descriptor, which is then made blocking.
    """
    before = os.stat(path)
    if not stat.S_ISREG(before.st_mode):
        raise NotRegularFileError(path, before.st_mode)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(path, mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_replaceable(path: str) -> None:
    """Refuse to replace `path` when it is anything but a regular file (or absent)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(path, mode)
