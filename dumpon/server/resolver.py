"""Reverse DNS that never holds up the event loop.

The reference server resolves the client before it answers the HERALD, so a resolver that
does not answer costs the whole dump (the kernel gives up before the first ACK).  Here the
lookup runs in a few daemon threads, the answer is cached, and the caller decides how long
to wait for it: the loop ACKs first and asks again later.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# Threads blocked on a dead resolver must not multiply without bound; daemon threads,
# because one stuck in the C library cannot be interrupted and must not delay exit.
_WORKERS = 4
_CACHE_ENTRIES = 4096
_CACHE_SECONDS = 3600.0
# Beyond this many unanswered questions (a HERALD flood against a dead resolver) new
# clients are simply named by their address.
_MAX_ASKED = 1024


def reverse_lookup(address: str) -> str | None:
    """The PTR name of an IPv4 address, or None (no record, no answer, any error)."""
    try:
        return socket.gethostbyaddr(address)[0]
    except (OSError, UnicodeError):
        return None


class Resolver:
    """Asynchronous, cached reverse lookups; `wake` is called from a worker when one ends."""

    def __init__(
        self, wake: Callable[[], None], lookup: Callable[[str], str | None] = reverse_lookup
    ) -> None:
        self._wake = wake
        self._lookup = lookup
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._asked: set[str] = set()
        self._todo: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[str, str | None]] = queue.SimpleQueue()
        for number in range(_WORKERS):
            threading.Thread(target=self._work, name=f"dns-{number}", daemon=True).start()

    def start(self, address: str) -> None:
        """Begin a lookup unless the answer is cached or already on its way."""
        if len(self._asked) >= _MAX_ASKED or address in self._asked:
            return
        if self.answer(address) is None:
            self._asked.add(address)
            self._todo.put(address)

    def answer(self, address: str) -> tuple[str | None] | None:
        """(name,) once known, with name None when there is none; None while unknown."""
        self._collect()
        cached = self._cache.get(address)
        if cached is None or cached[0] < time.monotonic():
            return None
        self._cache.move_to_end(address)
        return (cached[1],)

    def _collect(self) -> None:
        while not self._done.empty():
            address, name = self._done.get()
            self._asked.discard(address)
            self._cache[address] = (time.monotonic() + _CACHE_SECONDS, name)
            self._cache.move_to_end(address)
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def _work(self) -> None:
        while True:
            address = self._todo.get()
            self._done.put((address, self._lookup(address)))
            self._wake()
