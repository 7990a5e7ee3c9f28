"""Which FreeBSD data model this process speaks to the kernel in.

The layout of a struct handed to ioctl(2) depends on the process's pointer width and
byte order, so the choice comes from uname -m (or MACHINE_ARCH), `struct.calcsize("P")`
and `sys.byteorder` together.  armv7 is ILP32 with 8-byte alignment for 64-bit types; the
dump structs have no 64-bit member, so its layout is i386's.
"""

from __future__ import annotations

import platform
import struct
import sys
from dataclasses import dataclass

from dumpon.errors import Exit, ToolError
from dumpon.kernel import abi

# FreeBSD's uname -m (MACHINE) for each MACHINE_ARCH spelling that shares its layout rules.
_MACHINE = {
    "amd64": "amd64",
    "arm64": "arm64",
    "aarch64": "arm64",
    "riscv": "riscv",
    "riscv64": "riscv",
    "powerpc": "powerpc",
    "powerpc64": "powerpc",
    "powerpc64le": "powerpc",
    "i386": "i386",
    "arm": "arm",
    "armv7": "arm",
}

# (MACHINE, pointer bytes, byte order) -> (MACHINE_ARCH, data model). A process whose
# width does not match its machine (32-bit Python on amd64) has no entry: the kernel
# would read the struct with its own native layout.
_PLATFORMS: dict[tuple[str, int, str], tuple[str, abi.DataModel]] = {
    ("amd64", 8, "little"): ("amd64", abi.LP64),
    ("arm64", 8, "little"): ("aarch64", abi.LP64),
    ("riscv", 8, "little"): ("riscv64", abi.LP64),
    ("powerpc", 8, "big"): ("powerpc64", abi.LP64_BE),
    ("powerpc", 8, "little"): ("powerpc64le", abi.LP64),
    ("i386", 4, "little"): ("i386", abi.ILP32),
    ("arm", 4, "little"): ("armv7", abi.ILP32),
}


@dataclass(frozen=True, slots=True)
class Platform:
    """A supported FreeBSD platform: its MACHINE_ARCH and the layout of its structs."""

    machine_arch: str
    model: abi.DataModel


def host_platform(
    machine: str | None = None,
    pointer_size: int | None = None,
    byteorder: str | None = None,
) -> Platform:
    """The platform this process runs on (arguments override the host's, for tests)."""
    machine = platform.machine() if machine is None else machine
    pointer_size = struct.calcsize("P") if pointer_size is None else pointer_size
    byteorder = sys.byteorder if byteorder is None else byteorder
    key = (_MACHINE.get(machine.lower(), ""), pointer_size, byteorder)
    if key not in _PLATFORMS:
        raise ToolError(
            f"no FreeBSD kernel ABI known for a {pointer_size * 8}-bit {byteorder}-endian "
            f"process on machine '{machine}' (supported: amd64, aarch64, riscv64, "
            "powerpc64, powerpc64le, i386, armv7)",
            Exit.UNAVAILABLE,
        )
    machine_arch, model = _PLATFORMS[key]
    return Platform(machine_arch, model)
