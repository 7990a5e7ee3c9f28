"""The single error path of every command: one line on stderr, a sysexits code, no traceback.

It also guards the standard streams, so every command run through it gets the same rules:

- a standard descriptor closed at start (`>&-`) is held by /dev/null, so no file the
  command opens can land on it; writing to a closed standard output is still an error
  (EBADF), as it would be in C;
- a failed write to standard output (closed, full, broken pipe) is reported as
  `prog: stdout: <reason> (<what was changed>)` and exits 74 (EX_IOERR): the command may
  have configured something before its output failed, and the user must know;
- names that are not UTF-8 are written as the bytes they were read as (surrogateescape),
  as the C tools print them.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from dumpon import changes
from dumpon.errors import Exit, ToolError, strerror


class OutputError(Exception):
    """Standard output could not be written.  Not an OSError, so that no `except OSError`
    on the way up mistakes it for a failure of whatever the command was doing."""

    def __init__(self, code: int) -> None:
        super().__init__(strerror(code))
        self.errno = code


class _Stdout(io.FileIO):
    """Descriptor 1 for sys.stdout's buffer: failures become OutputError."""

    def __init__(self, closed_at_start: bool) -> None:
        super().__init__(1, "wb", closefd=False)
        self._closed_at_start = closed_at_start
        self.discard = False  # after the failure is reported: drop what is left

    def write(self, data: object) -> int:
        size = memoryview(data).nbytes  # type: ignore[arg-type]
        if self.discard:
            return size
        if self._closed_at_start:
            raise OutputError(errno.EBADF)
        try:
            return super().write(data)  # type: ignore[arg-type]
        except OSError as exc:
            raise OutputError(exc.errno or errno.EIO) from None


def warn(prog: str, message: str) -> None:
    """A warnx(3)-style line: `<prog>: <message>` on stderr."""
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


def run_guarded(prog: str, body: Callable[[], int]) -> NoReturn:
    """Run `body` and exit with its status, turning every failure into one stderr line."""
    changes.start()
    stdout = _guard_standard_streams()
    try:
        status = body()
    except OutputError as exc:
        status = _output_failed(prog, exc, stdout)
    except ToolError as exc:
        if exc.message:
            warn(prog, exc.message)
        status = exc.exit_code
    except KeyboardInterrupt:
        status = 130
    except Exception as exc:  # the promise is: never a traceback
        warn(prog, f"internal error: {type(exc).__name__}: {exc}{_late()}")
        status = Exit.SOFTWARE
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OutputError as exc:
        failed = _output_failed(prog, exc, stdout, quiet=status != 0)
        status = status or failed
    raise SystemExit(status)


def _late() -> str:
    """For a failure after a change took effect: what had already been done."""
    return f" ({changes.summary()})" if changes.any_applied() else ""


def _guard_standard_streams() -> _Stdout | None:
    """Hold closed standard descriptors with /dev/null; put sys.stdout on a `_Stdout`.

    Left alone when sys.stdout was replaced before we ran (a test capturing output).
    """
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.append(fd)
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stderr is not None and sys.stderr is sys.__stderr__:
        sys.stderr.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    original = sys.stdout
    if original is not sys.__stdout__:
        return None
    raw = _Stdout(closed_at_start=1 in closed)
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=original.encoding if original is not None else "utf-8",
        errors="surrogateescape",
        line_buffering=original.line_buffering if original is not None else False,
    )
    return raw


def _output_failed(prog: str, exc: OutputError, stdout: _Stdout | None, quiet: bool = False) -> int:
    """Report a failed write to standard output once; EX_IOERR.

    A reader that went away (EPIPE) is only worth a line when something was changed.
    """
    if stdout is not None:
        stdout.discard = True
    if not quiet and (exc.errno != errno.EPIPE or changes.any_applied()):
        warn(prog, f"stdout: {strerror(exc.errno)} ({changes.summary()})")
    return Exit.IOERR
