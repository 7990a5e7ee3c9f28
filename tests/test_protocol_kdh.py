"""struct kerneldumpheader v1-v4 (sys/sys/kerneldump.h): layout, parity, round trips."""

from __future__ import annotations

import dataclasses
import struct
from functools import reduce
from operator import xor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dumpon.protocol.kdh import KDH_SIZE, KdhError, KernelDumpHeader, parity


def _header(version: int = 4, **fields: object) -> KernelDumpHeader:
    values: dict[str, object] = {
        "architecture": "amd64",
        "architectureversion": 2,
        "dumplength": 0x0102030405060708,
        "dumptime": 1700000000,
        "hostname": "host.example",
        "versionstring": "FreeBSD 14.1-RELEASE\n",
        "panicstring": "netdump test",
        "version": version,
        **fields,
    }
    return KernelDumpHeader(**values)  # type: ignore[arg-type]


def test_v4_layout_matches_kerneldump_h() -> None:
    raw = _header(dumpkeysize=4096, compression=2, dumpextent=77).pack()
    assert len(raw) == KDH_SIZE
    assert raw[0:20] == b"FreeBSD Kernel Dump\0"
    assert raw[20:32] == b"amd64".ljust(12, b"\0")
    assert struct.unpack_from(">IIQQII", raw, 32) == (
        4,
        2,
        0x0102030405060708,
        1700000000,
        4096,
        4096,
    )
    assert raw[64:128].rstrip(b"\0") == b"host.example"
    assert raw[128:320].rstrip(b"\0") == b"FreeBSD 14.1-RELEASE\n"
    assert raw[320:495].rstrip(b"\0") == b"netdump test"
    assert raw[495] == 2
    assert struct.unpack_from(">Q", raw, 496) == (77,)
    assert raw[504:508] == b"\0\0\0\0"


@pytest.mark.parametrize(
    ("version", "length_at", "blocksize_at", "hostname_at", "panic_size"),
    [(1, 40, 56, 60, 192), (2, 40, 60, 64, 188), (3, 40, 68, 73, 179), (4, 40, 60, 64, 175)],
)
def test_older_layouts(
    version: int, length_at: int, blocksize_at: int, hostname_at: int, panic_size: int
) -> None:
    raw = _header(version, panicstring="p" * 300).pack()
    assert struct.unpack_from(">I", raw, 32) == (version,)
    assert struct.unpack_from(">Q", raw, length_at) == (0x0102030405060708,)
    assert struct.unpack_from(">I", raw, blocksize_at) == (4096,)
    assert raw[hostname_at : hostname_at + 12] == b"host.example"
    parsed = KernelDumpHeader.parse(raw)
    assert parsed.panicstring == "p" * (panic_size - 1)
    assert parsed.version == version


def test_parity_makes_the_xor_of_all_words_zero_in_either_byte_order() -> None:
    raw = _header().pack()
    assert parity(raw) == 0
    assert reduce(xor, struct.unpack("<128I", raw)) == 0
    assert KernelDumpHeader.parse(raw).parity == int.from_bytes(raw[-4:], "big")


def test_bad_parity_is_refused_unless_asked_not_to_check() -> None:
    raw = bytearray(_header().pack())
    raw[100] ^= 1
    with pytest.raises(KdhError, match="parity"):
        KernelDumpHeader.parse(raw)
    assert KernelDumpHeader.parse(raw, check_parity=False).hostname == "host.example"


def test_short_and_unknown_versions_are_refused() -> None:
    with pytest.raises(KdhError, match="511 bytes"):
        KernelDumpHeader.parse(bytes(511))
    raw = bytearray(_header().pack())
    raw[35] = 9
    raw[511] ^= 4 ^ 9  # keep the parity right, so the version is what fails
    with pytest.raises(KdhError, match="version 9"):
        KernelDumpHeader.parse(raw)
    with pytest.raises(KdhError, match="version 5"):
        _header(version=5).pack()


def test_truncated_version_string_keeps_its_newline() -> None:
    parsed = KernelDumpHeader.parse(_header(versionstring="v" * 400).pack())
    assert parsed.versionstring == "v" * 190 + "\n"


def test_missing_extent_is_the_length() -> None:
    header = _header()
    assert header.extent == header.dumplength
    assert KernelDumpHeader.parse(header.pack()).dumpextent == header.dumplength
    assert KernelDumpHeader.parse(_header(2).pack()).dumpextent is None
    assert header.with_length(5).pack() == _header(dumplength=5).pack()


_text = st.text(max_size=80).filter(lambda s: "\0" not in s)


@given(
    st.sampled_from([1, 2, 3, 4]),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2),
    _text,
    _text,
)
def test_round_trip(
    version: int, length: int, time: int, keysize: int, compression: int, host: str, panic: str
) -> None:
    raw = _header(
        version,
        dumplength=length,
        dumptime=time,
        dumpkeysize=keysize if version > 1 else 0,
        compression=compression if version > 2 else 0,
        hostname=host,
        panicstring=panic,
    ).pack()
    assert parity(raw) == 0
    assert KernelDumpHeader.parse(raw).pack() == raw


@given(st.binary(min_size=KDH_SIZE, max_size=KDH_SIZE))
def test_parse_never_crashes_on_junk(raw: bytes) -> None:
    try:
        header = KernelDumpHeader.parse(raw, check_parity=False)
    except KdhError:
        return
    again = KernelDumpHeader.parse(header.pack())
    assert dataclasses.replace(again, parity=header.parity) == header
