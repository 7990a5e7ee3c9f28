"""A file-backed emulation of the FreeBSD 13+ kernel's dump configuration.

It is handed the same packed ioctl arguments as the real kernel, decodes them with the
shared ABI module and applies the kernel's rules (kern_shutdown.c, netdump_client.c,
geom_dev.c, null.c): the ordered dumper list, one netdump configuration, interface and
argument checks with the kernel's errno values, and the sysctls dumpon reads.

Emulated devices: /dev/netdump, /dev/null, and any block device that exists on this host
(its name without /dev/ becomes the dumper's name).  Other host files open (or fail to
open) as they really do; a dump ioctl on them gets ENOTTY, as a non-disk device would.
"""

from __future__ import annotations

import base64
import errno
import os
import stat
from collections.abc import Mapping
from typing import Any, TypedDict

from dumpon import inet
from dumpon.errors import strerror
from dumpon.kernel import abi
from dumpon.kernel.abi import DataModel, DumpArg, DumpArg12
from dumpon.kernel.base import PATH_DEV, PATH_DEVNULL, PATH_NETDUMP
from dumpon.kernel.emulation.statefile import State, StateFile

STATE_KIND = "dumpon-mock-kernel"
STATE_VERSION = 1
OSRELDATE = 1500023  # a 15-CURRENT kernel: the ABI this emulation implements
ARPHRD_ETHER = 1  # Linux's link type for Ethernet, standing in for IFT_ETHER

COMPRESSION_NAMES = {abi.COMP_NONE: "none", abi.COMP_GZIP: "gzip", abi.COMP_ZSTD: "zstd"}
ENCRYPTION_NAMES = {
    abi.ENC_NONE: "none",
    abi.ENC_AES_256_CBC: "aes-256-cbc",
    abi.ENC_CHACHA20: "chacha20",
}
# Writable netdump sysctls with FreeBSD's defaults (netdump_client.c, debugnet.c); a
# "sysctl" object in the state file overrides them, e.g. {"net.netdump.retries": 20}.
TUNABLE_DEFAULTS: dict[str, str | int] = {
    "net.netdump.path": "",
    "net.netdump.polls": 2000,
    "net.netdump.retries": 10,
    "net.netdump.arp_retries": 3,
}
TUNABLE_ALIASES = {  # 13+: the netdump names are aliases of debugnet's
    "net.debugnet.npolls": "net.netdump.polls",
    "net.debugnet.nretries": "net.netdump.retries",
    "net.debugnet.arp_nretries": "net.netdump.arp_retries",
}
# Kernel options, all present by default; tests turn some off to reach the kernel's errors.
DEFAULT_FEATURES = {"netdump": True, "ekcd": True, "gzio": True, "zstdio": True}


def empty_state() -> State:
    return {
        "format": STATE_KIND,
        "version": STATE_VERSION,
        "dumpers": [],
        "netdump": None,
        "facts": {},
    }


class _Device:
    def __init__(self, kind: str, name: str, host_path: str | None = None) -> None:
        self.kind = kind  # "netdump", "null", "disk" or "other"
        self.name = name
        self.host_path = host_path


class MockKernel:
    """The emulated kernel; its whole state lives in one JSON file."""

    def __init__(self, state_path: str) -> None:
        self.state = StateFile(state_path, STATE_KIND, STATE_VERSION, empty_state)
        self._fds: dict[int, _Device] = {}
        self._next_fd = 3

    @property
    def abi(self) -> DataModel:
        return abi.AMD64

    # --- system calls -------------------------------------------------------------------

    def open(self, path: str) -> int:
        if path == PATH_NETDUMP:
            if not self._features(self.state.read())["netdump"]:
                raise OSError(errno.ENOENT, strerror(errno.ENOENT), path)
            device = _Device("netdump", "netdump")
        elif path == PATH_DEVNULL:
            device = _Device("null", "null")
        else:
            device = self._open_host_device(path)
        fd, self._next_fd = self._next_fd, self._next_fd + 1
        self._fds[fd] = device
        return fd

    def close(self, fd: int) -> None:
        self._device(fd)
        del self._fds[fd]

    def ioctl(self, fd: int, request: int, arg: bytearray) -> None:
        device = self._device(fd)
        model = self.abi
        if device.kind == "netdump" and request == model.DIOCGKERNELDUMP:
            arg[:] = self._get_netdump(self.state.read())
            return
        if device.kind == "disk" and request == model.DIOCGMEDIASIZE:
            arg[:] = _media_size(device.host_path or "").to_bytes(8, "little")
            return
        if request != model.DIOCSKERNELDUMP or device.kind == "other":
            raise _oserror(errno.ENOTTY)
        request_arg = model.unpack(arg)
        with self.state.update() as state:
            if device.kind == "null":
                state["dumpers"] = []
                _unconfigure_netdump(state)
            elif device.kind == "netdump":
                self._set_netdump(state, request_arg)
            else:
                self._set_disk(state, device.name, request_arg)
            names = {entry["name"] for entry in state["dumpers"]}
            state["facts"] = {k: v for k, v in state["facts"].items() if k in names}

    def sysctl(self, name: str) -> bytes:
        state = self.state.read()
        overrides = state.get("sysctl", {})
        name = TUNABLE_ALIASES.get(name, name)
        if name in overrides:
            return _sysctl_bytes(overrides[name])
        if name == "kern.shutdown.dumpdevname":
            return ",".join(d["name"] for d in state["dumpers"]).encode() + b"\0"
        if name == "kern.osreldate":
            return _sysctl_bytes(OSRELDATE)
        if name == "debug.minidump":
            return _sysctl_bytes(1)
        if name == "hw.physmem":
            return _sysctl_bytes(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        if name == "net.netdump.enabled":
            return _sysctl_bytes(int(state["netdump"] is not None))
        if name in TUNABLE_DEFAULTS:
            return _sysctl_bytes(TUNABLE_DEFAULTS[name])
        if name.startswith("kern.features."):
            feature = name.removeprefix("kern.features.")
            if self._features(state).get(feature):
                return _sysctl_bytes(1)
        raise _oserror(errno.ENOENT)

    def record(self, target: str, facts: Mapping[str, object]) -> None:
        with self.state.update() as state:
            if any(entry["name"] == target for entry in state["dumpers"]):
                state["facts"].setdefault(target, {}).update(facts)

    def target_details(self) -> list[dict[str, object]]:
        state = self.state.read()
        return [_details(entry, state["facts"]) for entry in state["dumpers"]]

    # --- the kernel's rules -------------------------------------------------------------

    def _set_netdump(self, state: State, arg: DumpArg) -> None:
        if arg.af != abi.AF_INET:
            raise _oserror(errno.EPROTONOSUPPORT)
        if arg.index in (abi.KDA_REMOVE, abi.KDA_REMOVE_DEV, abi.KDA_REMOVE_ALL):
            _unconfigure_netdump(state)
            if arg.index == abi.KDA_REMOVE_ALL:
                state["dumpers"] = []
            return
        iface = arg.iface.decode("utf-8", "surrogateescape")
        if not _is_ethernet(iface):
            raise _oserror(errno.ENODEV)
        entry = self._new_dumper(state, iface, arg)
        state["netdump"] = {
            "iface": iface,
            "server": inet.ntoa(arg.server[:4]),
            "client": inet.ntoa(arg.client[:4]),
            "gateway": inet.ntoa(arg.gateway[:4]),
            "af": arg.af,
        }
        _insert(state, arg.index, entry)

    def _set_disk(self, state: State, name: str, arg: DumpArg) -> None:
        if arg.index in (abi.KDA_REMOVE, abi.KDA_REMOVE_DEV, abi.KDA_REMOVE_ALL):
            _remove(state, name, arg)
            return
        _insert(state, arg.index, self._new_dumper(state, name, arg))

    def _new_dumper(self, state: State, name: str, arg: DumpArg) -> dict[str, Any]:
        """dumper_create(): the checks every new entry passes, in the kernel's order."""
        features = self._features(state)
        compression, encryption = _settings(arg)
        entry: dict[str, Any] = {"name": name, "compression": compression, "encryption": encryption}
        if arg.encryption != abi.ENC_NONE:
            if not 0 < arg.encrypted_key_size <= abi.ENCKEY_MAX_SIZE:
                raise _oserror(errno.EINVAL)
            if not features["ekcd"]:
                raise _oserror(errno.EOPNOTSUPP)
            if arg.encryption not in (abi.ENC_AES_256_CBC, abi.ENC_CHACHA20):
                raise _oserror(errno.EINVAL)
            entry["encrypted_key"] = base64.b64encode(_copyin(arg)).decode()
        if arg.compression != abi.COMP_NONE:
            if arg.encryption == abi.ENC_AES_256_CBC:
                raise _oserror(errno.EOPNOTSUPP)
            available = {abi.COMP_GZIP: features["gzio"], abi.COMP_ZSTD: features["zstdio"]}
            if not available.get(arg.compression, False):
                raise _oserror(errno.EINVAL)
        return entry

    def _get_netdump(self, state: State) -> bytearray:
        config = state["netdump"]
        if config is None:
            raise _oserror(errno.ENXIO)
        return self.abi.pack(DumpArg(**stored_addresses(config), af=config["af"]))

    # --- helpers ------------------------------------------------------------------------

    def _device(self, fd: int) -> _Device:
        try:
            return self._fds[fd]
        except KeyError:
            raise _oserror(errno.EBADF) from None

    def _open_host_device(self, path: str) -> _Device:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
        kind = "disk" if stat.S_ISBLK(mode) else "other"
        return _Device(kind, path.removeprefix(PATH_DEV), host_path=path)

    @staticmethod
    def _features(state: State) -> dict[str, bool]:
        return {**DEFAULT_FEATURES, **state.get("features", {})}


def _details(entry: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, object]:
    """A stored target as target_details() shows it: settings and facts, never key bytes."""
    shown = {key: value for key, value in entry.items() if key != "encrypted_key"}
    return {**shown, **facts.get(entry["name"], {})}


class PackedAddresses(TypedDict):
    iface: bytes
    server: bytes
    client: bytes
    gateway: bytes


def stored_addresses(config: Mapping[str, str]) -> PackedAddresses:
    """A stored netdump configuration's interface and IPv4 addresses, as the structs hold them."""
    return {
        "iface": config["iface"].encode("utf-8", "surrogateescape"),
        "server": inet.parse_packed(config["server"]),
        "client": inet.parse_packed(config["client"]),
        "gateway": inet.parse_packed(config["gateway"]),
    }


def _insert(state: State, index: int, entry: dict[str, Any]) -> None:
    """dumper_insert(): before the index-th entry, or at the tail when the list is shorter."""
    dumpers: list[dict[str, Any]] = state["dumpers"]
    dumpers.insert(min(index, len(dumpers)), entry)


def _remove(state: State, name: str, arg: DumpArg) -> None:
    """dumper_remove(): ENOENT only when a KDA_REMOVE (name + settings) matched nothing."""

    def matches(entry: dict[str, Any]) -> bool:
        if arg.index == abi.KDA_REMOVE_ALL:
            return True
        if entry["name"] != name:
            return False
        if arg.index == abi.KDA_REMOVE_DEV:
            return True
        compression, encryption = _settings(arg)
        return bool(entry["compression"] == compression and entry["encryption"] == encryption)

    kept = [entry for entry in state["dumpers"] if not matches(entry)]
    if len(kept) == len(state["dumpers"]) and arg.index == abi.KDA_REMOVE:
        raise _oserror(errno.ENOENT)
    state["dumpers"] = kept


def _settings(arg: DumpArg | DumpArg12) -> tuple[str, str]:
    """The compression and cipher names an entry is stored (and matched for removal) under."""
    return (
        COMPRESSION_NAMES.get(arg.compression, str(arg.compression)),
        ENCRYPTION_NAMES.get(arg.encryption, str(arg.encryption)),
    )


def _unconfigure_netdump(state: State) -> None:
    """netdump_unconfigure(): forget the configuration and its interface's list entries."""
    config = state["netdump"]
    if config is not None:
        state["dumpers"] = [d for d in state["dumpers"] if d["name"] != config["iface"]]
    state["netdump"] = None


def _copyin(arg: DumpArg | DumpArg12) -> bytes:
    """copyin(9) of the wrapped key: read it from the caller's memory, as the kernel does."""
    if arg.encrypted_key_ptr == 0:
        raise _oserror(errno.EFAULT)
    import ctypes  # only a request that carries a key needs it

    return ctypes.string_at(arg.encrypted_key_ptr, arg.encrypted_key_size)


def _is_ethernet(iface: str) -> bool:
    """The kernel accepts an existing Ethernet interface (drivers are not emulated)."""
    if not iface or "/" in iface or iface in (".", ".."):
        return False
    try:
        with open(f"/sys/class/net/{iface}/type", encoding="ascii") as link_type:
            return int(link_type.read()) == ARPHRD_ETHER
    except (OSError, ValueError):
        return False


def _media_size(path: str) -> int:
    import fcntl

    blkgetsize64 = 0x80081272
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        raw = fcntl.ioctl(fd, blkgetsize64, bytes(8))
    finally:
        os.close(fd)
    return int.from_bytes(raw, "little")


def _sysctl_bytes(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode() + b"\0"
    if isinstance(value, bool) or not isinstance(value, int):
        raise _oserror(errno.EINVAL)
    size = 4 if -(2**31) <= value < 2**31 else 8
    return value.to_bytes(size, "little", signed=True)


def _oserror(code: int) -> OSError:
    return OSError(code, strerror(code))
