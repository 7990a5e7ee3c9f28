"""The daemon around the loop: pidfile with a lock, logging, detaching, signals."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import logging.handlers
import os
import sys
from pathlib import Path

from dumpon.errors import Exit, ToolError, os_error_text

log = logging.getLogger("netdumpd")

DEFAULT_PIDFILE = Path("/var/run/netdumpd.pid")
_SYSLOG_SOCKETS = ("/dev/log", "/var/run/log", "/var/run/syslog")


class Pidfile:
    """pidfile(3): created 0600, locked for the daemon's life, removed at exit."""

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()  # removed after detach() has changed to /
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            self._fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise ToolError(f"pidfile {path}: {os_error_text(exc)}", Exit.CANTCREAT) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ToolError("netdumpd is already running", Exit.UNAVAILABLE) from None
            raise ToolError(f"pidfile {path}: {os_error_text(exc)}", Exit.CANTCREAT) from None

    def write(self) -> None:
        """Record our pid (after detaching: the pid changes)."""
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)


def setup_logging(debug: bool) -> None:
    """syslog(3), ident netdumpd, facility daemon; stderr with -D (or without a syslogd)."""
    root = logging.getLogger("netdumpd")
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False
    handler: logging.Handler | None = None
    if not debug:
        handler = _syslog_handler()
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("netdumpd: %(message)s"))
    root.addHandler(handler)


def _syslog_handler() -> logging.Handler | None:
    for address in _SYSLOG_SOCKETS:
        if os.path.exists(address):
            try:
                handler = logging.handlers.SysLogHandler(
                    address, logging.handlers.SysLogHandler.LOG_DAEMON
                )
            except OSError:
                continue
            handler.ident = f"netdumpd[{os.getpid()}]: "
            return handler
    return None


def detach() -> None:
    """daemon(3) with nochdir=0, noclose=0: fork, new session, / and /dev/null."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
