"""Output files that appear whole or not at all: exclusive creation, atomic replacement,
and never a node that is not a regular file replaced."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import BinaryIO

from dumpon.regular import check_replaceable


@contextlib.contextmanager
def exclusive_output(path: str, *, replace: bool = False, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Yield a binary file that ends up at `path` only if the `with` body succeeds.

    Without `replace`, `path` is created with O_EXCL, so an existing file (or a symlink an
    attacker planted) is never followed or overwritten; FileExistsError says so.  With
    `replace`, only a regular file is replaced (NotRegularFile otherwise: a device
    node, FIFO, socket, symlink or directory stays as it is): the data goes to a fresh
    temporary file in the same directory that is renamed over `path` at the end, so a
    reader never sees a half-written file and a failed run leaves the previous file in
    place.  On any exception (terminate.signals_raise turns stop signals into one) the
    partial file is removed.

    Linux's O_TMPFILE would keep even a killed run from leaving a file, but ext4 writes to
    such an unnamed inode at a third of the speed, which a multi-GB dump cannot afford.
    """
    if replace:
        check_replaceable(path)
    target = _temporary_name(path) if replace else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        if replace:
            check_replaceable(path)  # again: the node may have been swapped while we wrote
            os.replace(target, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        raise


def _temporary_name(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.{os.urandom(6).hex()}.tmp")
