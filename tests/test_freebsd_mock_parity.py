"""The file-backed emulation and the FreeBSD backend get byte-identical set requests.

Each command line runs once against MockKernel (wrapped in a recorder) and once against
FreeBSDKernel on the recording OS layer (amd64 layout, the one the emulation speaks).  The
mock's Ethernet check is monkeypatched to accept `vtnet0`, so no interface is created.
The wrapped key's address differs between the runs, so that field is compared as "set".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from dumpon.kernel import abi
from dumpon.kernel.abi import DataModel
from dumpon.kernel.arch import Platform
from dumpon.kernel.emulation import kernel as mock
from dumpon.kernel.emulation.kernel import MockKernel
from tests.freebsd_support import KEYPTR_OFFSET, NETDUMP_ARGS, Dumpon, RecordingOS
from tests.support import block_device


class RecordingKernel:
    """Any Kernel, with the set requests it is handed recorded on the way."""

    def __init__(self, inner: MockKernel) -> None:
        self.inner = inner
        self.sets: list[bytes] = []

    @property
    def abi(self) -> DataModel:
        return self.inner.abi

    def open(self, path: str) -> int:
        return self.inner.open(path)

    def close(self, fd: int) -> None:
        self.inner.close(fd)

    def ioctl(self, fd: int, request: int, arg: bytearray) -> None:
        if request == self.abi.DIOCSKERNELDUMP:
            self.sets.append(bytes(arg))
        self.inner.ioctl(fd, request, arg)

    def sysctl(self, name: str) -> bytes:
        return self.inner.sysctl(name)

    def record(self, target: str, facts: Mapping[str, object]) -> None:
        self.inner.record(target, facts)


def _comparable(raw: bytes) -> bytes:
    """The request with a non-zero key address replaced by a marker."""
    end = KEYPTR_OFFSET + 8
    pointer = raw[KEYPTR_OFFSET:end]
    return raw[:KEYPTR_OFFSET] + (b"SET-PTR!" if any(pointer) else pointer) + raw[end:]


@pytest.fixture
def dumpon(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Dumpon:
    monkeypatch.setattr(mock, "_is_ethernet", lambda iface: iface == "vtnet0")
    return Dumpon(monkeypatch, capsys)


def _both(dumpon: Dumpon, tmp_path: Path, argv: list[str]) -> tuple[list[bytes], list[bytes]]:
    emulated = RecordingKernel(MockKernel(str(tmp_path / "kernel.json")))
    dumpon.on_kernel(emulated, argv)
    system = RecordingOS(abi.AMD64)
    dumpon(system, argv, Platform("amd64", abi.AMD64))
    real = [call.arg for call in system.calls if call.request == abi.AMD64.DIOCSKERNELDUMP]
    return [_comparable(raw) for raw in emulated.sets], [_comparable(raw) for raw in real]


@pytest.mark.parametrize(
    "argv",
    [
        NETDUMP_ARGS,
        ["-Z", "-i", "0", *NETDUMP_ARGS],
        ["-z", "-v", *NETDUMP_ARGS],
        ["-k", "/etc/dump.pem", *NETDUMP_ARGS],
        ["-k", "/etc/dump.pem", "-C", "aes-cbc", *NETDUMP_ARGS],
        ["-r", *NETDUMP_ARGS],
        ["off"],
        ["-v", "off"],
    ],
    ids=" ".join,
)
def test_netdump_and_off(dumpon: Dumpon, tmp_path: Path, argv: list[str]) -> None:
    emulated, real = _both(dumpon, tmp_path, argv)
    assert emulated == real
    assert emulated  # the command did reach the set ioctl


@pytest.mark.parametrize("flags", [["-z"], ["-i", "0", "-Z"], ["-r", "-z"]], ids=" ".join)
def test_disk(dumpon: Dumpon, tmp_path: Path, flags: list[str]) -> None:
    emulated, real = _both(dumpon, tmp_path, [*flags, block_device()])
    assert emulated == real
    assert emulated
