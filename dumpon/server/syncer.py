"""Flushing finished dumps to stable storage without holding up the event loop.

A dump's data is in the page cache when it is ACKed; fsync(2) at FINISHED then writes
out what the kernel has not written yet, up to gigabytes, which can take seconds.  The
loop must not wait for it: every other dump would stall meanwhile, and a client gives up
on FINISHED after about twelve seconds without its ACK.  So one thread runs the flushes,
in the order they come, and the loop collects each result when it is woken.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Syncer(Generic[T]):
    """Runs `flush` callables on one thread; `wake` is called after each one ends."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self._jobs: queue.SimpleQueue[tuple[T, Callable[[], None]] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[T, OSError | None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, item: T, flush: Callable[[], None]) -> None:
        """Run `flush` for `item` after the flushes submitted before it."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="netdumpd-sync", daemon=True)
            self._thread.start()
        self._jobs.put((item, flush))

    def collect(self) -> list[tuple[T, OSError | None]]:
        """The items whose flush has ended since the last call, with its error if any."""
        results: list[tuple[T, OSError | None]] = []
        while True:
            try:
                results.append(self._done.get_nowait())
            except queue.Empty:
                return results

    def close(self) -> list[tuple[T, OSError | None]]:
        """Wait for every flush submitted; the results not collected yet."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        return self.collect()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            item, flush = job
            error: OSError | None = None
            try:
                flush()
            except OSError as exc:
                error = exc
            self._done.put((item, error))
            self._wake()
