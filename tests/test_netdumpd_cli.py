"""The netdumpd command: options, start-up errors, signals, manual page, service files."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import script

ROOT = Path(__file__).resolve().parent.parent


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [script("netdumpd"), *args], stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )


def wait_listening(process: subprocess.Popen[str]) -> int:
    assert process.stderr is not None
    for _ in range(20):
        line = process.stderr.readline()
        match = re.search(r"Waiting for clients on [\d.]+:(\d+)", line)
        if match:
            return int(match.group(1))
    raise AssertionError("netdumpd did not start")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [script("netdumpd"), *args], capture_output=True, text=True, timeout=20, check=False
    )


def test_sigterm_stops_cleanly_and_removes_the_pidfile(tmp_path: Path) -> None:
    pidfile = tmp_path / "netdumpd.pid"
    process = start("-D", "-d", str(tmp_path), "-P", str(pidfile), "-a", "127.0.0.1", "--port=0")
    try:
        wait_listening(process)
        assert pidfile.read_text() == f"{process.pid}\n"
        second = run("-D", "-d", str(tmp_path), "-P", str(pidfile), "-a", "127.0.0.1", "--port=0")
        assert second.returncode == 69
        assert second.stderr == "netdumpd: netdumpd is already running\n"
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
        process.wait()
    assert not pidfile.exists()


def test_detached_server_with_relative_paths(tmp_path: Path) -> None:
    """Without -D netdumpd returns once it listens; the detached server has changed to /, yet
    its relative pidfile is the one it writes and removes, and nothing lands in /."""
    (tmp_path / "dumps").mkdir()
    done = subprocess.run(
        [script("netdumpd"), "-a", "127.0.0.1", "--port=0", "-d", "dumps", "-P", "my.pid"],
        cwd=tmp_path, capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pidfile = tmp_path / "my.pid"
    for _ in range(100):  # the detached child writes it
        if pidfile.exists() and pidfile.read_text().endswith("\n"):
            break
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not pidfile.exists():
            break
        time.sleep(0.05)
    assert not pidfile.exists()
    assert not Path("/my.pid").exists()


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["-a", "300.1.1.1"], 64, "invalid bind IP specified"),
        (["-d", "/nonexistent/dir"], 73, "invalid dump location /nonexistent/dir"),
        (["-d", "/etc/hostname"], 73, "is not a directory"),
        (["-i", "{dir}/plain"], 69, "cannot access {dir}/plain"),
        (["-i", "{dir}"], 69, "not an executable file"),
        (["--minfree", "lots"], 64, "is not a size"),
        (["-p", "../elsewhere"], 73, "default path ../elsewhere is not a directory beneath"),
        (["-p", "missing"], 73, "default path missing is not a directory beneath"),
        (["--max-payload", "100"], 64, "100"),
        (["--busy-poll", "-5"], 64, "-5"),
        (["--busy-poll", "2000000"], 64, "2000000"),
    ],
)
def test_bad_settings_are_one_line_errors(
    tmp_path: Path, args: list[str], status: int, message: str
) -> None:
    (tmp_path / "plain").write_text("#!/bin/sh\n")
    args = [arg.format(dir=tmp_path) for arg in args]
    done = run("-D", "-d", str(tmp_path), "-P", str(tmp_path / "pid"), "--port=0", *args)
    assert done.returncode == status, done.stderr
    assert message.format(dir=tmp_path) in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_reported(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = str(taken.getsockname()[1])
        done = run("-D", "-d", str(tmp_path), "-P", str(tmp_path / "pid"), "-a", "127.0.0.1",
                   "--port", port)  # fmt: skip
    assert done.returncode == 71
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_without_d_and_a_the_defaults_are_announced(tmp_path: Path) -> None:
    done = run("-D", "-d", "/nonexistent", "-P", str(tmp_path / "pid"), "--port=0")
    assert "netdumpd: default: listening on all interfaces\n" in done.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (ROOT / "packaging" / "systemd" / "netdumpd.service").read_text()
    assert "ExecStart=/usr/local/bin/netdumpd -D " in unit
    # verify checks that the program exists: point it at the installed script
    local = tmp_path / "netdumpd.service"
    local.write_text(unit.replace("/usr/local/bin/netdumpd", script("netdumpd")))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(local)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_rc_script_parses_and_names_the_reference_variables() -> None:
    rc = ROOT / "packaging" / "freebsd" / "rc.d" / "netdumpd"
    assert os.access(rc, os.X_OK)
    done = subprocess.run(["sh", "-n", str(rc)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    text = rc.read_text()
    for needle in ('rcvar="netdumpd_enable"', 'netdumpd_enable:="NO"', "/var/run/netdumpd.pid"):
        assert needle in text
