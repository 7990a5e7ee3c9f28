"""Progress of a dump being sent, on stderr: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from dumpon.protocol.client import ClientStats
from dumpon.sender import Progress

_LINE_INTERVAL = 1.0  # seconds between plain progress lines


class LineProgress:
    """One line a second: bytes acknowledged, rate, retransmits."""

    def __init__(self, out: TextIO, total: int | None, interval: float = _LINE_INTERVAL) -> None:
        self._out = out
        self._total = total
        self._interval = interval
        self._start = time.monotonic()
        self._next = self._start + interval

    def update(self, body_bytes: int, stats: ClientStats) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._interval
            self._line(body_bytes, stats, now)

    def _line(self, body_bytes: int, stats: ClientStats, now: float) -> None:
        rate = body_bytes / max(now - self._start, 1e-9) / 1e6
        of = f" of {self._total}" if self._total is not None else ""
        print(
            f"netdump: {body_bytes}{of} bytes acknowledged, {rate:.1f} MB/s,"
            f" {stats.retransmits} retransmits",
            file=self._out,
            flush=True,
        )

    def close(self) -> None:
        pass


class RichProgress:
    """rich's bar (typer brings rich): bytes, rate and retransmits, cleared at the end."""

    def __init__(self, out: TextIO, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("netdump"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[retransmits]} retransmits"),
            TimeElapsedColumn(),
            console=Console(file=out),
            transient=True,
        )
        self._task = self._bar.add_task("send", total=total, retransmits=0)
        self._bar.start()

    def update(self, body_bytes: int, stats: ClientStats) -> None:
        self._bar.update(self._task, completed=body_bytes, retransmits=stats.retransmits)

    def close(self) -> None:
        self._bar.stop()


def progress_display(total: int | None, quiet: bool = False) -> Progress | None:
    """The display for stderr: none when quiet, rich on a terminal, lines otherwise."""
    if quiet:
        return None
    if sys.stderr.isatty():
        return RichProgress(sys.stderr, total)
    return LineProgress(sys.stderr, total)
