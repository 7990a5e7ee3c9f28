"""The single error path of every command: one line on stderr, a sysexits code, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

from dumpon.errors import Exit, ToolError


def warn(prog: str, message: str) -> None:
    """A warnx(3)-style line: `<prog>: <message>` on stderr."""
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


def run_guarded(prog: str, body: Callable[[], int]) -> NoReturn:
    """Run `body` and exit with its status, turning every failure into one stderr line."""
    try:
        status = body()
    except ToolError as exc:
        if exc.message:
            warn(prog, exc.message)
        status = exc.exit_code
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        status = Exit.IOERR
    except Exception as exc:  # the promise is: never a traceback
        warn(prog, f"internal error: {type(exc).__name__}: {exc}")
        status = Exit.SOFTWARE
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        status = status or Exit.IOERR
    raise SystemExit(status)
