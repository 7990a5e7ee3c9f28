"""Choosing the index of a new dump in a client directory: bounds file, scan, rotation.

Like the reference server, an index is claimed by creating its info file exclusively, and
`bounds.<host>` only remembers where to try first.  Unlike it, the number of dumps per host
is a setting, and with rotation the oldest dump is removed to make room instead of refusing.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass

from dumpon.server.names import DumpNames, bounds_name

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class NoFreeIndex(Exception):
    """Every index below the limit is taken and rotation is off."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """An index claimed for a new dump, with its info file open for writing."""

    names: DumpNames
    info_fd: int


def claim(dir_fd: int, host: str, max_dumps: int, rotate: bool) -> Claimed:
    """Create the info file of the next free index, rotating out the oldest if allowed."""
    hint = _read_bounds(dir_fd, host)
    order = range(max_dumps)
    if hint is not None and 0 <= hint < max_dumps:
        order = range(hint, hint + max_dumps)  # the hint first, then wrap around
    for candidate in order:
        claimed = _try(dir_fd, DumpNames(host, candidate % max_dumps))
        if claimed is not None:
            break
    else:
        if not rotate:
            raise NoFreeIndex(f"no free index below {max_dumps}")
        oldest = _oldest(dir_fd, host, max_dumps)
        remove_dump(dir_fd, oldest)
        claimed = _try(dir_fd, oldest)
        if claimed is None:
            raise NoFreeIndex(f"cannot reuse index {oldest.index}")
    _write_bounds(dir_fd, host, (claimed.names.index + 1) % max_dumps)
    return claimed


def remove_dump(dir_fd: int, names: DumpNames) -> None:
    """Delete every file of one dump (missing ones are fine)."""
    for name in (*names.every_core(), names.key, names.info):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)


def _try(dir_fd: int, names: DumpNames) -> Claimed | None:
    try:
        fd = os.open(names.info, _CREATE, 0o600, dir_fd=dir_fd)
    except FileExistsError:
        return None
    return Claimed(names, fd)


def _oldest(dir_fd: int, host: str, max_dumps: int) -> DumpNames:
    """The dump whose info file was changed longest ago (a finished dump's is final)."""
    ages: list[tuple[int, int]] = []
    for index in range(max_dumps):
        with contextlib.suppress(FileNotFoundError):
            info = DumpNames(host, index).info
            ages.append((os.stat(info, dir_fd=dir_fd, follow_symlinks=False).st_mtime_ns, index))
    if not ages:
        raise NoFreeIndex("no dump to rotate out")
    return DumpNames(host, min(ages)[1])


# The bounds file is only a hint: a planted link, FIFO or directory is ignored, never
# followed or waited on (O_NONBLOCK: opening a FIFO does not block).
_HINT_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _read_bounds(dir_fd: int, host: str) -> int | None:
    try:
        fd = os.open(bounds_name(host), os.O_RDONLY | _HINT_FLAGS, dir_fd=dir_fd)
        try:
            text = os.read(fd, 32) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
        finally:
            os.close(fd)
        return int(text.strip())
    except (OSError, ValueError):
        return None


def _write_bounds(dir_fd: int, host: str, next_index: int) -> None:
    try:
        fd = os.open(
            bounds_name(host), os.O_WRONLY | os.O_CREAT | _HINT_FLAGS, 0o600, dir_fd=dir_fd
        )
    except OSError:
        return
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.ftruncate(fd, 0)
            os.write(fd, f"{next_index}\n".encode())
    except OSError:
        pass  # a full disk loses the hint only; the scan still finds a free index
    finally:
        os.close(fd)
