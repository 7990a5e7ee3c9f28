"""sysctl(3) reads through libc's sysctlbyname() and sysctl(), for the FreeBSD backend.

Values come back raw (strings keep their NUL, integers are in host byte order); callers
decode them.  Errors are OSError with the errno libc reported.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
from collections.abc import Callable

_SIZE_P = ctypes.POINTER(ctypes.c_size_t)
SysctlByName = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_char_p,  # name
    ctypes.c_void_p,  # oldp
    _SIZE_P,  # oldlenp
    ctypes.c_void_p,  # newp
    ctypes.c_size_t,  # newlen
    use_errno=True,
)
SysctlMib = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_int),  # name
    ctypes.c_uint,  # namelen
    ctypes.c_void_p,  # oldp
    _SIZE_P,  # oldlenp
    ctypes.c_void_p,  # newp
    ctypes.c_size_t,  # newlen
    use_errno=True,
)

# net.link.generic.ifdata is a handler node that reads the rest of the MIB as numbers, so
# the name form cannot be resolved by sysctlbyname(); it is read through the numeric MIB
# {CTL_NET, PF_LINK, NETLINK_GENERIC, IFMIB_IFDATA, <ifindex>, IFDATA_DRIVERNAME}.
_DRIVERNAME = re.compile(r"net\.link\.generic\.ifdata\.([0-9]+)\.drivername")
_DRIVERNAME_MIB = (4, 18, 0, 2, None, 3)
# A value may grow between the size query and the read; retry a few times, as libc does.
_ATTEMPTS = 4

# One sysctl call with the output buffer's address (None to ask for the size) and its size.
_Read = Callable[[int | None, "ctypes._Pointer[ctypes.c_size_t]"], int]


class Sysctl:
    """Reads sysctl values by name through the given libc entry points."""

    def __init__(self, by_name: Callable[..., int], by_mib: Callable[..., int]) -> None:
        """`by_name` and `by_mib` are libc's sysctlbyname() and sysctl() as ctypes functions
        (SysctlByName and SysctlMib prototypes)."""
        self._by_name = by_name
        self._by_mib = by_mib

    @classmethod
    def from_libc(cls) -> Sysctl:
        """The running system's libc; OSError(ENOSYS) where it has no sysctlbyname()."""
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        try:
            return cls(SysctlByName(("sysctlbyname", libc)), SysctlMib(("sysctl", libc)))
        except AttributeError:
            raise _oserror(errno.ENOSYS) from None

    def read(self, name: str) -> bytes:
        """The raw value of sysctl `name`."""
        match = _DRIVERNAME.fullmatch(name)
        if match is not None:
            mib = [int(match[1]) if part is None else part for part in _DRIVERNAME_MIB]
            return self.read_mib(mib)
        encoded = name.encode("utf-8", "surrogateescape")
        return _read(lambda old, size: self._by_name(encoded, old, size, None, 0))

    def read_mib(self, mib: list[int]) -> bytes:
        """The raw value at a numeric MIB."""
        name = (ctypes.c_int * len(mib))(*mib)
        return _read(lambda old, size: self._by_mib(name, len(mib), old, size, None, 0))


def _read(call: _Read) -> bytes:
    """Ask for the size, then read into a buffer of that size (a sysctl(3) idiom)."""
    for _ in range(_ATTEMPTS):
        size = ctypes.c_size_t(0)
        if call(None, ctypes.pointer(size)) != 0:
            raise _oserror(ctypes.get_errno())
        buffer = ctypes.create_string_buffer(size.value)
        if call(ctypes.addressof(buffer), ctypes.pointer(size)) == 0:
            return buffer.raw[: size.value]
        if ctypes.get_errno() != errno.ENOMEM:
            raise _oserror(ctypes.get_errno())
    raise _oserror(errno.ENOMEM)


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))
