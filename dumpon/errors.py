"""The one error type every command reports, and the sysexits(3) codes it carries."""

from __future__ import annotations

import errno
import os
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket


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
    """FreeBSD's text for an errno value, as err(3) prints it there, whatever the host OS.

    An error FreeBSD does not have (a Linux-only errno) keeps the host C library's text.
    """
    from dumpon import freebsd_messages  # the tables are only needed on error paths

    return freebsd_messages.errno_text(code) or os.strerror(code)


def errno_of(exc: OSError) -> int:
    """The errno an OSError carries (EIO when the exception has none)."""
    return exc.errno if exc.errno is not None else errno.EIO


def os_error_text(exc: OSError) -> str:
    """strerror() of the errno an OSError carries: FreeBSD's text, not the exception's own."""
    return strerror(errno_of(exc))


def gai_strerror(exc: socket.gaierror) -> str:
    """FreeBSD's gai_strerror() text for a failed getaddrinfo(), not the host resolver's."""
    from dumpon import freebsd_messages

    return freebsd_messages.gai_text(exc.errno)
