"""The `-i` handler script: started after every dump, watched, killed when it overstays.

argv is the reference server's: script, reason (`success`, `timeout` or `error`), client
address, host name, info file and core file (both relative to the dump directory, which is
the working directory).  The environment is small and fixed: PATH and the NETDUMP_*
variables below, nothing inherited from the daemon.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dumpon.errors import os_error_text

log = logging.getLogger("netdumpd")

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the handler is told about one ended dump."""

    reason: str
    address: str
    host: str
    info: str
    core: str
    key: str | None


def environment(outcome: Outcome, dumpdir: Path) -> dict[str, str]:
    env = {
        "PATH": SAFE_PATH,
        "NETDUMP_REASON": outcome.reason,
        "NETDUMP_CLIENT": outcome.address,
        "NETDUMP_HOST": outcome.host,
        "NETDUMP_INFO": outcome.info,
        "NETDUMP_CORE": outcome.core,
        "NETDUMP_DUMPDIR": str(dumpdir),
    }
    if outcome.key is not None:
        env["NETDUMP_KEY"] = outcome.key
    return env


@dataclass(slots=True)
class _Running:
    process: subprocess.Popen[bytes]
    deadline: float


class HandlerRunner:
    """Starts the script without waiting for it; `reap` is called from the event loop."""

    def __init__(self, script: Path, dumpdir: Path, time_limit: float) -> None:
        self._script = script
        self._dumpdir = dumpdir
        self._time_limit = time_limit
        self._running: list[_Running] = []

    def run(self, outcome: Outcome) -> None:
        argv = [str(self._script), outcome.reason, outcome.address, outcome.host]
        argv += [outcome.info, outcome.core]
        try:
            process = subprocess.Popen(
                argv,
                cwd=self._dumpdir,
                env=environment(outcome, self._dumpdir),
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so a kill takes its children
            )
        except OSError as exc:
            log.error("Cannot run handler %s: %s", self._script, os_error_text(exc))
            return
        self._running.append(_Running(process, time.monotonic() + self._time_limit))

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def reap(self, now: float) -> None:
        """Log the handlers that ended; kill those past their time limit."""
        still: list[_Running] = []
        for entry in self._running:
            status = entry.process.poll()
            if status is None and now >= entry.deadline:
                log.warning("Process %d exceeded %g s; killed", entry.process.pid, self._time_limit)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(entry.process.pid, signal.SIGKILL)
                status = entry.process.wait()
            if status is None:
                still.append(entry)
            elif status == 0:
                log.info("Process %d exited with status 0", entry.process.pid)
            else:
                log.warning("Process %d exited with status %d", entry.process.pid, status)
        self._running = still
