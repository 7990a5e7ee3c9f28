"""Output files that appear whole or not at all: exclusive creation, atomic replacement,
and never a node that is not a regular file replaced."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from typing import BinaryIO

from dumpon.regular import check_replaceable

_PROC_FD = "/proc/self/fd"


@contextlib.contextmanager
def exclusive_output(path: str, *, replace: bool = False, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Yield a binary file that ends up at `path` only if the `with` body succeeds.

    Without `replace` an existing `path` (or a symlink an attacker planted) is never
    followed or overwritten: FileExistsError.  With `replace` only a regular file is
    replaced (NotRegularFileError otherwise: a device node, FIFO, symlink or directory stays
    as it is), atomically at the end, so a failed run leaves the previous file in place.

    Where the system allows it (Linux O_TMPFILE) the data goes to an unnamed file that gets
    its name only once complete, so nothing is left behind even if the process is killed;
    elsewhere a named file is written and removed on any exception.
    """
    if replace:
        check_replaceable(path)
    elif os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
    fd = _unnamed(os.path.dirname(path) or ".", mode)
    named: str | None = None
    if fd is None:
        named = _temporary_name(path) if replace else path
        fd = os.open(named, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            if named is None:
                staged = _temporary_name(path) if replace else path
                _name(fd, staged)  # EEXIST if `path` appeared meanwhile
                named = staged
        if replace:
            check_replaceable(path)  # again: the node may have been swapped while we wrote
            os.replace(named, path)
    except BaseException:
        if named is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(named)
        raise


def _temporary_name(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.{secrets.token_hex(6)}.tmp")


def _name(fd: int, path: str) -> None:
    """Give the unnamed file `fd` its name: linkat(2) following the /proc/self/fd link
    (os.link calls link(2), which does not follow, unless a dir_fd is given)."""
    proc = os.open(_PROC_FD, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(str(fd), path, src_dir_fd=proc, follow_symlinks=True)
    finally:
        os.close(proc)


def _unnamed(directory: str, mode: int) -> int | None:
    """An unnamed file in `directory`, or None where the system or file system has none."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not os.path.isdir(_PROC_FD):
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise
