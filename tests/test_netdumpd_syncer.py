"""Finished dumps reach stable storage on the syncer's thread, not in the event loop."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest

from dumpon.protocol.wire import MessageType
from dumpon.server.dump import Dump
from dumpon.server.syncer import Syncer
from tests.server_support import client_of, header, running_server, wait_for


def test_flushes_run_in_order_and_report_their_errors() -> None:
    woken = threading.Semaphore(0)
    syncer: Syncer[str] = Syncer(woken.release)
    ran: list[str] = []

    def slow() -> None:
        time.sleep(0.05)
        ran.append("first")

    def failing() -> None:
        raise OSError(errno.EIO, "Input/output error")

    syncer.submit("first", slow)
    syncer.submit("second", failing)
    syncer.submit("third", lambda: ran.append("third"))
    results = syncer.close()  # waits for all three
    assert ran == ["first", "third"]
    assert [item for item, _ in results] == ["first", "second", "third"]
    error = dict(results)["second"]
    assert isinstance(error, OSError) and error.errno == errno.EIO
    assert woken.acquire(timeout=0) and syncer.collect() == []


def _slow_flush(release: threading.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    flush = Dump.flush

    def slow(dump: Dump) -> None:
        assert release.wait(10), "the test never let the flush go"
        flush(dump)

    monkeypatch.setattr(Dump, "flush", slow)


def test_a_slow_flush_holds_up_neither_finished_nor_other_dumps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel gets its FINISHED ACK at once and another dump goes on, while the first
    one's fsync is still running; its handler runs once the dump is on stable storage."""
    release = threading.Event()
    _slow_flush(release, monkeypatch)
    handler = tmp_path / "handler.sh"
    handler.write_text(f'#!/bin/sh\necho "$1 $5" >> {tmp_path}/handler.log\n')
    handler.chmod(0o755)
    crash = tmp_path / "crash"
    crash.mkdir()
    body = os.urandom(50_000)
    with running_server(crash, handler=handler) as server:
        first, second = client_of(server, timeout=0.5), client_of(server, timeout=0.5)
        first.herald()
        wait_for(lambda: (crash / "info.localhost.0").exists())  # the first is dump 0
        second.herald()
        first.body(body)
        first.exchange(MessageType.KDH, 0, header(len(body)))
        first.exchange(MessageType.FINISHED, 0, b"")  # ACKed within 0.5 s, flush pending
        second.body(body)  # served meanwhile
        time.sleep(0.2)
        assert not (tmp_path / "handler.log").exists()
        info = crash / "info.localhost.0"
        assert "Dump complete" not in info.read_text()
        release.set()
        wait_for(lambda: (tmp_path / "handler.log").exists())
        assert "Dump complete" in info.read_text()
        second.exchange(MessageType.KDH, 0, header(len(body)))
        second.exchange(MessageType.FINISHED, 0, b"")
        wait_for(lambda: len((tmp_path / "handler.log").read_text().splitlines()) == 2)
    assert (tmp_path / "handler.log").read_text().split() == [
        "success", "./vmcore.localhost.0", "success", "./vmcore.localhost.1"
    ]  # fmt: skip
    assert (crash / "vmcore.localhost.0").read_bytes() == body
    assert (crash / "vmcore.localhost.1").read_bytes() == body


def test_a_flush_that_fails_fails_the_dump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(dump: Dump) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Dump, "flush", failing)
    handler = tmp_path / "handler.sh"
    handler.write_text(f'#!/bin/sh\necho "$1" >> {tmp_path}/handler.log\n')
    handler.chmod(0o755)
    crash = tmp_path / "crash"
    crash.mkdir()
    with running_server(crash, handler=handler) as server:
        client = client_of(server)
        client.herald()
        client.body(b"x" * 5000)
        client.exchange(MessageType.KDH, 0, header(5000))
        client.exchange(MessageType.FINISHED, 0, b"")
        wait_for(lambda: (tmp_path / "handler.log").exists())
    assert (tmp_path / "handler.log").read_text() == "error\n"
    text = (crash / "info.localhost.0").read_text()
    assert text.endswith("Dump unsuccessful: write error @ offset 00000000: Input/output error\n")
    assert not (crash / "vmcore.localhost.last").exists()


def test_shutdown_waits_for_flushes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    _slow_flush(release, monkeypatch)
    crash = tmp_path / "crash"
    crash.mkdir()
    with running_server(crash) as server:
        client = client_of(server)
        client.herald()
        client.body(b"y" * 3000)
        client.exchange(MessageType.KDH, 0, header(3000))
        client.exchange(MessageType.FINISHED, 0, b"")
        threading.Timer(0.3, release.set).start()
    assert (crash / "info.localhost.0").read_text().endswith("Dump complete\n")
    assert os.readlink(crash / "vmcore.localhost.last") == "vmcore.localhost.0"
