"""abi.pack() against a C compiler's layout of struct diocskerneldump_arg, byte for byte.

The struct is declared from the spec's table (kernel-abi.md section 2), filled with
distinctive values by a compiled C program, and its raw bytes compared with ours.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from dumpon.kernel import abi
from dumpon.kernel.abi import DumpArg

C_SOURCE = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>

union kd_ip { uint32_t in4; uint8_t in6[16]; };
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

int main(void) {
    struct diocskerneldump_arg a;
    memset(&a, 0, sizeof(a));
    a.kda_index = 7;
    a.kda_compression = 2;
    a.kda_encryption = 1;
    for (int i = 0; i < 64; i++) a.kda_key[i] = (uint8_t)(i * 3 + 1);
    a.kda_encryptedkeysize = 0x01020304;
    a.kda_encryptedkey = (uint8_t *)(uintptr_t)0x1122334455667788ULL;
    strcpy(a.kda_iface, "vtnet0");
    memcpy(&a.kda_server, "\x0a\x00\x00\x01", 4);
    memcpy(&a.kda_client, "\x0a\x00\x00\x02", 4);
    memset(a.kda_gateway.in6, 0, 16);
    a.kda_gateway.in6[0] = 0xfe;
    a.kda_gateway.in6[1] = 0x80;
    a.kda_gateway.in6[15] = 0x09;
    a.kda_af = 2;
    fwrite(&a, sizeof(a), 1, stdout);
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_pack_matches_c_layout(tmp_path: Path) -> None:
    if struct.calcsize("P") != 8:
        pytest.skip("this byte-for-byte check is for the native LP64 target")
    source = tmp_path / "kda.c"
    source.write_text(C_SOURCE)
    binary = tmp_path / "kda"
    subprocess.run(["gcc", "-O0", "-o", str(binary), str(source)], check=True, timeout=60)
    c_bytes = subprocess.run([str(binary)], capture_output=True, check=True, timeout=10).stdout
    ours = abi.LP64.pack(
        DumpArg(
            index=7,
            compression=2,
            encryption=1,
            key=bytes((i * 3 + 1) & 0xFF for i in range(64)),
            encrypted_key_size=0x01020304,
            encrypted_key_ptr=0x1122334455667788,
            iface=b"vtnet0",
            server=bytes([10, 0, 0, 1]),
            client=bytes([10, 0, 0, 2]),
            gateway=bytes.fromhex("fe800000000000000000000000000009"),
            af=2,
        )
    )
    assert len(c_bytes) == abi.LP64.kda_size == 152
    assert bytes(ours) == c_bytes
    assert abi.LP64.unpack(c_bytes).iface == b"vtnet0"


def test_ioctl_numbers_from_spec() -> None:
    assert abi.LP64.DIOCSKERNELDUMP == 0x80986491
    assert abi.LP64.DIOCGKERNELDUMP == 0xC0986492
    assert abi.ILP32.DIOCSKERNELDUMP == 0x80906491
    assert abi.LP64.DIOCGMEDIASIZE == 0x40086481
