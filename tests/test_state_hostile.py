"""The state file against a hostile local user: planted files, odd file types, full disks."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Result, block_device, run, script

NOBODY = 65534
requires_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root, to plant files as another user (nobody)"
)


def dumpon(state: Path, *args: str, timeout: float = 30) -> Result:
    return run([script("dumpon"), *args], env={"DUMPON_BACKEND": f"file:{state}"}, timeout=timeout)


def as_nobody(*argv: str) -> None:
    """Run a command as the unprivileged user nobody (the planter)."""
    subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *argv],
        check=True,
        timeout=10,
    )


@pytest.fixture
def sticky() -> Iterator[Path]:
    """A world-writable sticky directory, as /tmp, that nobody can reach."""
    directory = Path(tempfile.mkdtemp(prefix="dumpon-sticky-", dir="/tmp"))
    directory.chmod(0o1777)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of root's that a planted link points at."""
    path = tmp_path / "victim"
    path.write_text("precious\n")
    return path


def assert_state_is_ours(state: Path) -> None:
    info = state.lstat()
    assert stat.S_ISREG(info.st_mode)
    assert (info.st_uid, stat.S_IMODE(info.st_mode), info.st_nlink) == (os.geteuid(), 0o600, 1)
    json.loads(state.read_text())


@requires_root
@pytest.mark.parametrize("planted", ["symlink", "file"])
def test_planted_temporary_is_neither_followed_nor_reused(
    sticky: Path, victim: Path, planted: str
) -> None:
    state = sticky / "kernel.json"
    for name in ("kernel.json.tmp", ".kernel.json.tmp"):
        if planted == "symlink":
            as_nobody("ln", "-s", str(victim), str(sticky / name))
        else:
            as_nobody("sh", "-c", f"echo mine > '{sticky / name}'")
    disk = block_device()
    assert dumpon(state, disk).returncode == 0
    assert dumpon(state, "-z", disk).returncode == 0
    assert victim.read_text() == "precious\n"
    assert_state_is_ours(state)
    for name in ("kernel.json.tmp", ".kernel.json.tmp"):
        left = (sticky / name).lstat()
        assert left.st_uid == NOBODY
        assert stat.S_ISLNK(left.st_mode) == (planted == "symlink")
    assert dumpon(state, "-l").stdout == f"{disk},{disk}\n"


@requires_root
def test_planted_lock_symlink_is_refused(sticky: Path, tmp_path: Path) -> None:
    state = sticky / "kernel.json"
    pointed = tmp_path / "created-by-root"
    as_nobody("ln", "-s", str(pointed), str(sticky / "kernel.json.lock"))
    result = dumpon(state, block_device())
    assert result.returncode == 72
    assert result.stderr == (
        f"dumpon: {sticky}/kernel.json.lock: a symbolic link, not a regular file; refused\n"
    )
    assert not pointed.exists()
    assert not state.exists()


@requires_root
def test_planted_lock_file_of_another_user_is_refused(sticky: Path) -> None:
    state = sticky / "kernel.json"
    as_nobody("touch", str(sticky / "kernel.json.lock"))
    result = dumpon(state, "off")
    assert result.returncode == 72
    assert result.stderr == (
        f"dumpon: {sticky}/kernel.json.lock: owned by uid {NOBODY}, not by you; refused\n"
    )
    assert not state.exists()


@requires_root
def test_planted_state_file_of_another_user_is_refused(sticky: Path) -> None:
    state = sticky / "kernel.json"
    content = json.dumps(
        {"format": "dumpon-mock-kernel", "version": 1, "dumpers": [], "netdump": None}
    )
    as_nobody("sh", "-c", f"printf '%s' '{content}' > '{state}'")
    for args in (["-l"], ["off"]):
        result = dumpon(state, *args)
        assert result.returncode == 72
        assert result.stderr == f"dumpon: {state}: owned by uid {NOBODY}, not by you; refused\n"
        assert state.read_text() == content
        assert state.stat().st_uid == NOBODY


# --- a state path that is not a regular file: refused at once, never read -----------------


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    state = tmp_path / "kernel.json"
    os.mkfifo(state)
    for args in (["-l"], ["off"]):
        result = dumpon(state, *args, timeout=5)
        assert result.returncode == 72
        assert result.stderr == f"dumpon: {state}: a FIFO, not a regular file; refused\n"
    assert stat.S_ISFIFO(state.lstat().st_mode)


def test_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "kernel.json"
    state.symlink_to("/dev/zero")
    for args in (["-l"], ["off"]):
        result = dumpon(state, *args, timeout=5)
        assert result.returncode == 72
        assert result.stderr == (f"dumpon: {state}: a symbolic link, not a regular file; refused\n")
    assert os.readlink(state) == "/dev/zero"


def test_device_is_refused() -> None:
    result = dumpon(Path("/dev/zero"), "-l", timeout=5)
    assert (result.returncode, result.stderr) == (
        72,
        "dumpon: /dev/zero: a character device, not a regular file; refused\n",
    )


def test_huge_file_is_refused_unread(tmp_path: Path) -> None:
    from dumpon.kernel.emulation.statefile import MAX_SIZE

    state = tmp_path / "kernel.json"
    with state.open("wb") as f:
        f.truncate(MAX_SIZE + 1)
    result = dumpon(state, "-l")
    assert result.returncode == 72
    assert (
        result.stderr == f"dumpon: {state}: larger than {MAX_SIZE} bytes; refused, left untouched\n"
    )
    assert state.stat().st_size == MAX_SIZE + 1


def test_deep_nesting_is_corrupt(tmp_path: Path) -> None:
    state = tmp_path / "kernel.json"
    depth = 200_000
    content = (
        '{"format": "dumpon-mock-kernel", "version": 1, "netdump": null, "dumpers": '
        + "[" * depth
        + "]" * depth
        + "}"
    )
    state.write_text(content)
    result = dumpon(state, "-l")
    assert result.returncode == 72
    assert "corrupt state file" in result.stderr and result.stderr.count("\n") == 1
    assert state.read_text() == content


# --- all or nothing ---------------------------------------------------------------------------


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mountpoint)], check=True
    )
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(directory: Path) -> None:
    with (directory / "filler").open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def test_configure_with_a_key_on_a_full_disk_changes_nothing(
    small_filesystem: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    assert run([script("netdump"), "keygen", "-b", "2048", "-o", str(keys)]).returncode == 0
    state = small_filesystem / "kernel.json"
    disk = block_device()
    assert dumpon(state, "-z", disk).returncode == 0
    before = state.read_bytes()
    listed = dumpon(state, "-lv").stdout
    fill(small_filesystem)

    result = dumpon(state, "-k", str(keys / "public.pem"), "-C", "chacha20", disk)
    assert result.returncode == 72
    assert result.stderr == f"dumpon: {state}: No space left on device; nothing was changed\n"
    assert state.read_bytes() == before
    assert dumpon(state, "-lv").stdout == listed
    assert sorted(p.name for p in small_filesystem.iterdir()) == [
        "filler",
        "kernel.json",
        "kernel.json.lock",
    ]
