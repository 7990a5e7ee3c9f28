"""dumpon(8)'s work, in FreeBSD's order: check the request, build it, hand it to the kernel.

The order decides which error a user sees first, so it follows dumpon.c step by step
(see shared spec dumpon.md section 4).  Output goes through `Console` so that the command
line layer only prints.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, TextIO, TypeVar

from dumpon import inet
from dumpon.errors import Exit, ToolError, UsageError, gai_strerror, os_error_text, strerror
from dumpon.flows.listing import list_targets
from dumpon.kernel import abi
from dumpon.kernel.abi import DumpArg, DumpArg12
from dumpon.kernel.base import PATH_DEV, PATH_DEVNULL, PATH_MAX, PATH_NETDUMP, Kernel
from dumpon.options import DumponOptions

if TYPE_CHECKING:
    from dumpon.crypto.ekcd import Padding

R = TypeVar("R", DumpArg, DumpArg12)

OSRELDATE = "kern.osreldate"
FREEBSD13_OSRELDATE = 1300000


@dataclass(slots=True)
class Console:
    """Where dumpon's listing goes (stdout) and where its warnings go (warnx to stderr)."""

    out: TextIO
    warn: Callable[[str], None]


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
    if options.cipher != abi.ENC_NONE and options.pubkey is None:
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
            request = netdump_request(request, options, operand, console, _resolve_server)
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


def require_crypto() -> None:
    """dumpon built without OpenSSL refuses -k up front; here that is a missing package."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise ToolError(
            "Unable to use the public key. Install the 'cryptography' package.",
            Exit.UNAVAILABLE,
        ) from None


def netdump_request(
    request: DumpArg,
    options: DumponOptions,
    iface: str,
    console: Console,
    resolve: Callable[[str], str],
) -> DumpArg:
    """Step 12 of dumpon.md section 4; `resolve` reports resolver errors per version."""
    assert options.server is not None and options.client is not None
    server = resolve(options.server)
    if len(iface.encode("utf-8", "surrogateescape")) >= abi.IFNAMSIZ:
        raise ToolError(f"invalid interface name '{iface}'", Exit.USAGE)
    server_addr = parse_address(server, "server")
    client_addr = parse_address(options.client, "client")
    gateway = options.gateway
    if gateway is None:
        from dumpon.netinfo import path as netpath  # route lookups are only needed here

        gateway = netpath.find_gateway(iface, server)
        if gateway is None:
            if options.verbose:
                print(f"failed to look up gateway for {server}", file=console.out)
            gateway = server
    gateway_addr = parse_address(gateway, "gateway")
    return DumpArg(
        index=request.index,
        compression=request.compression,
        iface=iface.encode("utf-8", "surrogateescape"),
        server=server_addr,
        client=client_addr,
        gateway=gateway_addr,
        af=abi.AF_INET,
    )


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
    with user_key(options.pubkey, options.cipher, request.compression) as key:
        target = _set(kernel, fd, key.applied_to(request), options, netdump, console)
        kernel.record(target, {"public_key": key.public_key_pem.decode("ascii")})


@dataclass(frozen=True, slots=True)
class UserKey:
    """A one-time key as a set request carries it: in clear, and wrapped at a user address."""

    encryption: int
    key: bytearray  # the caller's buffer itself: wiped when the block ends
    size: int
    address: int
    public_key_pem: bytes

    def applied_to(self, request: R) -> R:
        """`request` (13+ DumpArg or 12.x DumpArg12: same field names) carrying this key."""
        return replace(
            request,
            encryption=self.encryption,
            key=self.key,
            encrypted_key_size=self.size,
            encrypted_key_ptr=self.address,
        )


@contextmanager
def user_key(
    pubkey: str, cipher: int, compression: int, padding: Padding = "oaep"
) -> Iterator[UserKey]:
    """Wrap a one-time key for the set ioctl; wipe every copy when the block ends."""
    from dumpon.crypto import ekcd

    wrapped = ekcd.wrap_dump_key(pubkey, cipher, compression, padding)
    # The kernel copies the wrapped key in from this address during the ioctl.
    key_buffer = ctypes.create_string_buffer(wrapped.wrapped, len(wrapped.wrapped))
    try:
        yield UserKey(
            encryption=wrapped.cipher,
            key=wrapped.key,
            size=len(wrapped.wrapped),
            address=ctypes.addressof(key_buffer),
            public_key_pem=wrapped.public_key_pem,
        )
    finally:
        ctypes.memset(key_buffer, 0, len(wrapped.wrapped))
        wrapped.wipe()


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
            server=socket.inet_ntoa(request.server[:4]),
            client=socket.inet_ntoa(request.client[:4]),
            gateway=socket.inet_ntoa(request.gateway[:4]),
        )
        for warning in check.warnings:
            console.warn(warning)
        if check.facts:
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


def device_path(device: str) -> str:
    path = device if device.startswith(PATH_DEV) else PATH_DEV + device
    if len(path.encode("utf-8", "surrogateescape")) >= PATH_MAX:
        raise ToolError(f"{device}: {strerror(errno.EINVAL)}", Exit.DATAERR)
    return path


@contextmanager
def opened(kernel: Kernel, path: str) -> Iterator[int]:
    try:
        fd = kernel.open(path)
    except OSError as exc:
        raise ToolError(f"{path}: {os_error_text(exc)}", Exit.OSFILE) from None
    try:
        yield fd
    finally:
        kernel.close(fd)


def check_size(kernel: Kernel, fd: int, path: str) -> None:
    """A full (not mini) dump must fit on the device; skipped when debug.minidump is 1."""
    try:
        if sysctl_int(kernel, "debug.minidump") == 1:
            return
    except OSError:
        pass
    try:
        physmem = sysctl_int(kernel, "hw.physmem", signed=False)  # an unsigned long
    except OSError as exc:
        raise ToolError(f"can't get memory size: {os_error_text(exc)}", Exit.OSERR) from None
    arg = bytearray(8)
    try:
        kernel.ioctl(fd, kernel.abi.DIOCGMEDIASIZE, arg)
    except OSError as exc:
        raise ToolError(f"{path}: can't get size: {os_error_text(exc)}", Exit.OSERR) from None
    if int.from_bytes(arg, _byteorder(kernel)) < physmem:
        raise ToolError(f"{path} is smaller than physical memory", Exit.IOERR)


def sysctl_int(kernel: Kernel, name: str, signed: bool = True) -> int:
    return int.from_bytes(kernel.sysctl(name), _byteorder(kernel), signed=signed)


def _byteorder(kernel: Kernel) -> Literal["little", "big"]:
    return "big" if kernel.abi.byteorder == ">" else "little"


def lookup_server(server: str) -> str:
    """getaddrinfo(AF_INET, UDP) and the first answer in dotted-quad form."""
    answers = socket.getaddrinfo(
        server, None, socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP
    )
    return str(answers[0][4][0])


def _resolve_server(server: str) -> str:
    try:
        return lookup_server(server)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_SYSTEM:
            raise ToolError(f"{gai_strerror(exc)}: {strerror(errno.EIO)}", Exit.OSERR) from None
        raise ToolError(gai_strerror(exc), Exit.NOHOST) from None
    except UnicodeError:
        raise ToolError(f"{server}: invalid host name", Exit.NOHOST) from None


def parse_address(text: str, role: str) -> bytes:
    try:
        return inet.parse_packed(text)
    except ValueError:
        raise ToolError(f"invalid {role} address '{text}'", Exit.USAGE) from None
