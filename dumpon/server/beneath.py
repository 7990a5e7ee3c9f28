"""Opening a client-chosen directory without ever leaving the dump directory.

The rule is capsicum(4)'s, which the reference server relies on: a path is relative, has no
`..` component, and a symbolic link met on the way is followed only if its own target obeys
the same rule.  Every step is an `openat(2)` relative to the directory reached so far, with
O_NOFOLLOW, so a link swapped in behind our back cannot redirect the walk.
"""

from __future__ import annotations

import errno
import os
import stat

# Symbolic links followed during one walk before giving up, as ELOOP does.
MAX_LINKS = 8
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class EscapeError(OSError):
    """A path that is absolute, climbs with `..`, or loops through symbolic links."""


def components(path: bytes) -> list[bytes]:
    """The names of a relative path, with `.` and empty parts dropped; EscapeError otherwise."""
    if path.startswith(b"/"):
        raise EscapeError(errno.EPERM, "absolute path")
    parts = [part for part in path.split(b"/") if part not in (b"", b".")]
    if b".." in parts:
        raise EscapeError(errno.EPERM, "path climbs with '..'")
    return parts


def open_directory(root_fd: int, path: bytes) -> int:
    """A new descriptor for `path` beneath `root_fd`, which stays open and unchanged."""
    pending = components(path)
    pending.reverse()  # a stack: the next name is at the end
    links = 0
    # every directory we pass, so a link is resolved relative to the one holding it
    trail = [os.dup(root_fd)]
    try:
        while pending:
            name = pending.pop()
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=trail[-1])
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                target = _link_target(trail[-1], name)
                if target is None:
                    raise
                links += 1
                if links > MAX_LINKS:
                    raise EscapeError(errno.ELOOP, "too many symbolic links") from None
                pending.extend(reversed(components(target)))
                continue
            trail.append(fd)
        result = trail.pop()
    finally:
        for fd in trail:
            os.close(fd)
    return result


def _link_target(dir_fd: int, name: bytes) -> bytes | None:
    """The target of the symbolic link `name`, or None if it is something else."""
    try:
        if not stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            return None
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None
