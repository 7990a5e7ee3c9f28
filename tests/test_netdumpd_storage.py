"""DumpFiles.write_core: a run of payloads lands back to back, even after a short write."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dumpon.server.slots import claim
from dumpon.server.storage import DumpFiles


@pytest.fixture
def files(tmp_path: Path) -> Iterator[DumpFiles]:
    dir_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    claimed = claim(dir_fd, "client", 4, False)
    dump = DumpFiles(dir_fd, ".", claimed.names, claimed.info_fd)
    yield dump
    dump.close()
    os.close(dir_fd)


def _parts(count: int, size: int) -> tuple[list[memoryview], bytes]:
    pieces = [bytes([index]) * size for index in range(count)]
    return [memoryview(piece) for piece in pieces], b"".join(pieces)


def test_parts_land_back_to_back_at_the_offset(files: DumpFiles, tmp_path: Path) -> None:
    parts, joined = _parts(46, 1448)
    files.write_core(4096, parts)
    content = (tmp_path / files.core_name).read_bytes()
    assert content == bytes(4096) + joined


def test_a_short_write_is_completed(
    files: DumpFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pwritev(2) may write less than asked (a signal, a nearly full disk): the rest follows."""
    real_pwrite = os.pwrite

    def short_pwritev(fd: int, buffers: list[memoryview], offset: int) -> int:
        # writes the first part and half of the second, as a short pwritev would
        first, second = buffers[0], buffers[1]
        written = real_pwrite(fd, first, offset)
        return written + real_pwrite(fd, second[: len(second) // 2], offset + written)

    monkeypatch.setattr(os, "pwritev", short_pwritev)
    parts, joined = _parts(5, 1000)
    files.write_core(0, parts)
    assert (tmp_path / files.core_name).read_bytes() == joined
