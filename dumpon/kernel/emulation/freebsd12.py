"""The file backend as a FreeBSD 12.x kernel: one global dumper, netdump through NETDUMPSCONF.

The emulation is a 15-CURRENT kernel (dumpon/kernel/emulation/kernel.py) until a 12.x
request reaches it while nothing is configured through the current interface.  From then
on it is a 12.x kernel: kern.osreldate reads 1202000 (so dumpon picks the 12.x flow
without --abi), and requests of the current interface get a 12.x kernel's answers while
a 12.x dumper is set; once none is, the next such request turns it back into a current
kernel, as a reboot into one would.  The rules are stable/12's, from the same packed bytes:

- set_dumper() (kern_shutdown.c): EBUSY while any dumper is set, so every change must
  disable first; encryption is AES-256-CBC only, never with compression (EOPNOTSUPP).
- geom_dev.c: DIOCSKERNELDUMP with kda_enable 0 clears the dumper, whoever set it.
- null.c: DIOCSKERNELDUMP clears the dumper, whatever the argument.
- netdump_client.c: DIOCSKERNELDUMP accepts only a zero first u_int (else ENXIO) and only
  marks netdump disabled, without clearing the dumper; NETDUMPSCONF with kda_enable 0
  clears netdump's dumper; otherwise the interface must exist (ENOENT), be up (ENXIO) and
  be Ethernet (EINVAL), and the configuration is kept even when set_dumper() then fails;
  NETDUMPGCONF is ENXIO while netdump is disabled; any other request is EINVAL.

State: the member "freebsd12" of the state file, {"dumper": null or {"name",
"compression", "encryption"[, "encrypted_key"]}, "netdump": null or {"iface", "server",
"client", "gateway", "enabled"}}; absent while the kernel is a current one.
"""

from __future__ import annotations

import base64
import errno
from typing import Any

from dumpon import changes, inet
from dumpon.kernel import abi
from dumpon.kernel.abi import DumpArg12, NetdumpConf
from dumpon.kernel.emulation.kernel import (
    MockKernel,
    _copyin,
    _details,
    _oserror,
    _settings,
    stored_addresses,
)
from dumpon.kernel.emulation.statefile import State

OSRELDATE_12 = 1202000  # 12.2-RELEASE
IFF_UP = 0x1
ARPHRD_ETHER = 1
STATE_KEY = "freebsd12"


class EmulatedKernel(MockKernel):
    """The file backend's kernel: the current interface, or 12.x's once that configures it."""

    def ioctl(self, fd: int, request: int, arg: bytearray) -> None:
        device = self._device(fd)
        model = self.abi
        if request in (model.DIOCSKERNELDUMP_FREEBSD12, model.NETDUMPSCONF, model.NETDUMPGCONF):
            self._ioctl12(device.kind, device.name, request, arg)
            return
        current = request in (model.DIOCSKERNELDUMP, model.DIOCGKERNELDUMP)
        state = self.state.read()
        if state.get(STATE_KEY) is not None:
            if current and _dumper12(state) is None:
                with self.state.update() as changing:
                    changing[STATE_KEY] = None  # nothing left: boot a current kernel
            elif device.kind == "netdump":
                raise _oserror(errno.EINVAL)  # 12.x netdump_ioctl(): any other request
            elif current:
                raise _oserror(errno.ENOTTY)  # unknown to 12.x's GEOM and null devices
        super().ioctl(fd, request, arg)

    def sysctl(self, name: str) -> bytes:
        state = self.state.read()
        kernel12 = state.get(STATE_KEY)
        if kernel12 is None or name in state.get("sysctl", {}):
            return super().sysctl(name)
        dumper = kernel12["dumper"]
        netdump = kernel12["netdump"]
        if name == "kern.osreldate":
            return _int_bytes(OSRELDATE_12)
        if name == "kern.shutdown.dumpdevname":
            return (dumper["name"] if dumper else "").encode("utf-8", "surrogateescape") + b"\0"
        if name == "net.netdump.enabled":
            return _int_bytes(int(bool(netdump and netdump["enabled"])))
        return super().sysctl(name)

    def target_details(self) -> list[dict[str, object]]:
        state = self.state.read()
        if state.get(STATE_KEY) is None:
            return super().target_details()
        dumper = _dumper12(state)
        return [] if dumper is None else [_details(dumper, state["facts"])]

    # --- 12.x requests ------------------------------------------------------------------

    def _ioctl12(self, kind: str, name: str, request: int, arg: bytearray) -> None:
        model = self.abi
        state = self.state.read()
        if state.get(STATE_KEY) is None and (state["dumpers"] or state["netdump"]):
            raise _oserror(errno.ENOTTY)  # configured as a current kernel: no 12.x compat
        if request == model.NETDUMPGCONF:
            if kind != "netdump":
                raise _oserror(errno.ENOTTY)
            arg[:] = self._get_netdump12(_kernel12(state))
            return
        if kind == "other" or (kind != "netdump" and request != model.DIOCSKERNELDUMP_FREEBSD12):
            raise _oserror(errno.ENOTTY)
        # A failed request may still change the kernel (NETDUMPSCONF keeps the new
        # configuration when set_dumper() fails), so the state is written either way.
        error: OSError | None = None
        with self.state.update() as changing:
            if changing[STATE_KEY] is None:  # the state file's schema fills in null
                changing[STATE_KEY] = {"dumper": None, "netdump": None}
            kernel12 = changing[STATE_KEY]
            try:
                self._apply12(changing, kernel12, kind, name, request, arg)
            except OSError as exc:
                error = exc
        changes.applied("configuration was applied")  # written even when the request failed
        if error is not None:
            raise error

    def _apply12(
        self,
        state: State,
        kernel12: dict[str, Any],
        kind: str,
        name: str,
        request: int,
        arg: bytearray,
    ) -> None:
        model = self.abi
        if kind == "null":
            kernel12["dumper"] = None
        elif kind == "disk":
            request12 = model.unpack_kda12(arg)
            if request12.enable:
                key = _copy_key(request12)
                kernel12["dumper"] = self._new_dumper12(state, name, request12, key)
            else:
                kernel12["dumper"] = None
        elif request == model.NETDUMPSCONF:
            self._set_netdump12(state, kernel12, model.unpack_netdump_conf(arg))
        elif request == model.DIOCSKERNELDUMP_FREEBSD12:
            if any(arg[:4]):  # the first u_int is not 0, whatever the byte order
                raise _oserror(errno.ENXIO)
            if kernel12["netdump"] is not None:
                kernel12["netdump"]["enabled"] = False
        else:
            raise _oserror(errno.EINVAL)

    def _set_netdump12(self, state: State, kernel12: dict[str, Any], conf: NetdumpConf) -> None:
        netdump = kernel12["netdump"]
        if not conf.kda.enable:
            if netdump is not None and netdump["enabled"]:
                kernel12["dumper"] = None
                netdump["enabled"] = False
            return
        iface = conf.iface.decode("utf-8", "surrogateescape")
        _check_interface(iface)
        netdump = kernel12["netdump"] = {
            "iface": iface,
            "server": inet.ntoa(conf.server),
            "client": inet.ntoa(conf.client),
            "gateway": inet.ntoa(conf.gateway),
            "enabled": True,
        }
        key = _copy_key(conf.kda)  # its errors leave netdump enabled, as in stable/12
        try:
            kernel12["dumper"] = self._new_dumper12(state, iface, conf.kda, key)
        except OSError:
            netdump["enabled"] = False
            raise

    def _new_dumper12(
        self, state: State, name: str, request: DumpArg12, key: dict[str, str]
    ) -> dict[str, Any]:
        """set_dumper(): the single dumper, or EBUSY while one is set."""
        if state[STATE_KEY]["dumper"] is not None:
            raise _oserror(errno.EBUSY)
        features = state["features"]
        if request.encryption != abi.ENC_NONE:
            if not features["ekcd"]:
                raise _oserror(errno.EOPNOTSUPP)
            if request.encryption != abi.ENC_AES_256_CBC:  # 12.x has no ChaCha20
                raise _oserror(errno.EINVAL)
        if request.compression != abi.COMP_NONE:
            if request.encryption != abi.ENC_NONE:
                raise _oserror(errno.EOPNOTSUPP)
            available = {abi.COMP_GZIP: features["gzio"], abi.COMP_ZSTD: features["zstdio"]}
            if not available.get(request.compression, False):
                raise _oserror(errno.EINVAL)
        compression, encryption = _settings(request)
        return {"name": name, "compression": compression, "encryption": encryption, **key}

    def _get_netdump12(self, kernel12: dict[str, Any]) -> bytearray:
        netdump = kernel12["netdump"]
        if not (netdump and netdump["enabled"]):
            raise _oserror(errno.ENXIO)
        return self.abi.pack_netdump_conf(NetdumpConf(**stored_addresses(netdump)))


def _copy_key(request: DumpArg12) -> dict[str, str]:
    """The wrapped key's size check and copyin(9), done before set_dumper() is called."""
    if request.encryption == abi.ENC_NONE:
        return {}
    if not 0 < request.encrypted_key_size <= abi.ENCKEY_MAX_SIZE:
        raise _oserror(errno.EINVAL)
    return {"encrypted_key": base64.b64encode(_copyin(request)).decode()}


def _kernel12(state: State) -> dict[str, Any]:
    found: dict[str, Any] = state.get(STATE_KEY) or {"dumper": None, "netdump": None}
    return found


def _dumper12(state: State) -> dict[str, Any] | None:
    dumper: dict[str, Any] | None = _kernel12(state)["dumper"]
    return dumper


def _check_interface(iface: str) -> None:
    """netdump_configure(): ENOENT unknown, ENXIO not up, EINVAL not Ethernet (this host's)."""
    if not iface or "/" in iface or iface in (".", ".."):
        raise _oserror(errno.ENOENT)
    try:
        with open(f"/sys/class/net/{iface}/flags", encoding="ascii") as flags_file:
            flags = int(flags_file.read(), 16)
        with open(f"/sys/class/net/{iface}/type", encoding="ascii") as type_file:
            link_type = int(type_file.read())
    except (OSError, ValueError):
        raise _oserror(errno.ENOENT) from None
    if not flags & IFF_UP:
        raise _oserror(errno.ENXIO)
    if link_type != ARPHRD_ETHER:
        raise _oserror(errno.EINVAL)


def _int_bytes(value: int) -> bytes:
    return value.to_bytes(4, "little", signed=True)
