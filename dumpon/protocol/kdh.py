"""`struct kerneldumpheader` (sys/sys/kerneldump.h), versions 1 to 4: build and parse.

The header is 512 bytes in dump byte order (big-endian).  Its last word makes the XOR of
all 128 words zero (kerneldump_parity(); the test holds in either byte order).  String
fields are NUL-padded; text is decoded as UTF-8 with surrogateescape so that a header
parsed and packed again is byte-identical.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from functools import reduce
from operator import xor
from typing import Final

from dumpon.kernel.abi import COMP_NONE

KDH_SIZE: Final = 512
KERNELDUMPMAGIC: Final = "FreeBSD Kernel Dump"
TEXTDUMPMAGIC: Final = "FreeBSD Text Dump"
KERNELDUMPVERSION: Final = 4
NETDUMP_BLOCKSIZE: Final = 4096

# MACHINE_ARCH -> KERNELDUMP_<ARCH>_VERSION
ARCHITECTURE_VERSIONS: Final = {
    "aarch64": 1,
    "amd64": 2,
    "arm": 1,
    "armv7": 1,
    "i386": 2,
    "mips": 1,
    "powerpc": 1,
    "powerpc64": 1,
    "powerpc64le": 1,
    "riscv64": 1,
    "sparc64": 1,
}

_WORDS: Final = struct.Struct(">128I")

# Field order per version: every version starts with _HEAD and has the two text fields
# in the middle; the panic string shrinks as fields were added.
_HEAD: Final = (
    ("magic", "20s"),
    ("architecture", "12s"),
    ("version", "I"),
    ("architectureversion", "I"),
    ("dumplength", "Q"),
)
_TEXT: Final = (("hostname", "64s"), ("versionstring", "192s"))
_PARITY: Final = (("parity", "I"),)
_LAYOUTS: Final[dict[int, tuple[tuple[str, str], ...]]] = {
    1: (
        *_HEAD,
        ("dumptime", "Q"),
        ("blocksize", "I"),
        *_TEXT,
        ("panicstring", "192s"),
        *_PARITY,
    ),
    2: (
        *_HEAD,
        ("dumptime", "Q"),
        ("dumpkeysize", "I"),
        ("blocksize", "I"),
        *_TEXT,
        ("panicstring", "188s"),
        *_PARITY,
    ),
    3: (
        *_HEAD,
        ("dumpextent", "Q"),
        ("dumptime", "Q"),
        ("dumpkeysize", "I"),
        ("blocksize", "I"),
        ("compression", "B"),
        *_TEXT,
        ("panicstring", "179s"),
        *_PARITY,
    ),
    4: (
        *_HEAD,
        ("dumptime", "Q"),
        ("dumpkeysize", "I"),
        ("blocksize", "I"),
        *_TEXT,
        ("panicstring", "175s"),
        ("compression", "B"),
        ("dumpextent", "Q"),
        ("unused", "4s"),
        *_PARITY,
    ),
}
_STRUCTS: Final = {
    version: struct.Struct(">" + "".join(fmt for _, fmt in fields))
    for version, fields in _LAYOUTS.items()
}
_NAMES: Final = {version: tuple(name for name, _ in fields) for version, fields in _LAYOUTS.items()}
_STRING_FIELDS: Final = ("magic", "architecture", "hostname", "versionstring", "panicstring")


class KdhError(ValueError):
    """Bytes that are not a kernel dump header; the text says why."""


def parity(data: bytes | bytearray | memoryview) -> int:
    """kerneldump_parity(): the XOR of the 128 words (big-endian); 0 for a valid header."""
    words: tuple[int, ...] = _WORDS.unpack_from(data)
    return reduce(xor, words)


def string_size(version: int, name: str) -> int:
    """The size of a string field in a header version (panicstring shrinks with each)."""
    return int(dict(_LAYOUTS[version])[name].removesuffix("s"))


@dataclass(frozen=True, slots=True)
class KernelDumpHeader:
    """The fields of a header.  Fields a version lacks keep their defaults: dumpkeysize 0
    (v1), compression 0 and dumpextent None (v1, v2).  `parity` is the stored field as
    parsed; pack() always computes it afresh."""

    architecture: str
    architectureversion: int
    dumplength: int
    dumptime: int
    hostname: str
    versionstring: str
    panicstring: str
    magic: str = KERNELDUMPMAGIC
    version: int = KERNELDUMPVERSION
    blocksize: int = NETDUMP_BLOCKSIZE
    dumpkeysize: int = 0
    compression: int = COMP_NONE
    dumpextent: int | None = None  # None: the same as dumplength
    parity: int = 0

    def pack(self) -> bytes:
        """512 bytes with the parity word set; strings truncated as the kernel's strlcpy
        does, the version string keeping its newline when cut (mkdumpheader())."""
        if self.version not in _STRUCTS:
            raise KdhError(f"header version {self.version} is not one of 1-4")
        values: dict[str, object] = {
            "magic": self._field("magic"),
            "architecture": self._field("architecture"),
            "version": self.version,
            "architectureversion": self.architectureversion,
            "dumplength": self.dumplength,
            "dumpextent": self.dumplength if self.dumpextent is None else self.dumpextent,
            "dumptime": self.dumptime,
            "dumpkeysize": self.dumpkeysize,
            "blocksize": self.blocksize,
            "compression": self.compression,
            "hostname": self._field("hostname"),
            "versionstring": self._field("versionstring"),
            "panicstring": self._field("panicstring"),
            "unused": b"",
            "parity": 0,
        }
        try:
            raw = bytearray(_STRUCTS[self.version].pack(*(values[n] for n in _NAMES[self.version])))
        except struct.error as exc:
            raise KdhError(f"a field does not fit version {self.version}: {exc}") from None
        raw[-4:] = parity(raw).to_bytes(4, "big")
        return bytes(raw)

    def _field(self, name: str) -> bytes:
        size = string_size(self.version, name)
        text = str(getattr(self, name)).encode("utf-8", "surrogateescape")
        if len(text) < size:
            return text
        cut = bytearray(text[: size - 1])
        if name == "versionstring":
            cut[-1:] = b"\n"
        return bytes(cut)

    @classmethod
    def parse(
        cls, data: bytes | bytearray | memoryview, *, check_parity: bool = True
    ) -> KernelDumpHeader:
        """The header in the first 512 bytes of `data`; KdhError when it is too short, of an
        unknown version, or (with `check_parity`) fails the parity test."""
        if len(data) < KDH_SIZE:
            raise KdhError(f"{len(data)} bytes, a kernel dump header has {KDH_SIZE}")
        if check_parity and parity(data) != 0:
            raise KdhError("parity check failed")
        version = int.from_bytes(data[32:36], "big")
        if version not in _STRUCTS:
            raise KdhError(f"header version {version} is not one of 1-4")
        fields = dict(zip(_NAMES[version], _STRUCTS[version].unpack_from(data), strict=True))
        fields.pop("unused", None)
        for name in _STRING_FIELDS:
            raw = fields[name]
            assert isinstance(raw, bytes)
            # Readers force the last byte to NUL (savecore, netdumpd), then stop at the first.
            fields[name] = raw[:-1].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        return cls(**fields)

    @property
    def extent(self) -> int:
        """dumpextent, or dumplength for versions that have no extent."""
        return self.dumplength if self.dumpextent is None else self.dumpextent

    def with_length(self, dumplength: int) -> KernelDumpHeader:
        """The header with the final body length (and extent), as the kernel rewrites it once
        compression is done."""
        return replace(self, dumplength=dumplength, dumpextent=None)
