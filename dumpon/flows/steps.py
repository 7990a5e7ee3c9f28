"""The steps dumpon(8) takes in every version: dumpon/flows/dumpon13.py (13.0 and later)
and dumpon/flows/dumpon12.py (12.x) put them together in their own order."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Literal, NamedTuple, TextIO, TypeVar

from dumpon import inet
from dumpon.errors import Exit, ToolError, os_error_text, strerror
from dumpon.kernel import abi
from dumpon.kernel.abi import DumpArg, DumpArg12
from dumpon.kernel.base import PATH_DEV, PATH_MAX, Kernel
from dumpon.options import DumponOptions, GatewayAddress, Operand, ServerName

if TYPE_CHECKING:
    from dumpon.crypto.ekcd import Padding

R = TypeVar("R", DumpArg, DumpArg12)


class Console(NamedTuple):
    """Where dumpon's listing goes (stdout) and where its warnings go (warnx to stderr)."""

    out: TextIO
    warn: Callable[[str], None]


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
    iface: Operand,
    console: Console,
    resolve: Callable[[ServerName], str],
) -> DumpArg:
    """The netdump part of the set request, checked in dumpon.c's order: resolve the
    server, then the interface name, the server, client and gateway addresses, looking the
    gateway up first when -g is absent.  `resolve` reports resolver errors as the version
    being spoken does."""
    assert options.server is not None and options.client is not None
    server = resolve(options.server)
    iface_name = iface.interface_name()
    server_addr = inet.parse_option(server, "server")
    client_addr = options.client.packed()
    gateway = options.gateway
    if gateway is None:
        from dumpon.netinfo import path as netpath  # route lookups are only needed here

        found = netpath.find_gateway(iface, server)
        if found is None and options.verbose:
            print(f"failed to look up gateway for {server}", file=console.out)
        gateway = GatewayAddress(server if found is None else found)
    return DumpArg(
        index=request.index,
        compression=request.compression,
        iface=iface_name,
        server=server_addr,
        client=client_addr,
        gateway=gateway.packed(),
        af=abi.AF_INET,
    )


class UserKey(NamedTuple):
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
    import ctypes

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
