"""What the kernel backend holds for netdump: the configured interface and addresses, the
cipher and public key (the emulation records them; a FreeBSD kernel keeps the key to
itself), and the tunables net.netdump.path, .polls, .retries and .arp_retries.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from dumpon.errors import Exit, ToolError, os_error_text
from dumpon.flows.listing import query_netdump
from dumpon.flows.steps import sysctl_int
from dumpon.kernel import abi
from dumpon.kernel.base import Kernel, TargetNotes
from dumpon.protocol.client import Tunables


@dataclass(frozen=True, slots=True)
class NetdumpConfig:
    """The kernel's netdump configuration (DIOCGKERNELDUMP) and what was recorded beside it."""

    iface: str
    server: str
    client: str
    gateway: str
    compression: int = abi.COMP_NONE
    cipher: int = abi.ENC_NONE
    public_key_pem: bytes | None = None


_COMPRESSION = {"none": abi.COMP_NONE, "gzip": abi.COMP_GZIP, "zstd": abi.COMP_ZSTD}
_CIPHERS = {"none": abi.ENC_NONE, "aes-256-cbc": abi.ENC_AES_256_CBC, "chacha20": abi.ENC_CHACHA20}


def read_config(kernel: Kernel) -> NetdumpConfig | None:
    """The configuration in force, or None when netdump is not configured."""
    model = kernel.abi
    raw = query_netdump(kernel, model.DIOCGKERNELDUMP, model.kda_size, "DIOCGKERNELDUMP")
    if raw is None:
        return None
    arg = model.unpack(raw)
    iface = arg.iface.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    config = NetdumpConfig(
        iface,
        socket.inet_ntoa(arg.server[:4]),
        socket.inet_ntoa(arg.client[:4]),
        socket.inet_ntoa(arg.gateway[:4]),
    )
    recorded = _recorded(kernel, iface)
    if recorded is None:
        return config
    pem = recorded.get("public_key")
    return NetdumpConfig(
        config.iface,
        config.server,
        config.client,
        config.gateway,
        _COMPRESSION.get(str(recorded.get("compression")), abi.COMP_NONE),
        _CIPHERS.get(str(recorded.get("encryption")), abi.ENC_NONE),
        pem.encode("ascii") if isinstance(pem, str) else None,
    )


def _recorded(kernel: Kernel, iface: str) -> dict[str, object] | None:
    """The emulation's settings and notes for the netdump target (None on FreeBSD)."""
    details = kernel.target_details() if isinstance(kernel, TargetNotes) else None
    return next((entry for entry in details or () if entry.get("name") == iface), None)


def _sysctl(kernel: Kernel, name: str) -> bytes | None:
    try:
        return kernel.sysctl(name)
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # no netdump in this kernel: FreeBSD's defaults apply
            return None
        raise ToolError(f"sysctl {name}: {os_error_text(exc)}", Exit.OSERR) from None


def _int(kernel: Kernel, name: str, default: int) -> int:
    if _sysctl(kernel, name) is None:
        return default
    value = sysctl_int(kernel, name)
    if value < 0:
        raise ToolError(f"sysctl {name} is {value}, not a count", Exit.CONFIG)
    return value


def read_tunables(kernel: Kernel) -> tuple[Tunables, str]:
    """The retry tunables and the herald path (net.netdump.path) as the backend holds them."""
    defaults = Tunables()
    tunables = Tunables(
        polls=_int(kernel, "net.netdump.polls", defaults.polls),
        retries=_int(kernel, "net.netdump.retries", defaults.retries),
        arp_retries=_int(kernel, "net.netdump.arp_retries", defaults.arp_retries),
    )
    raw = _sysctl(kernel, "net.netdump.path") or b""
    return tunables, raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
