"""FreeBSD kernel ABI for dump configuration: ioctl numbers and struct layouts.

Every backend packs its requests here, so the real kernel and the emulation are handed
byte-identical arguments.  Layouts follow sys/sys/disk.h and sys/netinet/netdump/netdump.h.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final, Literal

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


@dataclass(frozen=True)
class DataModel:
    """Pointer width and byte order of one FreeBSD architecture (LP64 or ILP32)."""

    name: str
    pointer_size: Literal[4, 8]
    byteorder: ByteOrder = "<"
    _kda: struct.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ptr = "Q" if self.pointer_size == 8 else "I"
        tail = self.pointer_size - 1  # u8 kda_af, then padding to pointer alignment
        fmt = f"{self.byteorder}BBB{KEY_SIZE}sxI{ptr}{IFNAMSIZ}s16s16s16sB{tail}x"
        object.__setattr__(self, "_kda", struct.Struct(fmt))

    @property
    def kda_size(self) -> int:
        """sizeof(struct diocskerneldump_arg): 152 on LP64, 144 on ILP32."""
        return self._kda.size

    @property
    def DIOCSKERNELDUMP(self) -> int:  # noqa: N802 - the kernel's name
        return ioc(IOC_IN, "d", 145, self.kda_size)

    @property
    def DIOCGKERNELDUMP(self) -> int:  # noqa: N802 - the kernel's name
        return ioc(IOC_INOUT, "d", 146, self.kda_size)

    @property
    def DIOCGMEDIASIZE(self) -> int:  # noqa: N802 - the kernel's name
        return ioc(IOC_OUT, "d", 129, 8)

    def pack(self, arg: DumpArg) -> bytearray:
        """The argument of DIOCSKERNELDUMP / DIOCGKERNELDUMP, as the kernel reads it."""
        return bytearray(
            self._kda.pack(
                arg.index,
                arg.compression,
                arg.encryption,
                arg.key.ljust(KEY_SIZE, b"\0"),
                arg.encrypted_key_size,
                arg.encrypted_key_ptr,
                arg.iface.ljust(IFNAMSIZ, b"\0"),
                arg.server.ljust(KD_IP_SIZE, b"\0"),
                arg.client.ljust(KD_IP_SIZE, b"\0"),
                arg.gateway.ljust(KD_IP_SIZE, b"\0"),
                arg.af,
            )
        )

    def unpack(self, raw: bytes | bytearray) -> DumpArg:
        """Decode an argument; the interface name is cut at its first NUL, as the kernel does."""
        if len(raw) != self.kda_size:
            raise ValueError(f"expected {self.kda_size} bytes, got {len(raw)}")
        (index, comp, enc, key, keysize, keyptr, iface, server, client, gateway, af) = (
            self._kda.unpack(bytes(raw))
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


@dataclass(frozen=True)
class DumpArg:
    """Fields of `struct diocskerneldump_arg` (13+). Addresses are network-order bytes."""

    index: int = KDA_APPEND
    compression: int = COMP_NONE
    encryption: int = ENC_NONE
    key: bytes = b""
    encrypted_key_size: int = 0
    encrypted_key_ptr: int = 0
    iface: bytes = b""
    server: bytes = b""
    client: bytes = b""
    gateway: bytes = b""
    af: int = 0


LP64 = DataModel("LP64", 8)
ILP32 = DataModel("ILP32", 4)
AMD64 = LP64  # the layout the file-backed emulation speaks
