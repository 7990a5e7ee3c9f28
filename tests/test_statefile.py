"""The mock kernel's state file: atomic, locked, versioned, never overwritten when bad."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import block_device, run, script


def dumpon(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [script("dumpon"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "DUMPON_BACKEND": f"file:{state}"},
        check=False,
    )


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "new" / "dir" / "kernel.json"


def test_created_private(state: Path) -> None:
    disk = block_device()
    assert dumpon(state, disk).returncode == 0
    assert state.stat().st_mode & 0o777 == 0o600
    assert state.parent.stat().st_mode & 0o777 == 0o700
    data = json.loads(state.read_text())
    assert (data["format"], data["version"]) == ("dumpon-mock-kernel", 1)
    assert state.read_text().startswith("{\n  ")  # indented: meant to be read by people


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "corrupt state file"),
        ('{"format": "dumpon-mock-kernel", "version": 99}', "is newer than this program's 1"),
        ('{"format": "something-else", "version": 1}', "not a dumpon-mock-kernel state file"),
        ('{"format": "dumpon-mock-kernel", "version": "1"}', "corrupt state file"),
        ("[]", "not a dumpon-mock-kernel state file"),
    ],
)
def test_bad_state_is_reported_and_kept(state: Path, content: str, reason: str) -> None:
    state.parent.mkdir(parents=True)
    state.write_text(content)
    for args in (["-l"], ["off"]):
        result = dumpon(state, *args)
        assert result.returncode == 72
        assert result.stderr.startswith(f"dumpon: {state}: ") and reason in result.stderr
        assert result.stderr.count("\n") == 1
        assert state.read_text() == content


def test_unreadable_state(state: Path) -> None:
    state.mkdir(parents=True)  # a directory where the file should be: unreadable for anyone
    result = dumpon(state, "-l")
    expected = f"dumpon: {state}: a directory, not a regular file; refused\n"
    assert (result.returncode, result.stderr) == (72, expected)


def test_concurrent_writers_lose_nothing(state: Path) -> None:
    disk = block_device()
    count = 24
    procs = [
        subprocess.Popen(
            [script("dumpon"), "-z" if i % 2 else "-Z", disk],
            env={**os.environ, "DUMPON_BACKEND": f"file:{state}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(count)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    dumpers = json.loads(state.read_text())["dumpers"]
    assert len(dumpers) == count
    assert sorted(d["compression"] for d in dumpers) == ["gzip"] * 12 + ["zstd"] * 12


KILL_BEFORE_RENAME = """
import os, signal, sys
real_rename = os.rename
def rename(src, dst, **dir_fds):
    if dst.endswith("kernel.json"):
        os.kill(os.getpid(), signal.SIGKILL)  # after the new state is written and synced
    real_rename(src, dst, **dir_fds)
os.rename = rename
sys.argv = ["dumpon"] + sys.argv[1:]
from dumpon.cli.dumpon import main
main()
"""


def test_killed_writer_leaves_previous_state(state: Path) -> None:
    disk = block_device()
    assert dumpon(state, disk).returncode == 0
    before = state.read_text()
    killed = subprocess.run(
        [sys.executable, "-c", KILL_BEFORE_RENAME, "-z", disk],
        capture_output=True,
        env={**os.environ, "DUMPON_BACKEND": f"file:{state}"},
        timeout=30,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    assert state.read_text() == before
    # the lock died with the process; the next writer goes ahead
    assert dumpon(state, "-Z", disk).returncode == 0
    assert len(json.loads(state.read_text())["dumpers"]) == 2


def test_killed_at_random_points_always_leaves_valid_state(state: Path) -> None:
    disk = block_device()
    env = {**os.environ, "DUMPON_BACKEND": f"file:{state}"}
    import random
    import time

    rng = random.Random(7)
    for _ in range(15):
        proc = subprocess.Popen(
            [script("dumpon"), "-z", disk],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.0, 0.12))
        proc.kill()
        proc.wait(timeout=10)
        if state.exists():
            data = json.loads(state.read_text())
            assert all(d["name"] == disk for d in data["dumpers"])
    assert run([script("dumpon"), "-l"], env=env).returncode == 0
