"""A versioned JSON state file: read without locks, changed under a lock and replaced atomically.

Writers take an exclusive flock(2) on a sidecar lock file (the data file itself is replaced
by rename, so it cannot carry the lock), write a temporary file, fsync it, rename it over
the old one and fsync the directory.  A writer killed at any point leaves either the old
or the new file, never a mixture.  Readers see one or the other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from dumpon.errors import Exit, ToolError

State = dict[str, Any]


class StateFile:
    def __init__(self, path: str, kind: str, version: int, empty: Callable[[], State]) -> None:
        self.path = path
        self.kind = kind
        self.version = version
        self._empty = empty

    def read(self) -> State:
        """The current state; the empty state when the file does not exist yet."""
        try:
            with open(self.path, "rb") as stream:
                raw = stream.read()
        except FileNotFoundError:
            return self._empty()
        except OSError as exc:
            raise self._error(exc.strerror or "cannot read") from None
        return self._decode(raw)

    @contextlib.contextmanager
    def update(self) -> Iterator[State]:
        """Yield the state for changing in place; it is written back if the block succeeds."""
        directory = os.path.dirname(self.path) or "."
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise self._error(exc.strerror or "cannot create", path=exc.filename) from None
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            state = self.read()
            yield state
            self._replace(state, directory)
        finally:
            os.close(lock_fd)

    def _decode(self, raw: bytes) -> State:
        try:
            state = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._error(f"corrupt state file ({exc}); left untouched") from None
        if not isinstance(state, dict) or state.get("format") != self.kind:
            raise self._error(f"not a {self.kind} state file; left untouched")
        found = state.get("version")
        if not isinstance(found, int) or found < 1:
            raise self._error(f"corrupt state file (bad version {found!r}); left untouched")
        if found > self.version:
            raise self._error(
                f"state file version {found} is newer than this program's {self.version}; "
                "left untouched"
            )
        return state

    def _replace(self, state: State, directory: str) -> None:
        state["format"] = self.kind
        state["version"] = self.version
        data = (json.dumps(state, indent=2, sort_keys=True) + "\n").encode()
        temporary = self.path + ".tmp"  # one writer at a time holds the lock
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            if exc.errno == errno.ENOSPC:
                raise self._error("no space left to write the state") from None
            raise self._error(exc.strerror or "cannot write", path=exc.filename) from None

    def _error(self, reason: str, path: str | None = None) -> ToolError:
        return ToolError(f"{path or self.path}: {reason}", Exit.OSFILE)
