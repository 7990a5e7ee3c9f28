"""A recording FreeBSD system for the backend's tests, and a way to run `dumpon` against it.

`RecordingOS` is the FreeBSD backend's OS layer: it records every open, close, ioctl
(number and argument bytes) and sysctl, answers sysctls from a table and ioctls with
scripted errnos and replies, and reads the wrapped key through the user pointer in a set
request while the ioctl is in progress, as the kernel's copyin(9) would.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from dumpon.cli.dumpon import main
from dumpon.crypto import ekcd
from dumpon.kernel import abi, select
from dumpon.kernel.abi import DataModel, DumpArg, DumpArg12, NetdumpConf
from dumpon.kernel.arch import Platform
from dumpon.kernel.base import Kernel
from dumpon.kernel.freebsd import FreeBSDKernel
from dumpon.netinfo import path as netpath

OSRELDATE_15 = 1500023
OSRELDATE_12 = 1202000
PLATFORMS_13 = [
    Platform("amd64", abi.LP64),
    Platform("i386", abi.ILP32),
    Platform("powerpc64", abi.LP64_BE),
]
PLATFORMS_12 = [Platform("amd64", abi.LP64), Platform("i386", abi.ILP32)]

SERVER, CLIENT, GATEWAY = "192.0.2.1", "192.0.2.10", "192.0.2.254"
NETDUMP_ARGS = ["-s", SERVER, "-c", CLIENT, "-g", GATEWAY, "vtnet0"]
ONE_TIME_KEY = bytes(range(1, 65))
WRAPPED_KEY = bytes(range(256))
PUBLIC_KEY_PEM = b"-----BEGIN PUBLIC KEY-----\nfake\n-----END PUBLIC KEY-----\n"
# Where the wrapped key's size and address sit in all three set structs (kernel-abi.md).
KEYSIZE_OFFSET, KEYPTR_OFFSET = 68, 72


# FreeBSD's strerror(3) texts (lib/libc/gen/errlst.c) for the errnos these tests script;
# dumpon prints them on every OS, where glibc would say "Device or resource busy" etc.
FREEBSD_STRERROR = {
    errno.ENOENT: "No such file or directory",
    errno.ENXIO: "Device not configured",
    errno.EPERM: "Operation not permitted",
    errno.EACCES: "Permission denied",
    errno.EBUSY: "Device busy",
    errno.EINVAL: "Invalid argument",
    errno.ENODEV: "Operation not supported by device",
    errno.ENOTTY: "Inappropriate ioctl for device",
    errno.EOPNOTSUPP: "Operation not supported",
    errno.EPROTONOSUPPORT: "Protocol not supported",
}


def ip(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


@dataclass(frozen=True)
class Call:
    op: str  # open, close, ioctl or sysctl
    name: str  # the path, or the sysctl's name
    request: int = 0
    arg: bytes = b""


class RecordingOS:
    """A scripted FreeBSD system."""

    def __init__(self, model: DataModel, osreldate: int = OSRELDATE_15) -> None:
        self.model = model
        self.sysctls: dict[str, bytes] = {
            "kern.osreldate": self.integer(osreldate),
            "debug.minidump": self.integer(1),
            "hw.physmem": self.integer(1 << 30, model.pointer_size),
            "kern.shutdown.dumpdevname": b"\0",
        }
        self.open_errors: dict[str, int] = {}
        self.ioctl_errors: dict[tuple[str, int], list[int]] = {}
        self.replies: dict[int, bytes] = {}
        self.calls: list[Call] = []
        self.user_keys: list[bytes] = []
        self._fds: dict[int, str] = {}
        self._next_fd = 3

    def integer(self, value: int, size: int = 4) -> bytes:
        return value.to_bytes(size, "big" if self.model.byteorder == ">" else "little")

    def fail(self, path: str, request: int, *codes: int) -> None:
        """Answer the next calls of `request` on `path` with these errnos (0: success)."""
        self.ioctl_errors[(path, request)] = list(codes)

    def open(self, path: str) -> int:
        self.calls.append(Call("open", path))
        if path in self.open_errors:
            code = self.open_errors[path]
            raise OSError(code, os.strerror(code), path)
        fd, self._next_fd = self._next_fd, self._next_fd + 1
        self._fds[fd] = path
        return fd

    def close(self, fd: int) -> None:
        self.calls.append(Call("close", self._fds.pop(fd)))

    def ioctl(self, fd: int, request: int, arg: bytearray) -> None:
        path = self._fds[fd]
        self.calls.append(Call("ioctl", path, request, bytes(arg)))
        self._copyin_key(request, arg)
        codes = self.ioctl_errors.get((path, request))
        if codes:
            code = codes.pop(0)
            if code:
                raise OSError(code, os.strerror(code))
        if request in self.replies:
            arg[:] = self.replies[request]

    def sysctl(self, name: str) -> bytes:
        self.calls.append(Call("sysctl", name))
        if name not in self.sysctls:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
        return self.sysctls[name]

    def _copyin_key(self, request: int, arg: bytearray) -> None:
        model = self.model
        if request not in (
            model.DIOCSKERNELDUMP,
            model.DIOCSKERNELDUMP_FREEBSD12,
            model.NETDUMPSCONF,
        ):
            return
        order: Literal["big", "little"] = "big" if model.byteorder == ">" else "little"
        size = int.from_bytes(arg[KEYSIZE_OFFSET : KEYSIZE_OFFSET + 4], order)
        pointer = int.from_bytes(arg[KEYPTR_OFFSET : KEYPTR_OFFSET + model.pointer_size], order)
        if pointer and model.pointer_size == ctypes.sizeof(ctypes.c_void_p):
            self.user_keys.append(ctypes.string_at(pointer, size))


# --- expected calls ---------------------------------------------------------------------


def opened(path: str, *inner: Call) -> list[Call]:
    return [Call("open", path), *inner, Call("close", path)]


def sysctl(name: str) -> Call:
    return Call("sysctl", name)


def set13(model: DataModel, path: str, **fields: object) -> Call:
    request = DumpArg(**fields)  # type: ignore[arg-type]
    return Call("ioctl", path, model.DIOCSKERNELDUMP, bytes(model.pack(request)))


def set12(model: DataModel, path: str, **fields: object) -> Call:
    request = DumpArg12(**fields)  # type: ignore[arg-type]
    return Call("ioctl", path, model.DIOCSKERNELDUMP_FREEBSD12, bytes(model.pack_kda12(request)))


def netdump_conf12(model: DataModel, **kda: object) -> Call:
    conf = NetdumpConf(
        kda=DumpArg12(**kda),  # type: ignore[arg-type]
        iface=b"vtnet0",
        server=ip(SERVER),
        client=ip(CLIENT),
        gateway=ip(GATEWAY),
    )
    return Call("ioctl", "/dev/netdump", model.NETDUMPSCONF, bytes(model.pack_netdump_conf(conf)))


def netdump13(**fields: object) -> dict[str, Any]:
    """The fields of a 13+ netdump request for NETDUMP_ARGS."""
    return {
        "iface": b"vtnet0",
        "server": ip(SERVER),
        "client": ip(CLIENT),
        "gateway": ip(GATEWAY),
        "af": abi.AF_INET,
        **fields,
    }


# --- running dumpon ---------------------------------------------------------------------


@dataclass
class Outcome:
    status: int
    out: str
    err: str
    calls: list[Call] = field(default_factory=list)


@dataclass
class FakeEkcd:
    """Stands in for dumpon.crypto.ekcd.wrap_dump_key: a fixed key, and the calls it got."""

    calls: list[tuple[str, int, int, str]] = field(default_factory=list)
    handed_out: list[ekcd.WrappedKey] = field(default_factory=list)

    def wrap_dump_key(
        self, pubkey_path: str, cipher: int, compression: int, padding: str = "oaep"
    ) -> ekcd.WrappedKey:
        self.calls.append((pubkey_path, cipher, compression, padding))
        wrapped = ekcd.WrappedKey(
            cipher or abi.ENC_CHACHA20, bytearray(ONE_TIME_KEY), WRAPPED_KEY, PUBLIC_KEY_PEM
        )
        self.handed_out.append(wrapped)
        return wrapped


class Dumpon:
    """Runs the `dumpon` command line against a given kernel, as a user would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.ekcd = FakeEkcd()
        monkeypatch.setattr(ekcd, "wrap_dump_key", self.ekcd.wrap_dump_key)
        # Link checks after a successful netdump set look at this host's interfaces.
        monkeypatch.setattr(netpath, "preflight", lambda *args, **kwargs: netpath.Preflight())

    def on_kernel(self, kernel: Kernel, argv: Sequence[str]) -> Outcome:
        self.monkeypatch.setattr(select, "open_kernel", lambda spec: kernel)
        self.monkeypatch.setattr(sys, "argv", ["dumpon", *argv])
        with pytest.raises(SystemExit) as done:
            main()
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return Outcome(int(done.value.code or 0), out, err)

    def __call__(
        self, system: RecordingOS, argv: Sequence[str], platform: Platform | None = None
    ) -> Outcome:
        platform = platform or Platform("test", system.model)
        if system.model.pointer_size < ctypes.sizeof(ctypes.c_void_p):
            # The key buffer's address as a 32-bit process would have it.
            self.monkeypatch.setattr(ctypes, "addressof", lambda obj: 0x0804A000)
        outcome = self.on_kernel(FreeBSDKernel(system, platform), argv)
        outcome.calls = list(system.calls)
        return outcome
