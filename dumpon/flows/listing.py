"""`dumpon -l`: the configured dump targets, and netdump's addresses with `-v`."""

from __future__ import annotations

import errno
from typing import TextIO

from dumpon import inet
from dumpon.errors import Exit, ToolError, os_error_text, strerror
from dumpon.kernel import abi
from dumpon.kernel.base import PATH_DEVNULL, PATH_MAX, PATH_NETDUMP, Kernel

DUMPDEVNAME = "kern.shutdown.dumpdevname"


def list_targets(kernel: Kernel, verbose: bool, out: TextIO) -> None:
    """`dumpon -l`: the dump targets in priority order; with -v also netdump's addresses."""
    value = read_dumpdevname(kernel)
    if not verbose:
        print(value, file=out)
        return
    print("kernel dumps on priority: device", file=out)
    for position, name in enumerate(value.split(",")):
        print(f"{position}: {name}", file=out)
    _print_netdump_addresses(kernel, out)


def read_dumpdevname(kernel: Kernel) -> str:
    """kern.shutdown.dumpdevname as dumpon shows it: `/dev/null` when nothing is set."""
    try:
        raw = kernel.sysctl(DUMPDEVNAME)
        if len(raw) > PATH_MAX:  # dumpon reads into a PATH_MAX buffer
            raise OSError(errno.ENOMEM, strerror(errno.ENOMEM))
    except OSError as exc:
        what = (
            f"Kernel returned too large of a buffer for '{DUMPDEVNAME}'"
            if exc.errno == errno.ENOMEM
            else f"Sysctl get '{DUMPDEVNAME}'"
        )
        raise ToolError(f"{what}: {os_error_text(exc)}", Exit.OSERR) from None
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape") or PATH_DEVNULL


def query_netdump(kernel: Kernel, request: int, size: int, name: str) -> bytearray | None:
    """A get ioctl on /dev/netdump; None without netdump (ENOENT) or unconfigured (ENXIO)."""
    try:
        fd = kernel.open(PATH_NETDUMP)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise ToolError(f"opening {PATH_NETDUMP}: {os_error_text(exc)}", Exit.OSERR) from None
    try:
        arg = bytearray(size)
        try:
            kernel.ioctl(fd, request, arg)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return None
            raise ToolError(f"ioctl({name}): {os_error_text(exc)}", Exit.OSERR) from None
    finally:
        kernel.close(fd)
    return arg


def _print_netdump_addresses(kernel: Kernel, out: TextIO) -> None:
    model = kernel.abi
    arg = query_netdump(kernel, model.DIOCGKERNELDUMP, model.kda_size, "DIOCGKERNELDUMP")
    if arg is None:
        return
    config = model.unpack(arg)
    for role, address in (
        ("server", config.server),
        ("client", config.client),
        ("gateway", config.gateway),
    ):
        print(f"{role} address: {_ntop(config.af, address)}", file=out)


def _ntop(af: int, address: bytes) -> str:
    freebsd_af_inet6 = 28
    if af == abi.AF_INET:
        return inet.ntoa(address)
    if af == freebsd_af_inet6:
        import socket  # only a kernel configured by another program holds an IPv6 server

        return socket.inet_ntop(socket.AF_INET6, address[:16])
    return "(null)"  # what printf makes of inet_ntop's NULL for an unknown family
