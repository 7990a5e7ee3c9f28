"""The emulated kernel given packed ioctl arguments directly: the kernel's own rules."""

from __future__ import annotations

import ctypes
import errno
import json
from pathlib import Path

import pytest

from dumpon.kernel import abi
from dumpon.kernel.abi import DumpArg
from dumpon.kernel.emulation.kernel import MockKernel

KEY = b"k" * 256


@pytest.fixture
def kernel(tmp_path: Path) -> MockKernel:
    return MockKernel(str(tmp_path / "kernel.json"))


def set_dump(kernel: MockKernel, path: str, arg: DumpArg) -> None:
    fd = kernel.open(path)
    try:
        kernel.ioctl(fd, kernel.abi.DIOCSKERNELDUMP, kernel.abi.pack(arg))
    finally:
        kernel.close(fd)


def errno_of(kernel: MockKernel, path: str, arg: DumpArg) -> int:
    with pytest.raises(OSError) as caught:
        set_dump(kernel, path, arg)
    assert caught.value.errno is not None
    return caught.value.errno


def test_netdump_needs_af_inet(kernel: MockKernel) -> None:
    assert errno_of(kernel, "/dev/netdump", DumpArg(iface=b"lo", af=28)) == errno.EPROTONOSUPPORT
    assert errno_of(kernel, "/dev/netdump", DumpArg(iface=b"lo", af=0)) == errno.EPROTONOSUPPORT


def test_netdump_needs_an_ethernet_interface(kernel: MockKernel) -> None:
    assert errno_of(kernel, "/dev/netdump", DumpArg(iface=b"lo", af=2)) == errno.ENODEV
    assert errno_of(kernel, "/dev/netdump", DumpArg(iface=b"nosuch0", af=2)) == errno.ENODEV
    assert errno_of(kernel, "/dev/netdump", DumpArg(iface=b"../lo", af=2)) == errno.ENODEV


def test_netdump_remove_when_unconfigured_succeeds(kernel: MockKernel) -> None:
    for index in (abi.KDA_REMOVE, abi.KDA_REMOVE_DEV, abi.KDA_REMOVE_ALL):
        set_dump(kernel, "/dev/netdump", DumpArg(index=index, af=2))


def test_get_when_unconfigured_is_enxio(kernel: MockKernel) -> None:
    fd = kernel.open("/dev/netdump")
    with pytest.raises(OSError) as caught:
        kernel.ioctl(fd, kernel.abi.DIOCGKERNELDUMP, bytearray(kernel.abi.kda_size))
    assert caught.value.errno == errno.ENXIO


def test_other_ioctls_are_enotty(kernel: MockKernel) -> None:
    fd = kernel.open("/dev/netdump")
    with pytest.raises(OSError) as caught:
        kernel.ioctl(fd, 0x20006400, bytearray(0))
    assert caught.value.errno == errno.ENOTTY


def _disk() -> str:
    from tests.support import block_device

    return "/dev/" + block_device()


def test_encrypted_key_size_limits(kernel: MockKernel) -> None:
    disk = _disk()
    for size in (0, abi.ENCKEY_MAX_SIZE + 1):
        arg = DumpArg(encryption=abi.ENC_CHACHA20, encrypted_key_size=size)
        assert errno_of(kernel, disk, arg) == errno.EINVAL


def test_aes_with_compression_is_eopnotsupp(kernel: MockKernel) -> None:
    buffer = ctypes.create_string_buffer(KEY, len(KEY))
    arg = DumpArg(
        encryption=abi.ENC_AES_256_CBC,
        compression=abi.COMP_GZIP,
        encrypted_key_size=len(KEY),
        encrypted_key_ptr=ctypes.addressof(buffer),
    )
    assert errno_of(kernel, _disk(), arg) == errno.EOPNOTSUPP


def test_null_key_pointer_is_efault(kernel: MockKernel) -> None:
    arg = DumpArg(encryption=abi.ENC_CHACHA20, encrypted_key_size=len(KEY))
    assert errno_of(kernel, _disk(), arg) == errno.EFAULT


def test_unknown_compression_is_einval(kernel: MockKernel) -> None:
    assert errno_of(kernel, _disk(), DumpArg(compression=7)) == errno.EINVAL


def test_wrapped_key_is_copied_in_and_plain_key_never_stored(kernel: MockKernel) -> None:
    disk = _disk()
    buffer = ctypes.create_string_buffer(KEY, len(KEY))
    plain = bytes(range(64))
    set_dump(
        kernel,
        disk,
        DumpArg(
            encryption=abi.ENC_CHACHA20,
            key=plain,
            encrypted_key_size=len(KEY),
            encrypted_key_ptr=ctypes.addressof(buffer),
        ),
    )
    text = Path(kernel.state.path).read_text()
    entry = json.loads(text)["dumpers"][0]
    assert entry["encryption"] == "chacha20"
    import base64

    assert base64.b64decode(entry["encrypted_key"]) == KEY
    assert base64.b64encode(plain).decode() not in text and plain.hex() not in text


def test_remove_matches_name_and_settings(kernel: MockKernel) -> None:
    disk = _disk()
    set_dump(kernel, disk, DumpArg(compression=abi.COMP_GZIP))
    set_dump(kernel, disk, DumpArg())
    assert errno_of(kernel, disk, DumpArg(index=abi.KDA_REMOVE, compression=2)) == errno.ENOENT
    set_dump(kernel, disk, DumpArg(index=abi.KDA_REMOVE, compression=1))
    assert kernel.sysctl("kern.shutdown.dumpdevname") == disk[5:].encode() + b"\0"
    set_dump(kernel, disk, DumpArg(index=abi.KDA_REMOVE_DEV))
    set_dump(kernel, disk, DumpArg(index=abi.KDA_REMOVE_DEV))  # no ENOENT for 253
    assert kernel.sysctl("kern.shutdown.dumpdevname") == b"\0"


def test_sysctls(kernel: MockKernel) -> None:
    assert int.from_bytes(kernel.sysctl("kern.osreldate"), "little") >= 1300000
    assert int.from_bytes(kernel.sysctl("debug.minidump"), "little") == 1
    assert int.from_bytes(kernel.sysctl("kern.features.ekcd"), "little") == 1
    with pytest.raises(OSError) as caught:
        kernel.sysctl("no.such.sysctl")
    assert caught.value.errno == errno.ENOENT


def test_interface_name_is_cut_at_15_bytes() -> None:
    raw = abi.AMD64.pack(DumpArg(iface=b"0123456789abcdef"[:16]))
    assert abi.AMD64.unpack(raw).iface == b"0123456789abcde"
