"""Output files that appear whole or not at all: exclusive creation, atomic replacement."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import BinaryIO


@contextlib.contextmanager
def exclusive_output(path: str, *, replace: bool = False, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Yield a binary file that ends up at `path` only if the `with` body succeeds.

    Without `replace`, `path` is created with O_EXCL, so an existing file (or a symlink an
    attacker planted) is never followed or overwritten; FileExistsError says so.  With
    `replace`, the data goes to a fresh temporary file in the same directory that is
    renamed over `path` at the end, so a reader never sees a half-written file and a failed
    run leaves the previous file in place.  On any exception the partial file is removed.
    """
    target = path
    if replace:
        head, tail = os.path.split(path)
        target = os.path.join(head, f".{tail}.{secrets.token_hex(6)}.tmp")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        if replace:
            os.replace(target, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        raise
