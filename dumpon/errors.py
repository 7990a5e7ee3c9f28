"""The one error type every command reports, and the sysexits(3) codes it carries."""

from __future__ import annotations

import errno
import os
from enum import IntEnum


class Exit(IntEnum):
    """sysexits(3) values, plus the plain failure status some FreeBSD paths use."""

    OK = 0
    FAILURE = 1
    USAGE = 64
    DATAERR = 65
    NOINPUT = 66
    NOHOST = 68
    UNAVAILABLE = 69
    SOFTWARE = 70
    OSERR = 71
    OSFILE = 72
    CANTCREAT = 73
    IOERR = 74
    TEMPFAIL = 75
    PROTOCOL = 76
    CONFIG = 78


class ToolError(Exception):
    """A failure to report as one line, `<prog>: <message>`, and exit with `exit_code`."""

    def __init__(self, message: str, exit_code: int = Exit.FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = int(exit_code)


class UsageError(ToolError):
    """A command line that does not fit the synopsis; the usage text follows the message."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "", Exit.USAGE)
        self.show_message = message is not None


def strerror(code: int) -> str:
    """The C library's text for an errno value, as err(3) prints it."""
    return os.strerror(code)


def errno_of(exc: OSError) -> int:
    """The errno an OSError carries (EIO when the exception has none)."""
    return exc.errno if exc.errno is not None else errno.EIO
