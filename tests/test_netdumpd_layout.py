"""netdumpd's file layout, without the network: containment, index choice, names, info."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dumpon.server import beneath, info
from dumpon.server.names import DumpNames, host_label
from dumpon.server.slots import NoFreeIndex, claim


@pytest.fixture
def root(tmp_path: Path) -> Path:
    top = tmp_path / "crash"
    (top / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (top / "sub" / "inner").symlink_to("deeper")
    (top / "escape").symlink_to("../outside")
    (top / "absolute").symlink_to(str(tmp_path / "outside"))
    (top / "loop").symlink_to("loop")
    (top / "file").write_text("")
    return top


def _open(root: Path, path: bytes) -> Path:
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = beneath.open_directory(root_fd, path)
    finally:
        os.close(root_fd)
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("path", "expected"),
    [(b"sub", "sub"), (b"./sub//deeper/", "sub/deeper"), (b"sub/inner", "sub/deeper"), (b".", "")],
)
def test_paths_beneath_the_dump_directory_open(root: Path, path: bytes, expected: str) -> None:
    assert _open(root, path) == root / expected


@pytest.mark.parametrize(
    "path",
    [
        b"../outside",
        b"sub/../../outside",
        b"/tmp",
        b"escape",
        b"absolute",
        b"loop",
        b"file",
        b"missing",
        b"sub/inner/..",
    ],
)
def test_paths_that_leave_or_do_not_exist_fail(root: Path, path: bytes) -> None:
    with pytest.raises(OSError):
        _open(root, path)


@given(st.binary(max_size=64))
def test_no_path_resolves_outside(path: bytes) -> None:
    root = Path("/proc/self/cwd").resolve()
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = beneath.open_directory(root_fd, path.replace(b"\0", b""))
    except (OSError, ValueError):
        return
    finally:
        os.close(root_fd)
    try:
        opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
    finally:
        os.close(fd)
    assert opened == root or root in opened.parents


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("db1.example.org", "db1"),
        (None, "192.0.2.7"),
        ("../../etc", "192.0.2.7"),
        ("a/b.example", "192.0.2.7"),
        ("x" * 64, "192.0.2.7"),
        ("-lead", "192.0.2.7"),
        ("host\n.example", "192.0.2.7"),
        ("", "192.0.2.7"),
    ],
)
def test_host_names_are_sanitised(name: str | None, expected: str) -> None:
    assert host_label(name, "192.0.2.7") == expected


def _claim(root: Path, max_dumps: int = 3, rotate: bool = False) -> int:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        claimed = claim(fd, "h", max_dumps, rotate)
        os.close(claimed.info_fd)
        return claimed.names.index
    finally:
        os.close(fd)


def test_indices_follow_the_bounds_file_and_fill_gaps(tmp_path: Path) -> None:
    assert [_claim(tmp_path) for _ in range(3)] == [0, 1, 2]
    assert (tmp_path / "bounds.h").read_text() == "0\n"
    with pytest.raises(NoFreeIndex):
        _claim(tmp_path)
    (tmp_path / "info.h.1").unlink()
    assert _claim(tmp_path) == 1
    (tmp_path / "bounds.h").write_text("garbage")
    (tmp_path / "info.h.2").unlink()
    assert _claim(tmp_path) == 2


def test_rotation_replaces_the_oldest_dump(tmp_path: Path) -> None:
    for index in range(3):
        _claim(tmp_path)
        (tmp_path / f"vmcore.h.{index}").write_text("core")
        os.utime(tmp_path / f"info.h.{index}", (1000 + index, 1000 + index))
    (tmp_path / "vmcore_encrypted.h.1.zst").write_text("")
    (tmp_path / "key.h.1").write_text("")
    os.utime(tmp_path / "info.h.1", (10, 10))
    assert _claim(tmp_path, rotate=True) == 1
    assert not (tmp_path / "vmcore.h.1").exists()
    assert not (tmp_path / "key.h.1").exists()
    assert not (tmp_path / "vmcore_encrypted.h.1.zst").exists()
    assert (tmp_path / "info.h.1").stat().st_size == 0


def test_a_planted_bounds_fifo_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "bounds.h")
    assert _claim(tmp_path) == 0


def test_core_names_follow_the_header() -> None:
    names = DumpNames("h", 3)
    assert names.core() == "vmcore.h.3"
    assert names.core(True, 2) == "vmcore_encrypted.h.3.zst"
    assert names.core(False, 1) == "vmcore.h.3.gz"
    assert names.core(False, 3) == "vmcore.h.3"  # unknown compression: no suffix


def test_header_strings_are_escaped() -> None:
    assert info.escape("ok text") == "ok text"
    assert info.escape("bad\nline\x1b[1m") == "bad\\x0aline\\x1b[1m"
    assert info.escape(b"\xff".decode("utf-8", "surrogateescape")) == "\\xff"


def test_holes_are_listed_with_a_bound() -> None:
    assert info.data_line(10, 10, []) == "  Data: complete, 10B\n"
    line = info.data_line(5, 10, [(5, 10)])
    assert line == "  Data: incomplete, 5B missing in 1 holes: 0x5-0xa\n"
    many = info.data_line(0, 10**6, [(i * 10, i * 10 + 1) for i in range(100)])
    assert "and 84 more" in many
