"""dumpon/kernel/abi.py against a C compiler: sizes, offsets, ioctl numbers and packed bytes.

The three structs are declared from the spec's tables (kernel-abi.md sections 1-3), the
ioctl numbers are computed with sys/ioccom.h's macros, and everything is written as
initialisers of global variables.  `gcc -ffreestanding -S` (gcc's own headers, assembly
only: no libc headers and no linking, so `-m32` needs no 32-bit libc) turns them into
`.long`/`.quad`/`.byte`/`.ascii`/`.zero` directives, which are parsed back into numbers
and bytes and compared with the Python module, for the native 64-bit target (LP64) and
for `-m32` (ILP32).  Big-endian packing is checked without a compiler in
test_abi_models.py.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from dumpon.kernel import abi
from dumpon.kernel.abi import DataModel, DumpArg, DumpArg12, NetdumpConf

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

KEY = bytes((i * 3 + 1) & 0xFF for i in range(abi.KEY_SIZE))
KEYPTR = {8: 0x1122334455667788, 4: 0x11223344}

C_SOURCE = r"""
#include <stddef.h>
#include <stdint.h>

/* sys/ioccom.h */
#define IOCPARM_MASK 0x1fff
#define IOC_OUT 0x40000000UL
#define IOC_IN 0x80000000UL
#define IOC_INOUT (IOC_IN | IOC_OUT)
#define _IOC(inout, group, num, len) \
    ((unsigned long)((inout) | (((len) & IOCPARM_MASK) << 16) | ((group) << 8) | (num)))
#define _IOR(g, n, t) _IOC(IOC_OUT, (g), (n), sizeof(t))
#define _IOW(g, n, t) _IOC(IOC_IN, (g), (n), sizeof(t))
#define _IOWR(g, n, t) _IOC(IOC_INOUT, (g), (n), sizeof(t))

#if UINTPTR_MAX > 0xffffffffUL
#define KEYPTR ((uint8_t *)(uintptr_t)0x1122334455667788ULL)
#else
#define KEYPTR ((uint8_t *)(uintptr_t)0x11223344UL)
#endif

struct in_addr { uint32_t s_addr; };
struct in6_addr { union { uint8_t u8[16]; uint16_t u16[8]; uint32_t u32[4]; } u; };
union kd_ip { struct in_addr in4; struct in6_addr in6; };

/* 13+ sys/disk.h */
struct diocskerneldump_arg {
    uint8_t kda_index;
    uint8_t kda_compression;
    uint8_t kda_encryption;
    uint8_t kda_key[64];
    uint32_t kda_encryptedkeysize;
    uint8_t *kda_encryptedkey;
    char kda_iface[16];
    union kd_ip kda_server;
    union kd_ip kda_client;
    union kd_ip kda_gateway;
    uint8_t kda_af;
};

/* 12.x sys/disk.h (diocskerneldump_arg_freebsd12 in 13) */
struct diocskerneldump_arg_freebsd12 {
    uint8_t kda_enable;
    uint8_t kda_compression;
    uint8_t kda_encryption;
    uint8_t kda_key[64];
    uint32_t kda_encryptedkeysize;
    uint8_t *kda_encryptedkey;
};

/* 12.x sys/netinet/netdump/netdump.h */
struct netdump_conf {
    struct diocskerneldump_arg_freebsd12 ndc_kda;
    char ndc_iface[16];
    struct in_addr ndc_server;
    struct in_addr ndc_client;
    struct in_addr ndc_gateway;
};

unsigned long ioctls[] = {
    _IOW('d', 145, struct diocskerneldump_arg),    /* DIOCSKERNELDUMP */
    _IOWR('d', 146, struct diocskerneldump_arg),   /* DIOCGKERNELDUMP */
    _IOW('d', 144, struct diocskerneldump_arg_freebsd12), /* 12.x DIOCSKERNELDUMP */
    _IOR('n', 1, struct netdump_conf),             /* NETDUMPGCONF */
    _IOW('n', 2, struct netdump_conf),             /* NETDUMPSCONF */
    _IOR('d', 129, int64_t),                       /* DIOCGMEDIASIZE */
};

unsigned int sizes[] = {
    sizeof(struct diocskerneldump_arg),
    sizeof(struct diocskerneldump_arg_freebsd12),
    sizeof(struct netdump_conf),
};

#define KDA(f) offsetof(struct diocskerneldump_arg, f)
unsigned int kda_offsets[] = {
    KDA(kda_index), KDA(kda_compression), KDA(kda_encryption), KDA(kda_key),
    KDA(kda_encryptedkeysize), KDA(kda_encryptedkey), KDA(kda_iface), KDA(kda_server),
    KDA(kda_client), KDA(kda_gateway), KDA(kda_af),
};
#define KDA12(f) offsetof(struct diocskerneldump_arg_freebsd12, f)
unsigned int kda12_offsets[] = {
    KDA12(kda_enable), KDA12(kda_compression), KDA12(kda_encryption), KDA12(kda_key),
    KDA12(kda_encryptedkeysize), KDA12(kda_encryptedkey),
};
#define NDC(f) offsetof(struct netdump_conf, f)
unsigned int ndc_offsets[] = {
    NDC(ndc_kda), NDC(ndc_iface), NDC(ndc_server), NDC(ndc_client), NDC(ndc_gateway),
};

#define IP4(a, b, c, d) { .in6 = { .u = { .u8 = { a, b, c, d } } } }
struct diocskerneldump_arg kda_filled = {
    7, 2, 1, { KEY }, 0x01020304, KEYPTR, "vtnet0",
    IP4(10, 0, 0, 1), IP4(10, 0, 0, 2),
    { .in6 = { .u = { .u8 = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 } } } },
    2,
};
struct diocskerneldump_arg_freebsd12 kda12_filled = { 1, 2, 1, { KEY }, 0x01020304, KEYPTR };
struct netdump_conf ndc_filled = {
    { 1, 0, 1, { KEY }, 0x01020304, KEYPTR }, "em0",
    { 0x0100000a }, { 0x0200000a }, { 0xfe00000a },
};
""".replace("KEY }", ", ".join(str(b) for b in KEY) + " }")

DATA_SIZES = {
    ".byte": 1,
    ".value": 2,
    ".short": 2,
    ".2byte": 2,
    ".long": 4,
    ".4byte": 4,
    ".quad": 8,
    ".8byte": 8,
}
ESCAPE = re.compile(rb"\\([0-7]{1,3}|x[0-9a-fA-F]+|.)", re.S)
NAMED_ESCAPES = {b"n": 10, b"t": 9, b"r": 13, b"b": 8, b"f": 12, b'"': 34, b"\\": 92}


@dataclass
class Compiled:
    """The globals of C_SOURCE as one target lays them out, in that target's byte order."""

    data: dict[str, bytes]
    byteorder: Literal["little", "big"] = "little"  # both targets gcc -S builds are x86

    def numbers(self, name: str, size: int) -> list[int]:
        raw = self.data[name]
        return [int.from_bytes(raw[i : i + size], self.byteorder) for i in range(0, len(raw), size)]


def _unescape(text: bytes) -> bytes:
    def one(match: re.Match[bytes]) -> bytes:
        body = match[1]
        if body[:1] in b"01234567":
            return bytes([int(body, 8) & 0xFF])
        if body[:1] == b"x":
            return bytes([int(body[1:], 16) & 0xFF])
        return bytes([NAMED_ESCAPES.get(body, body[0])])

    return ESCAPE.sub(one, text)


def _parse_assembly(text: str) -> dict[str, bytes]:
    """Every labelled run of data directives, as the bytes the assembler would emit."""
    data: dict[str, bytes] = {}
    label: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"[A-Za-z_]\w*:", stripped):
            label = stripped[:-1]
            data[label] = b""
            continue
        if label is None or not stripped.startswith("."):
            label = None
            continue
        directive, _, operand = (
            stripped.partition("\t") if "\t" in stripped else (stripped.partition(" "))
        )
        operand = operand.strip()
        if directive in DATA_SIZES:
            size = DATA_SIZES[directive]
            value = int(operand, 0) & ((1 << (8 * size)) - 1)
            data[label] += value.to_bytes(size, "little")
        elif directive in (".zero", ".skip"):
            data[label] += bytes(int(operand, 0))
        elif directive in (".ascii", ".string", ".asciz"):
            raw = _unescape(operand.encode("latin-1")[1:-1])
            data[label] += raw + (b"\0" if directive != ".ascii" else b"")
        else:
            label = None  # .size, .globl, .align ...: the object is complete
    return data


def _compile(tmp_path: Path, flags: list[str]) -> Compiled:
    source = tmp_path / "layout.c"
    source.write_text(C_SOURCE)
    output = tmp_path / f"layout{''.join(flags)}.s"
    subprocess.run(
        ["gcc", "-ffreestanding", "-S", "-O0", *flags, "-o", str(output), str(source)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return Compiled(_parse_assembly(output.read_text()))


def _first_set_byte(raw: bytes | bytearray) -> int:
    return next(i for i, byte in enumerate(raw) if byte)


def _offsets(pack: Callable[..., bytearray], probes: list[dict[str, object]]) -> list[int]:
    """Each field's offset: where a value with a non-zero low byte lands (little-endian)."""
    return [_first_set_byte(pack(**probe)) for probe in probes]


def _kda_offsets(model: DataModel) -> list[int]:
    probes: list[dict[str, object]] = [
        {"index": 1},
        {"compression": 1},
        {"encryption": 1},
        {"key": b"\1"},
        {"encrypted_key_size": 1},
        {"encrypted_key_ptr": 1},
        {"iface": b"x"},
        {"server": b"\1"},
        {"client": b"\1"},
        {"gateway": b"\1"},
        {"af": 1},
    ]
    return _offsets(lambda **fields: model.pack(DumpArg(**{"index": 0, **fields})), probes)


def _kda12_offsets(model: DataModel) -> list[int]:
    probes: list[dict[str, object]] = [
        {"enable": True},
        {"compression": 1},
        {"encryption": 1},
        {"key": b"\1"},
        {"encrypted_key_size": 1},
        {"encrypted_key_ptr": 1},
    ]
    return _offsets(lambda **fields: model.pack_kda12(DumpArg12(**fields)), probes)


def _ndc_offsets(model: DataModel) -> list[int]:
    def pack(**fields: object) -> bytearray:
        if "kda" in fields:
            return model.pack_netdump_conf(NetdumpConf(kda=DumpArg12(enable=True)))
        return model.pack_netdump_conf(NetdumpConf(**fields))  # type: ignore[arg-type]

    probes: list[dict[str, object]] = [
        {"kda": True},
        {"iface": b"x"},
        {"server": b"\1"},
        {"client": b"\1"},
        {"gateway": b"\1"},
    ]
    return _offsets(pack, probes)


TARGETS = {
    "native LP64": ([], abi.LP64),
    "gcc -m32 (ILP32)": (["-m32"], abi.ILP32),
}


@pytest.fixture(scope="module", params=sorted(TARGETS))
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Compiled, DataModel]:
    flags, model = TARGETS[request.param]
    if not flags and (struct.calcsize("P") != 8 or sys.byteorder != "little"):
        pytest.skip("the native target is not a little-endian 64-bit one")
    try:
        compiled = _compile(tmp_path_factory.mktemp("c"), flags)
    except subprocess.CalledProcessError as exc:
        if flags:
            pytest.skip(f"gcc {' '.join(flags)} -S failed: {exc.stderr.decode().strip()}")
        raise
    return compiled, model


def test_sizes(target: tuple[Compiled, DataModel]) -> None:
    compiled, model = target
    assert compiled.numbers("sizes", 4) == [
        model.kda_size,
        model.kda12_size,
        model.netdump_conf_size,
    ]


def test_ioctl_numbers(target: tuple[Compiled, DataModel]) -> None:
    compiled, model = target
    assert compiled.numbers("ioctls", model.pointer_size) == [
        model.DIOCSKERNELDUMP,
        model.DIOCGKERNELDUMP,
        model.DIOCSKERNELDUMP_FREEBSD12,
        model.NETDUMPGCONF,
        model.NETDUMPSCONF,
        model.DIOCGMEDIASIZE,
    ]


def test_field_offsets(target: tuple[Compiled, DataModel]) -> None:
    compiled, model = target
    assert compiled.numbers("kda_offsets", 4) == _kda_offsets(model)
    assert compiled.numbers("kda12_offsets", 4) == _kda12_offsets(model)
    assert compiled.numbers("ndc_offsets", 4) == _ndc_offsets(model)


def test_packed_bytes(target: tuple[Compiled, DataModel]) -> None:
    compiled, model = target
    keyptr = KEYPTR[model.pointer_size]
    kda = DumpArg(
        index=7,
        compression=2,
        encryption=1,
        key=KEY,
        encrypted_key_size=0x01020304,
        encrypted_key_ptr=keyptr,
        iface=b"vtnet0",
        server=bytes([10, 0, 0, 1]),
        client=bytes([10, 0, 0, 2]),
        gateway=bytes.fromhex("fe800000000000000000000000000009"),
        af=2,
    )
    assert bytes(model.pack(kda)) == compiled.data["kda_filled"]
    assert model.pack(model.unpack(compiled.data["kda_filled"])) == compiled.data["kda_filled"]
    kda12 = DumpArg12(True, 2, 1, KEY, 0x01020304, keyptr)
    assert bytes(model.pack_kda12(kda12)) == compiled.data["kda12_filled"]
    conf = NetdumpConf(
        kda=DumpArg12(True, 0, 1, KEY, 0x01020304, keyptr),
        iface=b"em0",
        server=bytes([10, 0, 0, 1]),
        client=bytes([10, 0, 0, 2]),
        gateway=bytes([10, 0, 0, 254]),
    )
    assert bytes(model.pack_netdump_conf(conf)) == compiled.data["ndc_filled"]
    assert model.unpack_netdump_conf(compiled.data["ndc_filled"]) == conf
    assert model.unpack(compiled.data["kda_filled"]).iface == b"vtnet0"


def test_spec_table_values() -> None:
    """The numbers kernel-abi.md prints, independently of any compiler."""
    assert (abi.LP64.kda_size, abi.ILP32.kda_size) == (152, 144)
    assert (abi.LP64.kda12_size, abi.ILP32.kda12_size) == (80, 76)
    assert (abi.LP64.netdump_conf_size, abi.ILP32.netdump_conf_size) == (112, 104)
    assert (abi.LP64.DIOCSKERNELDUMP, abi.ILP32.DIOCSKERNELDUMP) == (0x80986491, 0x80906491)
    assert (abi.LP64.DIOCGKERNELDUMP, abi.ILP32.DIOCGKERNELDUMP) == (0xC0986492, 0xC0906492)
    assert (abi.LP64.DIOCSKERNELDUMP_FREEBSD12, abi.ILP32.DIOCSKERNELDUMP_FREEBSD12) == (
        0x80506490,
        0x804C6490,
    )
    assert (abi.LP64.NETDUMPGCONF, abi.ILP32.NETDUMPGCONF) == (0x40706E01, 0x40686E01)
    assert (abi.LP64.NETDUMPSCONF, abi.ILP32.NETDUMPSCONF) == (0x80706E02, 0x80686E02)
    assert abi.LP64.DIOCGMEDIASIZE == abi.ILP32.DIOCGMEDIASIZE == 0x40086481
    assert _kda_offsets(abi.ILP32)[4:] == [68, 72, 76, 92, 108, 124, 140]
    assert _kda_offsets(abi.LP64)[4:] == [68, 72, 80, 96, 112, 128, 144]
