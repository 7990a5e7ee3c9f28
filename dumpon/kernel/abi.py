"""FreeBSD kernel ABI for dump configuration: ioctl numbers and struct layouts.

Every backend packs its requests here, so the real kernel and the emulation are handed
byte-identical arguments.  Layouts follow sys/sys/disk.h and sys/netinet/netdump/netdump.h:
the 13+ `struct diocskerneldump_arg`, and for 12.x kernels its predecessor (with
`kda_enable`) and `struct netdump_conf`.  Struct formats spell every padding byte out, so
they hold for any data model, whatever Python's own native alignment is.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

# kerneldump.h
COMP_NONE: Final = 0
COMP_GZIP: Final = 1
COMP_ZSTD: Final = 2
ENC_NONE: Final = 0
ENC_AES_256_CBC: Final = 1
ENC_CHACHA20: Final = 2
KEY_SIZE: Final = 64
ENCKEY_MAX_SIZE: Final = 2048

# kda_index values above the largest insert position (disk.h)
KDA_REMOVE: Final = 255
KDA_REMOVE_ALL: Final = 254
KDA_REMOVE_DEV: Final = 253
KDA_APPEND: Final = 252
MAX_INSERT_INDEX: Final = KDA_APPEND - 2  # dumpon(8) accepts -i 0..250

AF_INET: Final = 2  # FreeBSD's value; Linux shares it
IFNAMSIZ: Final = 16
KD_IP_SIZE: Final = 16  # union kd_ip: room for an IPv6 address
IN_ADDR_SIZE: Final = 4  # struct in_addr, as 12.x's netdump_conf holds its addresses

IOC_VOID: Final = 0x20000000
IOC_OUT: Final = 0x40000000
IOC_IN: Final = 0x80000000
IOC_INOUT: Final = IOC_IN | IOC_OUT
IOCPARM_MASK: Final = 0x1FFF


def ioc(direction: int, group: str, number: int, size: int) -> int:
    """sys/ioccom.h _IOC(): direction, 13-bit parameter size, group letter, number."""
    if size > IOCPARM_MASK:
        raise ValueError(f"ioctl parameter of {size} bytes does not fit in 13 bits")
    return direction | ((size & IOCPARM_MASK) << 16) | (ord(group) << 8) | number


ByteOrder = Literal["<", ">"]


def _layout(byteorder: ByteOrder, body: str, align: int) -> struct.Struct:
    """A C struct: `body` (fields with explicit padding) plus tail padding to `align`."""
    size = struct.calcsize(byteorder + body)
    return struct.Struct(f"{byteorder}{body}{-size % align}x")


class _Layouts(NamedTuple):
    kda: struct.Struct  # struct diocskerneldump_arg (13+)
    kda12: struct.Struct  # the 12.x struct diocskerneldump_arg
    ndc: struct.Struct  # the 12.x struct netdump_conf


@functools.cache
def _layouts(pointer_size: int, byteorder: ByteOrder) -> _Layouts:
    ptr = "Q" if pointer_size == 8 else "I"
    align = pointer_size  # kda_encryptedkey is the widest member of all three
    # The 12.x struct is the head of the 13+ one: 13.0 asserts that kda_iface sits at
    # sizeof(struct diocskerneldump_arg_freebsd12).
    kda12 = _layout(byteorder, f"BBB{KEY_SIZE}sxI{ptr}", align)
    addr, ip = f"{IN_ADDR_SIZE}s", f"{KD_IP_SIZE}s"
    kda = _layout(byteorder, f"{kda12.format[1:]}{IFNAMSIZ}s{ip}{ip}{ip}B", align)
    ndc = _layout(byteorder, f"{kda12.format[1:]}{IFNAMSIZ}s{addr}{addr}{addr}", align)
    return _Layouts(kda, kda12, ndc)


class DataModel(NamedTuple):
    """Pointer width and byte order of one FreeBSD architecture (LP64 or ILP32)."""

    name: str
    pointer_size: Literal[4, 8]
    byteorder: ByteOrder = "<"

    @property
    def _kda(self) -> struct.Struct:
        return _layouts(self.pointer_size, self.byteorder).kda

    @property
    def _kda12(self) -> struct.Struct:
        return _layouts(self.pointer_size, self.byteorder).kda12

    @property
    def _ndc(self) -> struct.Struct:
        return _layouts(self.pointer_size, self.byteorder).ndc

    @property
    def kda_size(self) -> int:
        """sizeof(struct diocskerneldump_arg): 152 on LP64, 144 on ILP32."""
        return self._kda.size

    @property
    def kda12_size(self) -> int:
        """sizeof the 12.x struct diocskerneldump_arg: 80 on LP64, 76 on ILP32."""
        return self._kda12.size

    @property
    def netdump_conf_size(self) -> int:
        """sizeof the 12.x struct netdump_conf: 112 on LP64, 104 on ILP32."""
        return self._ndc.size

    @property
    def DIOCSKERNELDUMP(self) -> int:  # the kernel's name
        return ioc(IOC_IN, "d", 145, self.kda_size)

    @property
    def DIOCGKERNELDUMP(self) -> int:  # the kernel's name
        return ioc(IOC_INOUT, "d", 146, self.kda_size)

    @property
    def DIOCGMEDIASIZE(self) -> int:  # the kernel's name
        return ioc(IOC_OUT, "d", 129, 8)

    @property
    def DIOCSKERNELDUMP_FREEBSD12(self) -> int:  # the kernel's name
        """12.x's DIOCSKERNELDUMP (the name 13's compat code gives it)."""
        return ioc(IOC_IN, "d", 144, self.kda12_size)

    @property
    def NETDUMPGCONF(self) -> int:  # the kernel's name
        return ioc(IOC_OUT, "n", 1, self.netdump_conf_size)

    @property
    def NETDUMPSCONF(self) -> int:  # the kernel's name
        return ioc(IOC_IN, "n", 2, self.netdump_conf_size)

    def pack(self, arg: DumpArg) -> bytearray:
        """The argument of DIOCSKERNELDUMP / DIOCGKERNELDUMP, as the kernel reads it.

        Packed straight into a bytearray (struct pads short byte fields with NULs): the
        plaintext key must not pass through an immutable copy that nobody can wipe."""
        return _packed(
            self._kda,
            arg.index,
            arg.compression,
            arg.encryption,
            arg.key,
            arg.encrypted_key_size,
            arg.encrypted_key_ptr,
            arg.iface,
            arg.server,
            arg.client,
            arg.gateway,
            arg.af,
        )

    def unpack(self, raw: bytes | bytearray) -> DumpArg:
        """Decode an argument; the interface name is cut at its first NUL, as the kernel does."""
        if len(raw) != self.kda_size:
            raise ValueError(f"expected {self.kda_size} bytes, got {len(raw)}")
        (index, comp, enc, key, keysize, keyptr, iface, server, client, gateway, af) = (
            self._kda.unpack(raw)
        )
        return DumpArg(
            index=index,
            compression=comp,
            encryption=enc,
            key=key,
            encrypted_key_size=keysize,
            encrypted_key_ptr=keyptr,
            iface=iface[: IFNAMSIZ - 1].split(b"\0", 1)[0],
            server=server,
            client=client,
            gateway=gateway,
            af=af,
        )

    def pack_kda12(self, arg: DumpArg12) -> bytearray:
        """The argument of 12.x's DIOCSKERNELDUMP."""
        return _packed(self._kda12, *_kda12_fields(arg))

    def unpack_kda12(self, raw: bytes | bytearray) -> DumpArg12:
        """Decode a 12.x DIOCSKERNELDUMP argument, as a 12.x kernel reads it."""
        if len(raw) != self.kda12_size:
            raise ValueError(f"expected {self.kda12_size} bytes, got {len(raw)}")
        enable, comp, enc, key, keysize, keyptr = self._kda12.unpack(raw)
        return DumpArg12(bool(enable), comp, enc, key, keysize, keyptr)

    def pack_netdump_conf(self, conf: NetdumpConf) -> bytearray:
        """The argument of NETDUMPSCONF / NETDUMPGCONF (12.x)."""
        return _packed(
            self._ndc, *_kda12_fields(conf.kda), conf.iface, conf.server, conf.client, conf.gateway
        )

    def unpack_netdump_conf(self, raw: bytes | bytearray) -> NetdumpConf:
        """Decode NETDUMPGCONF's answer; the interface name is cut at its first NUL."""
        if len(raw) != self.netdump_conf_size:
            raise ValueError(f"expected {self.netdump_conf_size} bytes, got {len(raw)}")
        (enable, comp, enc, key, keysize, keyptr, iface, server, client, gateway) = (
            self._ndc.unpack(raw)
        )
        return NetdumpConf(
            kda=DumpArg12(bool(enable), comp, enc, key, keysize, keyptr),
            iface=iface.split(b"\0", 1)[0],
            server=server,
            client=client,
            gateway=gateway,
        )


def _packed(layout: struct.Struct, *fields: object) -> bytearray:
    buffer = bytearray(layout.size)
    layout.pack_into(buffer, 0, *fields)
    return buffer


def _kda12_fields(arg: DumpArg12) -> tuple[int, int, int, bytes | bytearray, int, int]:
    return (
        int(arg.enable),
        arg.compression,
        arg.encryption,
        arg.key,
        arg.encrypted_key_size,
        arg.encrypted_key_ptr,
    )


@dataclass(frozen=True, slots=True)
class DumpArg:
    """Fields of `struct diocskerneldump_arg` (13+). Addresses are network-order bytes."""

    index: int = KDA_APPEND
    compression: int = COMP_NONE
    encryption: int = ENC_NONE
    key: bytes | bytearray = b""
    encrypted_key_size: int = 0
    encrypted_key_ptr: int = 0
    iface: bytes = b""
    server: bytes = b""
    client: bytes = b""
    gateway: bytes = b""
    af: int = 0


@dataclass(frozen=True, slots=True)
class DumpArg12:
    """Fields of the 12.x `struct diocskerneldump_arg`: one dumper, switched on or off."""

    enable: bool = False
    compression: int = COMP_NONE
    encryption: int = ENC_NONE
    key: bytes | bytearray = b""
    encrypted_key_size: int = 0
    encrypted_key_ptr: int = 0


class NetdumpConf(NamedTuple):
    """Fields of the 12.x `struct netdump_conf`. Addresses are 4 network-order bytes."""

    kda: DumpArg12 = DumpArg12()
    iface: bytes = b""
    server: bytes = b""
    client: bytes = b""
    gateway: bytes = b""


LP64 = DataModel("LP64", 8)
ILP32 = DataModel("ILP32", 4)
LP64_BE = DataModel("LP64 big-endian", 8, ">")  # powerpc64
ILP32_BE = DataModel("ILP32 big-endian", 4, ">")  # 32-bit powerpc
AMD64 = LP64  # the layout the file-backed emulation speaks
