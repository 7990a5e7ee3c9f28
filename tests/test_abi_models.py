"""Choosing a data model from the machine, and big-endian packing (powerpc64)."""

from __future__ import annotations

import pytest

from dumpon.errors import Exit, ToolError
from dumpon.kernel import abi
from dumpon.kernel.abi import DumpArg, DumpArg12, NetdumpConf
from dumpon.kernel.arch import host_platform


@pytest.mark.parametrize(
    ("machine", "pointer_size", "byteorder", "machine_arch", "model"),
    [
        ("amd64", 8, "little", "amd64", abi.LP64),
        ("arm64", 8, "little", "aarch64", abi.LP64),
        ("aarch64", 8, "little", "aarch64", abi.LP64),
        ("riscv", 8, "little", "riscv64", abi.LP64),
        ("riscv64", 8, "little", "riscv64", abi.LP64),
        ("powerpc", 8, "big", "powerpc64", abi.LP64_BE),
        ("powerpc64", 8, "big", "powerpc64", abi.LP64_BE),
        ("powerpc", 8, "little", "powerpc64le", abi.LP64),
        ("powerpc64le", 8, "little", "powerpc64le", abi.LP64),
        ("i386", 4, "little", "i386", abi.ILP32),
        ("arm", 4, "little", "armv7", abi.ILP32),
        ("armv7", 4, "little", "armv7", abi.ILP32),
    ],
)
def test_platforms(
    machine: str, pointer_size: int, byteorder: str, machine_arch: str, model: abi.DataModel
) -> None:
    chosen = host_platform(machine, pointer_size, byteorder)
    assert (chosen.machine_arch, chosen.model) == (machine_arch, model)


@pytest.mark.parametrize(
    ("machine", "pointer_size", "byteorder"),
    [
        ("x86_64", 8, "little"),  # Linux's spelling: not a FreeBSD machine
        ("mips", 4, "big"),
        ("amd64", 4, "little"),  # a 32-bit Python on an amd64 kernel
        ("i386", 8, "little"),
        ("arm64", 8, "big"),
    ],
)
def test_unknown_platforms_are_a_clear_error(
    machine: str, pointer_size: int, byteorder: str
) -> None:
    with pytest.raises(ToolError) as error:
        host_platform(machine, pointer_size, byteorder)
    assert error.value.exit_code == Exit.UNAVAILABLE
    assert f"machine '{machine}'" in error.value.message
    assert f"{pointer_size * 8}-bit {byteorder}-endian" in error.value.message


def test_big_endian_packing() -> None:
    """Only the multi-byte integers change: key size, pointer (and the 12.x ones)."""
    request = DumpArg(
        index=3,
        compression=abi.COMP_ZSTD,
        encryption=abi.ENC_CHACHA20,
        key=b"K" * abi.KEY_SIZE,
        encrypted_key_size=0x00000100,
        encrypted_key_ptr=0x0000_7FFF_1234_5678,
        iface=b"vtnet0",
        server=bytes([192, 0, 2, 1]),
        client=bytes([192, 0, 2, 10]),
        gateway=bytes([192, 0, 2, 254]),
        af=abi.AF_INET,
    )
    little, big = abi.LP64.pack(request), abi.LP64_BE.pack(request)
    assert big[68:72] == bytes.fromhex("00000100")
    assert big[72:80] == bytes.fromhex("00007fff12345678")
    assert little[68:72] == bytes.fromhex("00010000")
    assert little[72:80] == bytes.fromhex("78563412ff7f0000")
    assert big[:68] == little[:68] and big[80:] == little[80:]
    assert big[80:86] == b"vtnet0" and big[96:100] == bytes([192, 0, 2, 1]) and big[144] == 2
    assert abi.LP64_BE.unpack(big) == abi.LP64.unpack(little)

    kda12 = DumpArg12(True, 0, abi.ENC_AES_256_CBC, b"k", 0x200, 0x1122334455667788)
    assert abi.LP64_BE.pack_kda12(kda12)[68:80] == bytes.fromhex("000002001122334455667788")
    conf = NetdumpConf(kda=kda12, iface=b"em0", server=b"\xc0\x00\x02\x01")
    packed = abi.LP64_BE.pack_netdump_conf(conf)
    assert packed[68:80] == bytes.fromhex("000002001122334455667788")
    assert packed[80:83] == b"em0" and packed[96:100] == b"\xc0\x00\x02\x01"
    kda12_32 = DumpArg12(True, 0, abi.ENC_AES_256_CBC, b"k", 0x200, 0x55667788)
    assert abi.ILP32_BE.pack_kda12(kda12_32)[68:76] == bytes.fromhex("0000020055667788")


def test_netdump_conf_round_trip() -> None:
    conf = NetdumpConf(
        kda=DumpArg12(True, abi.COMP_GZIP, 0, b"\0" * abi.KEY_SIZE, 0, 0),
        iface=b"igb1",
        server=bytes([10, 0, 0, 1]),
        client=bytes([10, 0, 0, 2]),
        gateway=bytes([10, 0, 0, 3]),
    )
    for model in (abi.LP64, abi.ILP32, abi.LP64_BE, abi.ILP32_BE):
        assert model.unpack_netdump_conf(model.pack_netdump_conf(conf)) == conf
    with pytest.raises(ValueError, match="expected 112 bytes"):
        abi.LP64.unpack_netdump_conf(bytes(104))
