"""The system calls dumpon makes, as one seam: the real FreeBSD kernel or its emulation.

dumpon's logic (dumpon/flows/) only ever opens device nodes, issues ioctls with packed
arguments and reads sysctls, so a backend is exactly that set of calls.  Errors are
OSError with the errno the kernel would return.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from dumpon.kernel.abi import DataModel

PATH_NETDUMP = "/dev/netdump"
PATH_DEVNULL = "/dev/null"
PATH_DEV = "/dev/"
PATH_MAX = 1024  # FreeBSD's; dumpon's buffers for device paths and the target list


class Kernel(Protocol):
    """A FreeBSD kernel as dumpon sees it."""

    @property
    def abi(self) -> DataModel:
        """The data model the kernel's structures use (LP64 or ILP32, byte order)."""
        ...

    def open(self, path: str) -> int:
        """open(2) read-only; returns a descriptor for ioctl()."""
        ...

    def close(self, fd: int) -> None: ...

    def ioctl(self, fd: int, request: int, arg: bytearray) -> None:
        """ioctl(2); for in/out requests the kernel's answer is written back into `arg`."""
        ...

    def sysctl(self, name: str) -> bytes:
        """sysctlbyname(3) read of the raw value."""
        ...


@runtime_checkable
class TargetNotes(Protocol):
    """A backend that keeps user-space notes beside each configured target: the emulation
    (dumpon/kernel/emulation/kernel.py) does; a real kernel has nowhere to keep them."""

    def record(self, target: str, facts: Mapping[str, object]) -> None:
        """Note `facts` (the gateway MAC seen, the public key used) for `target`."""
        ...

    def target_details(self) -> list[dict[str, object]] | None:
        """Each dump target's settings (name, compression, encryption) and recorded facts,
        in priority order; None when the kernel cannot tell, as a real one cannot."""
        ...
