"""dumpon(8) as FreeBSD 13.0 and later have it: check the request, build it, hand it over.

The order decides which error a user sees first, so it follows main() in FreeBSD's
sbin/dumpon/dumpon.c step by step.  Output goes through `Console` so that the command
line layer only prints.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from dataclasses import replace

from dumpon import inet
from dumpon.errors import Exit, ToolError, UsageError, os_error_text, strerror
from dumpon.flows.listing import list_targets
from dumpon.flows.steps import (
    Console,
    check_size,
    device_path,
    netdump_request,
    opened,
    require_crypto,
    sysctl_int,
    user_key,
)
from dumpon.kernel import abi
from dumpon.kernel.abi import DumpArg
from dumpon.kernel.base import PATH_DEV, PATH_DEVNULL, PATH_NETDUMP, Kernel, TargetNotes
from dumpon.options import DumponOptions, ServerName

OSRELDATE = "kern.osreldate"
FREEBSD13_OSRELDATE = 1300000


def run(options: DumponOptions, open_kernel: Callable[[], Kernel], console: Console) -> None:
    """Carry out a parsed dumpon command line; raises ToolError on failure."""
    kernel_once = functools.cache(open_kernel)  # the ABI probe and the flow share one kernel
    if _speaks_freebsd12(options, kernel_once):
        from dumpon.flows.dumpon12 import run as run12

        run12(options, kernel_once(), console)
        return
    if options.gzip and options.zstd:
        raise ToolError("The -z and -Z options are mutually exclusive.", Exit.USAGE)
    if options.index is not None and options.remove:
        raise ToolError("The -i and -r options are mutually exclusive.", Exit.USAGE)
    if options.list_targets:
        if options.json:
            from dumpon.flows.listing_json import print_listing_json

            print_listing_json(kernel_once(), 13, console.out)
        else:
            list_targets(kernel_once(), options.verbose, console.out)
        return
    if len(options.operands) != 1:
        raise UsageError()
    if options.cipher is not None and options.pubkey is None:
        raise ToolError("-C option requires a public key file.", Exit.USAGE)
    if options.pubkey is not None:
        require_crypto()
    operand = options.operands[0]
    remove = options.remove
    if options.server is not None and options.client is not None:
        device, netdump = PATH_NETDUMP, True
    elif options.server is None and options.client is None:
        netdump = False
        if operand == "off":
            remove, device = True, PATH_DEVNULL
        else:
            device = operand
    else:
        raise UsageError()

    kernel = kernel_once()
    if device == PATH_DEVNULL:
        _clear_netdump(kernel)
    path = device_path(device)
    with opened(kernel, path) as fd:
        compression = abi.COMP_ZSTD if options.zstd else abi.COMP_GZIP if options.gzip else 0
        if not netdump and not compression and not remove:
            check_size(kernel, fd, path)
        index = (
            abi.KDA_REMOVE
            if remove
            else (abi.KDA_APPEND if options.index is None else options.index)
        )
        request = DumpArg(index=index, compression=compression)
        if netdump:
            request = netdump_request(request, options, operand, console, ServerName.resolve)
        _set_with_key(kernel, fd, request, options, netdump, console)
    if options.verbose:
        list_targets(kernel, True, console.out)


def _speaks_freebsd12(options: DumponOptions, open_kernel: Callable[[], Kernel]) -> bool:
    """Whether to speak the 12.x ABI: as --abi says, else as kern.osreldate says."""
    if options.abi_version is not None:
        return options.abi_version == 12
    try:
        return sysctl_int(open_kernel(), OSRELDATE) < FREEBSD13_OSRELDATE
    except (OSError, ToolError):
        # A backend that cannot be opened or read is reported by the flow below, at the
        # point where dumpon(8) first needs the kernel.
        return False


def _set_with_key(
    kernel: Kernel,
    fd: int,
    request: DumpArg,
    options: DumponOptions,
    netdump: bool,
    console: Console,
) -> None:
    """Wrap a one-time key if asked, issue the set ioctl, and wipe every key copy."""
    if options.pubkey is None:
        _set(kernel, fd, request, options, netdump, console)
        return
    cipher = abi.ENC_NONE if options.cipher is None else options.cipher  # ENC_NONE: the default
    with user_key(options.pubkey, cipher, request.compression) as key:
        target = _set(kernel, fd, key.applied_to(request), options, netdump, console)
        if isinstance(kernel, TargetNotes):
            kernel.record(target, {"public_key": key.public_key_pem.decode("ascii")})


def _set(
    kernel: Kernel,
    fd: int,
    request: DumpArg,
    options: DumponOptions,
    netdump: bool,
    console: Console,
) -> str:
    """The set ioctl with dumpon's compression retry; returns the configured target's name."""
    error = _ioctl_set(kernel, fd, request)
    if error == errno.EINVAL and request.compression != abi.COMP_NONE:
        error = _ioctl_set(kernel, fd, replace(request, compression=0))
        if error == 0:
            console.warn("Compression disabled; kernel may lack gzip or zstd support.")
    if error == errno.ENODEV and netdump:
        raise ToolError(
            "Unable to configure netdump because the interface driver does not yet "
            "support netdump.",
            Exit.OSERR,
        )
    if error != 0:
        raise ToolError(f"ioctl(DIOCSKERNELDUMP): {strerror(error)}", Exit.OSERR)
    if not netdump:
        return options.operands[0].removeprefix(PATH_DEV)
    iface = request.iface.decode("utf-8", "surrogateescape")
    if request.index != abi.KDA_REMOVE:
        from dumpon.netinfo import path as netpath

        check = netpath.preflight(
            iface,
            server=inet.ntoa(request.server[:4]),
            client=inet.ntoa(request.client[:4]),
            gateway=inet.ntoa(request.gateway[:4]),
        )
        for warning in check.warnings:
            console.warn(warning)
        if check.facts and isinstance(kernel, TargetNotes):
            kernel.record(iface, check.facts)
    return iface


def _ioctl_set(kernel: Kernel, fd: int, request: DumpArg) -> int:
    arg = kernel.abi.pack(request)
    try:
        kernel.ioctl(fd, kernel.abi.DIOCSKERNELDUMP, arg)
    except OSError as exc:
        return exc.errno or errno.EIO
    finally:
        arg[:] = bytes(len(arg))  # it held the plaintext one-time key
    return 0


def _clear_netdump(kernel: Kernel) -> None:
    """Current dumpon removes netdump's own configuration before /dev/null clears the list."""
    try:
        fd = kernel.open(PATH_NETDUMP)
    except OSError:
        return
    try:
        arg = kernel.abi.pack(DumpArg(index=abi.KDA_REMOVE_ALL, af=abi.AF_INET))
        kernel.ioctl(fd, kernel.abi.DIOCSKERNELDUMP, arg)
    except OSError as exc:
        raise ToolError(
            f"ioctl({PATH_NETDUMP}, DIOCSKERNELDUMP): {os_error_text(exc)}", Exit.FAILURE
        ) from None
    finally:
        kernel.close(fd)
