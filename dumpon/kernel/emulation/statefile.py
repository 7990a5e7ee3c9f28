"""A versioned JSON state file: read without locks, changed under a lock, replaced atomically.

The file may live in a directory other users can write to (a sticky /tmp), so nothing
found beside it is trusted:

- the state file is read only if it is a regular file owned by the caller (or root),
  opened without following a symbolic link and without blocking, and read up to a bound;
  anything else is refused before a byte is read;
- writers lock a sidecar `NAME.lock` (the data file is replaced by rename, so it cannot
  carry the lock), opened without following a symbolic link and used only if it is a
  regular file of the caller's with one link;
- the new state goes to a temporary file with a fresh random name, created exclusively
  (O_EXCL, O_NOFOLLOW) and owned by the caller, that is synced and renamed over the old
  file; the directory is then synced.

All names are resolved relative to one descriptor of the directory.  A writer killed at
any point leaves the old or the new file, never a mixture; on any error the old file is
left as it was.  Every document is checked against the schema on the way in and on the
way out (dumpon/kernel/emulation/document.py).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator
from typing import Any

from dumpon.errors import Exit, ToolError, os_error_text, strerror
from dumpon.kernel.emulation.shapes import Invalid, Record
from dumpon.regular import file_kind

State = dict[str, Any]

# Far above any state the schema allows in practice (a thousand encrypted targets take
# ~6 MiB); a bigger file is refused unread, and a bigger state is never written.
MAX_SIZE = 16 << 20
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOT_FOLLOWED = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class StateFile:
    """One state file, checked against `schema` (a `Record`) whenever it is read or written."""

    def __init__(
        self, path: str, kind: str, version: int, schema: Record, empty: Callable[[], State]
    ) -> None:
        self.path = path
        self.kind = kind
        self.version = version
        self.schema = schema
        self._empty = empty
        self.directory, self.name = os.path.split(path)

    def read(self) -> State:
        """The current state; the empty state when the file does not exist yet."""
        try:
            dir_fd = os.open(self.directory or ".", _OPEN_DIR)
        except FileNotFoundError:
            return self._empty()
        except OSError as exc:
            raise self._error(os_error_text(exc), path=self.directory) from None
        try:
            return self._read_in(dir_fd)
        finally:
            os.close(dir_fd)

    def begin(self) -> Transaction:
        """Lock the file and read it for a change that `commit` writes or `abort` drops."""
        try:
            os.makedirs(self.directory or ".", mode=0o700, exist_ok=True)
            dir_fd = os.open(self.directory or ".", _OPEN_DIR)
        except OSError as exc:
            raise self._error(os_error_text(exc), path=exc.filename) from None
        try:
            lock_fd = self._open_lock(dir_fd)
        except BaseException:
            os.close(dir_fd)
            raise
        transaction = Transaction(self, dir_fd, lock_fd)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            transaction.state = self._read_in(dir_fd)
        except BaseException:
            transaction.abort()
            raise
        return transaction

    @contextlib.contextmanager
    def update(self) -> Iterator[State]:
        """Yield the state for changing in place; it is written back if the block succeeds."""
        transaction = self.begin()
        try:
            yield transaction.state
        except BaseException:
            transaction.abort()
            raise
        transaction.commit()

    # --- reading ------------------------------------------------------------------------

    def _read_in(self, dir_fd: int) -> State:
        try:
            fd = self._open_checked(dir_fd, self.name, os.O_RDONLY)
        except FileNotFoundError:
            return self._empty()
        try:
            raw = _read_bounded(fd)
        except OSError as exc:
            raise self._error(os_error_text(exc)) from None
        finally:
            os.close(fd)
        if len(raw) > MAX_SIZE:
            raise self._error(f"larger than {MAX_SIZE} bytes; refused, left untouched")
        return self._decode(raw)

    def _decode(self, raw: bytes) -> State:
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._corrupt(str(exc)) from None
        except RecursionError:
            raise self._corrupt("nested too deeply") from None
        if not isinstance(document, dict) or document.get("format") != self.kind:
            raise self._error(f"not a {self.kind} state file; left untouched")
        found = document.get("version")
        if not isinstance(found, int) or isinstance(found, bool) or found < 1:
            raise self._corrupt(f"bad version {found!r}")
        if found > self.version:
            raise self._error(
                f"state file version {found} is newer than this program's {self.version}; "
                "left untouched"
            )
        try:
            state: State = self.schema.load(document, "")
        except Invalid as exc:
            raise self._corrupt(str(exc)) from None
        return state

    # --- writing ------------------------------------------------------------------------

    def _dump(self, state: State) -> bytes:
        state["format"], state["version"] = self.kind, self.version
        try:
            document = self.schema.dump(state, "")
        except Invalid as exc:
            raise self._error(
                f"the new state would be invalid ({exc}); nothing was changed"
            ) from None
        data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("ascii")
        if len(data) > MAX_SIZE:
            raise self._error(f"the new state would exceed {MAX_SIZE} bytes; nothing was changed")
        return data

    def write_in(self, dir_fd: int, state: State) -> None:
        """Replace the file in the directory open as `dir_fd` with `state`."""
        self._replace(dir_fd, self._dump(state))

    def _replace(self, dir_fd: int, data: bytes) -> None:
        temporary = ""
        try:
            fd, temporary = _create_temporary(dir_fd, self.name)
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temporary, self.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            temporary = ""
            os.fsync(dir_fd)
        except OSError as exc:
            if temporary:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=dir_fd)
            raise self._error(f"{os_error_text(exc)}; nothing was changed") from None

    # --- files beside the state -----------------------------------------------------------

    def _open_lock(self, dir_fd: int) -> int:
        return self._open_checked(dir_fd, self.name + ".lock", os.O_RDWR | os.O_CREAT)

    def _open_checked(self, dir_fd: int, name: str, flags: int) -> int:
        """Open `name` only as a regular file of ours: never through a link, never a FIFO
        or device.  Looked at before opening (a device is never opened) and after (the name
        may have been swapped in between).  FileNotFoundError unless `flags` create it."""
        try:
            try:
                self._check_owned(os.stat(name, dir_fd=dir_fd, follow_symlinks=False), name)
            except FileNotFoundError:
                if not flags & os.O_CREAT:
                    raise
            fd = os.open(name, flags | _NOT_FOLLOWED, 0o600, dir_fd=dir_fd)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._refused(exc, name) from None
        try:
            self._check_owned(os.fstat(fd), name)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _check_owned(self, info: os.stat_result, name: str) -> None:
        path = os.path.join(self.directory, name)
        if not stat.S_ISREG(info.st_mode):
            what = file_kind(info.st_mode)
            raise ToolError(f"{path}: {what}, not a regular file; refused", Exit.OSFILE)
        if info.st_uid not in (os.geteuid(), 0):
            raise ToolError(f"{path}: owned by uid {info.st_uid}, not by you; refused", Exit.OSFILE)
        if info.st_nlink != 1:
            raise ToolError(f"{path}: has {info.st_nlink} hard links; refused", Exit.OSFILE)

    def _refused(self, exc: OSError, name: str) -> ToolError:
        path = os.path.join(self.directory, name)
        if exc.errno == errno.ELOOP:
            return ToolError(f"{path}: a symbolic link, not a regular file; refused", Exit.OSFILE)
        return self._error(os_error_text(exc), path=path)

    def _corrupt(self, reason: str) -> ToolError:
        return self._error(f"corrupt state file ({reason}); left untouched")

    def _error(self, reason: str, path: str | None = None) -> ToolError:
        return ToolError(f"{path or self.path}: {reason}", Exit.OSFILE)


def _read_bounded(fd: int) -> bytes:
    """At most MAX_SIZE + 1 bytes: enough to tell a file that is too big."""
    chunks = []
    left = MAX_SIZE + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _create_temporary(dir_fd: int, name: str) -> tuple[int, str]:
    """A new file of ours beside `name`, under a name nobody could have guessed."""
    for _ in range(8):
        temporary = f".{name}.{os.urandom(8).hex()}.tmp"  # not `secrets`: it costs ms
        try:
            fd = os.open(
                temporary,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOT_FOLLOWED,
                0o600,
                dir_fd=dir_fd,
            )
        except FileExistsError:
            continue
        return fd, temporary
    raise OSError(errno.EEXIST, strerror(errno.EEXIST))


class Transaction:
    """A locked change of a state file: `state` is the caller's to change until the end."""

    def __init__(self, file: StateFile, dir_fd: int, lock_fd: int) -> None:
        self.state: State = {}
        self._file = file
        self._fds = [lock_fd, dir_fd]

    def commit(self) -> None:
        """Write `state` in place of the file (all or nothing), then unlock."""
        try:
            self._file.write_in(self._fds[1], self.state)
        finally:
            self.abort()

    def abort(self) -> None:
        """Unlock, leaving the file as it was."""
        while self._fds:
            os.close(self._fds.pop(0))
