"""The real FreeBSD kernel: ioctl(2) on device nodes and sysctl(3) through libc.

`FreeBSDKernel` adds the platform's struct layouts to an OS layer that makes the four
system calls; `RealOS` is that layer on FreeBSD, and tests hand in a recording one.
Arguments arrive packed by dumpon/kernel/abi.py, exactly as the file-backed emulation
receives them.
"""

from __future__ import annotations

import fcntl
import os
import sys
from typing import Protocol

from dumpon.errors import Exit, ToolError, os_error_text
from dumpon.kernel.abi import DataModel
from dumpon.kernel.arch import Platform, host_platform
from dumpon.kernel.base import Kernel
from dumpon.kernel.sysctl import Sysctl

# CPython's fcntl.ioctl() copies a mutable argument of up to 1024 bytes through a C stack
# buffer that it never clears, but passes a longer one in place.  Set requests carry the
# plaintext one-time key, so they go through a longer buffer that is wiped afterwards.
_IN_PLACE_SIZE = 1025


class OSLayer(Protocol):
    """The system calls the backend makes; errors are OSError with the kernel's errno."""

    def open(self, path: str) -> int: ...

    def close(self, fd: int) -> None: ...

    def ioctl(self, fd: int, request: int, arg: bytearray) -> None: ...

    def sysctl(self, name: str) -> bytes: ...


class RealOS:
    """The running FreeBSD system."""

    def __init__(self, sysctl: Sysctl) -> None:
        self._sysctl = sysctl

    def open(self, path: str) -> int:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # dumpon(8) opens read-only

    def close(self, fd: int) -> None:
        os.close(fd)

    def ioctl(self, fd: int, request: int, arg: bytearray) -> None:
        size = len(arg)
        buffer = bytearray(max(size, _IN_PLACE_SIZE))
        buffer[:size] = arg
        try:
            fcntl.ioctl(fd, request, buffer, True)
            arg[:] = memoryview(buffer)[:size]
        finally:
            buffer[:] = bytes(len(buffer))

    def sysctl(self, name: str) -> bytes:
        return self._sysctl.read(name)


class FreeBSDKernel:
    """A FreeBSD kernel reached through `os_layer`, speaking `platform`'s struct layouts."""

    def __init__(self, os_layer: OSLayer, platform: Platform) -> None:
        self._os = os_layer
        self._platform = platform

    @property
    def abi(self) -> DataModel:
        return self._platform.model

    def open(self, path: str) -> int:
        return self._os.open(path)

    def close(self, fd: int) -> None:
        self._os.close(fd)

    def ioctl(self, fd: int, request: int, arg: bytearray) -> None:
        self._os.ioctl(fd, request, arg)

    def sysctl(self, name: str) -> bytes:
        return self._os.sysctl(name)


def open_freebsd_kernel() -> Kernel:
    """The running kernel; a ToolError off FreeBSD or on an unknown platform."""
    if not sys.platform.startswith("freebsd"):
        raise ToolError(
            f"the freebsd backend needs FreeBSD (this is {sys.platform}); "
            "use --backend file:PATH for the emulation",
            Exit.UNAVAILABLE,
        )
    platform = host_platform()
    try:
        sysctl = Sysctl.from_libc()
    except OSError as exc:
        raise ToolError(
            f"libc has no sysctlbyname(): {os_error_text(exc)}", Exit.UNAVAILABLE
        ) from None
    return FreeBSDKernel(RealOS(sysctl), platform)
