"""Input files opened the safe way: only regular files, never blocking on a FIFO or device."""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from dumpon.errors import strerror


class NotRegularFile(OSError):
    """A path that names a FIFO, device, directory or socket where a file was expected;
    `what` says so (for a directory in the words C programs print: EISDIR's)."""

    def __init__(self, mode: int) -> None:
        if stat.S_ISDIR(mode):
            self.what = strerror(errno.EISDIR)
            super().__init__(errno.EISDIR, self.what)
        else:
            self.what = f"{file_kind(mode)}, not a regular file"
            super().__init__(errno.EINVAL, self.what)


def open_regular(path: str) -> BinaryIO:
    """`path` open for reading if it is a regular file (after symbolic links).

    Looked at before it is opened, so a device is never opened at all, and again after
    (non-blocking, so a FIFO swapped in meanwhile cannot hang us): NotRegularFile.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def file_kind(mode: int) -> str:
    """What a file of this mode is, for a message ("a FIFO")."""
    kinds = {
        stat.S_IFREG: "a regular file",
        stat.S_IFDIR: "a directory",
        stat.S_IFLNK: "a symbolic link",
        stat.S_IFIFO: "a FIFO",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFSOCK: "a socket",
    }
    return kinds.get(stat.S_IFMT(mode), "an unknown kind of file")
