"""The FreeBSD backend's OS layer on any host: sysctl(3) through ctypes, and fcntl.ioctl.

libc's sysctlbyname() and sysctl() are replaced by ctypes callbacks with FreeBSD's
semantics, so the real pointer and size plumbing runs here on Linux.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from collections.abc import Iterator
from typing import TypeAlias

import pytest

from dumpon.errors import Exit, ToolError
from dumpon.kernel import sysctl as sysctl_module
from dumpon.kernel.freebsd import RealOS, open_freebsd_kernel
from dumpon.kernel.sysctl import Sysctl, SysctlByName, SysctlMib

VALUES = {
    b"kern.osreldate": (1402000).to_bytes(4, "little"),
    b"kern.shutdown.dumpdevname": b"vtnet0,ada0p3\0",
    b"hw.physmem": (8 << 30).to_bytes(8, "little"),
    b"debug.minidump": (1).to_bytes(4, "little"),
    b"kern.features.ekcd": (1).to_bytes(4, "little"),
}
SizePointer: TypeAlias = "ctypes._Pointer[ctypes.c_size_t]"
MIB_VALUES = {(4, 18, 0, 2, 3, 3): b"em0\0"}


class FakeLibc:
    """sysctlbyname() and sysctl() over fixed tables, with FreeBSD's size protocol."""

    def __init__(self) -> None:
        self.values = dict(VALUES)
        self.grow_once: bytes | None = None  # a value that grows after the size query
        self.mibs: list[tuple[int, ...]] = []
        self.by_name = SysctlByName(self._by_name)
        self.by_mib = SysctlMib(self._by_mib)

    def _by_name(
        self, name: bytes, old: int | None, oldlenp: SizePointer, new: int | None, newlen: int
    ) -> int:
        if name not in self.values:
            ctypes.set_errno(errno.ENOENT)
            return -1
        value = self.values[name]
        if old is not None and name == self.grow_once:
            self.grow_once = None
            self.values[name] = value = value[:-1] + b",da0\0"
        return _answer(value, old, oldlenp)

    def _by_mib(
        self,
        name: ctypes._Pointer[ctypes.c_int],
        namelen: int,
        old: int | None,
        oldlenp: SizePointer,
        new: int | None,
        newlen: int,
    ) -> int:
        mib = tuple(name[i] for i in range(namelen))
        self.mibs.append(mib)
        if mib not in MIB_VALUES:
            ctypes.set_errno(errno.ENOENT)
            return -1
        return _answer(MIB_VALUES[mib], old, oldlenp)


def _answer(value: bytes, old: int | None, size: SizePointer) -> int:
    if old is None:
        size[0] = len(value)
        return 0
    if size[0] < len(value):
        ctypes.set_errno(errno.ENOMEM)
        return -1
    ctypes.memmove(old, value, len(value))
    size[0] = len(value)
    return 0


@pytest.fixture
def libc() -> FakeLibc:
    return FakeLibc()


@pytest.fixture
def reader(libc: FakeLibc) -> Sysctl:
    return Sysctl(libc.by_name, libc.by_mib)


def test_integers_and_strings_come_back_raw(reader: Sysctl) -> None:
    assert int.from_bytes(reader.read("kern.osreldate"), "little") == 1402000
    assert reader.read("kern.shutdown.dumpdevname") == b"vtnet0,ada0p3\0"
    assert int.from_bytes(reader.read("hw.physmem"), "little") == 8 << 30
    assert reader.read("kern.features.ekcd") == (1).to_bytes(4, "little")


def test_missing_sysctl_is_enoent(reader: Sysctl) -> None:
    with pytest.raises(OSError) as error:
        reader.read("kern.features.netdump")
    assert error.value.errno == errno.ENOENT
    assert error.value.strerror == os.strerror(errno.ENOENT)


def test_value_growing_between_size_query_and_read_is_retried(
    libc: FakeLibc, reader: Sysctl
) -> None:
    libc.grow_once = b"kern.shutdown.dumpdevname"
    assert reader.read("kern.shutdown.dumpdevname") == b"vtnet0,ada0p3,da0\0"


def test_drivername_is_read_through_the_numeric_mib(libc: FakeLibc, reader: Sysctl) -> None:
    assert reader.read("net.link.generic.ifdata.3.drivername") == b"em0\0"
    assert libc.mibs == [(4, 18, 0, 2, 3, 3)] * 2  # the size query, then the read
    with pytest.raises(OSError) as error:
        reader.read("net.link.generic.ifdata.9.drivername")
    assert error.value.errno == errno.ENOENT


def test_ioctl_passes_the_argument_in_place_and_copies_the_answer_back(
    reader: Sysctl,
) -> None:
    """FIONREAD (Linux's number) writes an int back, as DIOCGKERNELDUMP writes the struct."""
    if not sys.platform.startswith("linux"):
        pytest.skip("uses Linux's FIONREAD number")
    fionread = 0x541B
    layer = RealOS(reader)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"12345")
        arg = bytearray(4)
        layer.ioctl(read_end, fionread, arg)
        assert int.from_bytes(arg, sys.byteorder) == 5
    finally:
        os.close(read_end)
        os.close(write_end)


def test_ioctl_errors_are_oserror_with_the_errno(reader: Sysctl) -> None:
    layer = RealOS(reader)
    fd = layer.open(os.devnull)
    try:
        with pytest.raises(OSError) as error:
            layer.ioctl(fd, 0x80986491, bytearray(152))
        assert error.value.errno == errno.ENOTTY
    finally:
        layer.close(fd)
    with pytest.raises(OSError) as missing:
        layer.open("/dev/netdump-does-not-exist")
    assert missing.value.errno == errno.ENOENT


@pytest.fixture
def _linux_libc() -> Iterator[None]:
    if sys.platform.startswith("freebsd"):
        pytest.skip("libc has sysctlbyname() here")
    yield


@pytest.mark.usefixtures("_linux_libc")
def test_libc_without_sysctlbyname_is_enosys() -> None:
    with pytest.raises(OSError) as error:
        sysctl_module.Sysctl.from_libc()
    assert error.value.errno == errno.ENOSYS


@pytest.mark.usefixtures("_linux_libc")
def test_backend_refuses_to_run_off_freebsd() -> None:
    with pytest.raises(ToolError) as error:
        open_freebsd_kernel()
    assert error.value.exit_code == Exit.UNAVAILABLE
    assert "needs FreeBSD" in error.value.message
