"""Terminating signals as an exception, so that cleanup code (removing a partial output)
runs on TERM, HUP and INT as it does on any error."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Final

STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Terminated(BaseException):
    """A stop signal arrived; a BaseException so that `except Exception` lets it pass."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    def die(self) -> None:
        """End the process by the same signal, so the parent sees how it ended."""
        signal.signal(self.signum, signal.SIG_DFL)
        os.kill(os.getpid(), self.signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, the first stop signal raises Terminated in the main thread; later
    ones are ignored while the cleanup runs.  Signals ignored at entry (nohup) stay ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise Terminated(signum)

    previous = {
        signum: signal.signal(signum, handler)
        for signum in STOP_SIGNALS
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
