"""Body ciphers: AES-256-CBC and 64-bit-counter ChaCha20, streamed, against openssl and a
pure-Python ChaCha20 reference (including the block counter's carry at 2**32)."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import pytest

from dumpon.crypto import ekcd
from dumpon.kernel import abi
from tests.ekcd_support import encrypt, openssl, requires_openssl

KEY = os.urandom(64)
IV = os.urandom(32)
BODY = os.urandom(1 << 20)


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & 0xFFFFFFFF


def chacha20_block(key: bytes, counter: int, nonce: bytes) -> bytes:
    """Bernstein's original ChaCha20 block: 64-bit counter in words 12-13, 64-bit nonce."""
    state = [
        *struct.unpack("<4I", b"expand 32-byte k"),
        *struct.unpack("<8I", key),
        counter & 0xFFFFFFFF,
        counter >> 32,
        *struct.unpack("<2I", nonce),
    ]
    x = list(state)

    def quarter(a: int, b: int, c: int, d: int) -> None:
        x[a] = (x[a] + x[b]) & 0xFFFFFFFF
        x[d] = _rotl(x[d] ^ x[a], 16)
        x[c] = (x[c] + x[d]) & 0xFFFFFFFF
        x[b] = _rotl(x[b] ^ x[c], 12)
        x[a] = (x[a] + x[b]) & 0xFFFFFFFF
        x[d] = _rotl(x[d] ^ x[a], 8)
        x[c] = (x[c] + x[d]) & 0xFFFFFFFF
        x[b] = _rotl(x[b] ^ x[c], 7)

    for _ in range(10):
        quarter(0, 4, 8, 12)
        quarter(1, 5, 9, 13)
        quarter(2, 6, 10, 14)
        quarter(3, 7, 11, 15)
        quarter(0, 5, 10, 15)
        quarter(1, 6, 11, 12)
        quarter(2, 7, 8, 13)
        quarter(3, 4, 9, 14)
    return struct.pack("<16I", *((x[i] + state[i]) & 0xFFFFFFFF for i in range(16)))


def _keystream(first_block: int, blocks: int) -> bytes:
    stream = ekcd.ChaCha20Stream(KEY[:32], IV, first_block)
    # odd pieces, so that the carry falls inside one call
    out = b"".join(stream.update(bytes(size)) for size in (37, 64 * blocks - 37 - 91, 91))
    return out + stream.finalize()


def test_chacha20_matches_reference_from_block_zero() -> None:
    stream = encrypt(abi.ENC_CHACHA20, KEY, IV, bytes(64 * 3))
    assert stream == b"".join(chacha20_block(KEY[:32], n, IV[:8]) for n in range(3))


def test_chacha20_counter_carries_into_the_high_word() -> None:
    """Bodies over 256 GiB pass block 2**32: the counter is 64 bits, not RFC 8439's 32."""
    first = 2**32 - 2
    expected = b"".join(chacha20_block(KEY[:32], first + n, IV[:8]) for n in range(4))
    assert _keystream(first, 4) == expected
    stream = ekcd.ChaCha20Stream(KEY[:32], IV, first)
    assert stream.update(bytes(128)) + stream.update(bytes(128)) == expected  # ends on it


@requires_openssl
def test_chacha20_counter_carry_matches_openssl() -> None:
    iv = ekcd.chacha20_nonce(IV, 2**32 - 1).hex()
    theirs = openssl("enc", "-chacha20", "-K", KEY[:32].hex(), "-iv", iv, data=bytes(64 * 3))
    assert theirs == _keystream(2**32 - 1, 3)


@requires_openssl
def test_our_aes_body_decrypts_with_openssl() -> None:
    ours = encrypt(abi.ENC_AES_256_CBC, KEY, IV, BODY)
    args = ["-aes-256-cbc", "-nopad", "-K", KEY[:32].hex(), "-iv", IV[:16].hex()]
    assert openssl("enc", "-d", *args, data=ours) == BODY


@requires_openssl
def test_our_chacha20_body_decrypts_with_openssl() -> None:
    ours = encrypt(abi.ENC_CHACHA20, KEY, IV, BODY)
    iv = "0000000000000000" + IV[:8].hex()
    assert openssl("enc", "-d", "-chacha20", "-K", KEY[:32].hex(), "-iv", iv, data=ours) == BODY


@requires_openssl
def test_openssl_bodies_decrypt_with_the_library() -> None:
    aes = openssl(
        "enc", "-aes-256-cbc", "-nopad", "-K", KEY[:32].hex(), "-iv", IV[:16].hex(), data=BODY
    )
    chacha = openssl(
        "enc", "-chacha20", "-K", KEY[:32].hex(), "-iv", "00" * 8 + IV[:8].hex(), data=BODY
    )
    for cipher, data in ((abi.ENC_AES_256_CBC, aes), (abi.ENC_CHACHA20, chacha)):
        context = ekcd.body_cipher(cipher, KEY, IV, encrypt=False)
        reader = ekcd.CryptReader(io.BytesIO(data), context)
        assert b"".join(bytes(p) for p in reader.chunks()) == BODY


@pytest.mark.parametrize("cipher", [abi.ENC_AES_256_CBC, abi.ENC_CHACHA20])
@pytest.mark.parametrize("chunk_size", [16, 1000, 4096, 65537])
def test_chunking_does_not_change_the_stream(cipher: int, chunk_size: int) -> None:
    """One CBC chain / one keystream over the body, whatever the read sizes."""
    whole = encrypt(cipher, KEY, IV, BODY[:200_000])
    context = ekcd.body_cipher(cipher, KEY, IV, encrypt=True)
    reader = ekcd.CryptReader(io.BytesIO(BODY[:200_000]), context, chunk_size=chunk_size)
    out = bytearray()
    buffer = bytearray(777)  # small odd reads through readinto, as decompressors do
    while count := reader.readinto(buffer):
        out += buffer[:count]
    assert bytes(out) == whole


def test_aes_body_cut_inside_a_block_fails_at_the_end() -> None:
    data = encrypt(abi.ENC_AES_256_CBC, KEY, IV, BODY[:4096])[:-5]
    reader = ekcd.CryptReader(io.BytesIO(data), ekcd.body_cipher(1, KEY, IV, encrypt=False))
    with pytest.raises(ValueError):
        for _ in reader.chunks():
            pass


def test_only_the_first_32_key_bytes_matter() -> None:
    other = KEY[:32] + os.urandom(32)
    for cipher in (abi.ENC_AES_256_CBC, abi.ENC_CHACHA20):
        assert encrypt(cipher, KEY, IV, BODY[:4096]) == encrypt(cipher, other, IV, BODY[:4096])


def test_unknown_cipher() -> None:
    with pytest.raises(ValueError):
        ekcd.body_cipher(3, KEY, IV, encrypt=False)


def test_reader_wipe(tmp_path: Path) -> None:
    path = tmp_path / "body"
    path.write_bytes(BODY[:4096])
    with path.open("rb") as source:
        reader = ekcd.CryptReader(source, ekcd.body_cipher(2, KEY, IV, encrypt=True), 4096)
        list(reader.chunks())
        reader.wipe()
    assert not any(reader._in) and not any(reader._out)
