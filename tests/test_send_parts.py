"""Pieces around the sender: the progress lines, FIFO input, the emulation's tunables."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

from dumpon.cli.sendprogress import LineProgress
from dumpon.dumpsource import DumpSpec, prepare
from dumpon.kernel.emulation.kernel import MockKernel
from dumpon.netdumpconfig import read_tunables
from dumpon.protocol.client import ClientStats, Tunables


def write_emulation_state(path: Path, sysctl: dict[str, object]) -> None:
    """An emulated kernel with nothing configured and these sysctl overrides (the
    documented way to change its tunables)."""
    state = {
        "format": "dumpon-mock-kernel",
        "version": 1,
        "dumpers": [],
        "netdump": None,
        "facts": {},
        "sysctl": sysctl,
    }
    path.write_text(json.dumps(state))


def test_plain_progress_lines() -> None:
    out = io.StringIO()
    progress = LineProgress(out, 1000, interval=0.0)
    progress.update(500, ClientStats(retransmits=3))
    progress.close()
    line = out.getvalue()
    assert line.startswith("netdump: 500 of 1000 bytes acknowledged, ")
    assert line.endswith(" MB/s, 3 retransmits\n")


def test_fifo_is_read_as_a_stream(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = os.urandom(200_000)

    def writer() -> None:
        with open(fifo, "wb") as out:
            out.write(data)

    thread = threading.Thread(target=writer)
    thread.start()
    dump = prepare(DumpSpec(str(fifo)))
    assert dump.total is None  # unknown until the writer is done
    received = bytearray()
    while run := dump.body.read_run(65536):
        received += run
    thread.join()
    assert received == data
    assert dump.body.length == len(data)


def test_emulation_tunables(tmp_path: Path) -> None:
    state = tmp_path / "kernel.json"
    kernel = MockKernel(str(state))
    assert read_tunables(kernel) == (Tunables(), "")
    assert kernel.sysctl("net.debugnet.npolls") == (2000).to_bytes(4, "little")
    content = json.loads(state.read_text()) if state.exists() else None
    assert content is None  # reading creates nothing
    write_emulation_state(state, {"net.netdump.polls": 7, "net.netdump.path": "p"})
    tunables, path = read_tunables(MockKernel(str(state)))
    assert (tunables.polls, tunables.retries, path) == (7, 10, "p")
    assert MockKernel(str(state)).sysctl("net.debugnet.npolls") == (7).to_bytes(4, "little")
