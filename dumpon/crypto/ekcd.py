"""Encrypted kernel crash dumps (EKCD): the one-time key, its RSA wrapping, the key blob
(`struct kerneldumpkey`), per-dump IVs and the two body ciphers, streamed.

cryptography and hashlib are imported inside the functions that use them, so that
`import dumpon.crypto.ekcd` stays cheap for dumpon and decryptcore (hashlib loads a second
copy of OpenSSL's libcrypto); the one-time key comes from os.urandom(), which is what
secrets.token_bytes() returns, without secrets' imports.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol

from dumpon.errors import Exit, ToolError
from dumpon.kernel.abi import (
    COMP_NONE,
    ENC_AES_256_CBC,
    ENC_CHACHA20,
    ENC_NONE,
    ENCKEY_MAX_SIZE,
    KEY_SIZE,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
    from cryptography.hazmat.primitives.ciphers import CipherContext

IV_SIZE: Final = 32  # KERNELDUMP_IV_MAX_SIZE
CIPHER_KEY_SIZE: Final = 32  # the kernel uses the first 32 of the 64 key bytes
NETDUMP_BLOCK_SIZE: Final = 4096
CHUNK_SIZE: Final = 1 << 20  # large enough that Python's per-call cost vanishes
_KDK_HEADER: Final = struct.Struct(">B32sI")  # kdk_encryption, kdk_iv, kdk_encryptedkeysize
KDK_HEADER_SIZE: Final = _KDK_HEADER.size  # 37

CIPHER_NAMES: Final = {ENC_AES_256_CBC: "aes-256-cbc", ENC_CHACHA20: "chacha20"}

Padding = Literal["oaep", "pkcs1"]


class Readable(Protocol):
    def readinto(self, buffer: bytearray, /) -> int | None: ...


class StreamContext(Protocol):
    """What a body cipher offers: cryptography's CipherContext, or ChaCha20Stream."""

    def update_into(self, data: bytes | bytearray | memoryview, buf: bytearray, /) -> int: ...

    def finalize(self) -> bytes: ...


@dataclass(slots=True)
class WrappedKey:
    """A fresh one-time key, in clear for the kernel and wrapped for the administrator."""

    cipher: int
    key: bytearray
    wrapped: bytes
    public_key_pem: bytes

    def wipe(self) -> None:
        """Overwrite the clear key in place (dumpon wipes its buffers once the kernel has it)."""
        self.key[:] = bytes(len(self.key))


def wrap_dump_key(
    pubkey_path: str, cipher: int, compression: int, padding: Padding = "oaep"
) -> WrappedKey:
    """dumpon `-k`: load the public key, draw a 64-byte key and wrap it.

    `cipher` ENC_NONE means the default, ChaCha20.  `padding` is "oaep" for the 13.0+
    ABI and "pkcs1" for 12.x.  Every failure is a ToolError with FreeBSD's text, exit 1.
    """
    from dumpon.crypto.keyfile import load_public_key

    if cipher == ENC_NONE:
        cipher = ENC_CHACHA20
    if cipher not in CIPHER_NAMES:
        raise ValueError(f"unknown dump cipher {cipher}")
    public = load_public_key(pubkey_path)
    if cipher == ENC_AES_256_CBC and compression != COMP_NONE:
        raise ToolError("Unpadded AES256-CBC mode cannot be used with compression.", Exit.FAILURE)
    key = bytearray(os.urandom(KEY_SIZE))
    try:
        wrapped = wrap_key(public.key, key, padding)
    except ValueError as exc:
        raise ToolError(f"Unable to encrypt the one-time key: {exc}", Exit.FAILURE) from exc
    return WrappedKey(cipher, key, wrapped, public.pem)


def _rsa_padding(padding: Padding) -> AsymmetricPadding:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding

    if padding == "oaep":
        # OpenSSL's RSA_PKCS1_OAEP_PADDING defaults, which the kernel's reader expects.
        return rsa_padding.OAEP(
            mgf=rsa_padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None
        )
    return rsa_padding.PKCS1v15()


def wrap_key(public_key: RSAPublicKey, key: bytes | bytearray, padding: Padding = "oaep") -> bytes:
    """RSA-encrypt the one-time key; the result is exactly the modulus size."""
    return public_key.encrypt(bytes(key), _rsa_padding(padding))


def unwrap_key(private_key: RSAPrivateKey, wrapped: bytes) -> bytearray:
    """The 64-byte one-time key: OAEP first, then PKCS#1 v1.5 (12.x dumps), as decryptcore.

    Raises ValueError when neither padding gives 64 bytes (a wrong private key, mostly).
    """
    for padding in ("oaep", "pkcs1"):
        try:
            key = bytearray(private_key.decrypt(wrapped, _rsa_padding(padding)))
        except ValueError:
            continue
        if len(key) == KEY_SIZE:
            return key
        key[:] = bytes(len(key))
    raise ValueError("neither OAEP nor PKCS#1 v1.5 padding yields a 64-byte key")


@dataclass(frozen=True, slots=True)
class KeyBlob:
    """`struct kerneldumpkey`: cipher, per-dump IV and the wrapped key (packed, big-endian)."""

    cipher: int
    iv: bytes
    wrapped: bytes

    def pack(self, block_size: int = NETDUMP_BLOCK_SIZE) -> bytes:
        """The blob as the kernel sends it, zero-padded to a multiple of `block_size`."""
        raw = _KDK_HEADER.pack(self.cipher, self.iv, len(self.wrapped)) + self.wrapped
        return raw.ljust(-(-len(raw) // block_size) * block_size, b"\0")

    @classmethod
    def parse(cls, data: bytes) -> KeyBlob:
        """Read a blob (padding ignored); ValueError when `data` is too short for it."""
        if len(data) < _KDK_HEADER.size:
            raise ValueError(f"{len(data)} bytes, the key header alone is {_KDK_HEADER.size}")
        cipher, iv, size = _KDK_HEADER.unpack_from(data)
        if size == 0 or size > ENCKEY_MAX_SIZE:
            raise ValueError(f"wrapped key size {size} is not between 1 and {ENCKEY_MAX_SIZE}")
        end = _KDK_HEADER.size + size
        if len(data) < end:
            raise ValueError(f"{len(data)} bytes, the key needs {end}")
        return cls(cipher, iv, bytes(data[_KDK_HEADER.size : end]))

    @classmethod
    def for_dump(cls, wrapped: WrappedKey, previous_iv: bytes) -> KeyBlob:
        """The blob the kernel sends with a dump: its IV follows from the previous one."""
        return cls(wrapped.cipher, next_iv(previous_iv), wrapped.wrapped)


def next_iv(previous_iv: bytes) -> bytes:
    """The kernel replaces the IV by SHA-256 of itself at the start of every dump."""
    import hashlib

    return hashlib.sha256(previous_iv).digest()


def chacha20_nonce(iv: bytes, first_block: int = 0) -> bytes:
    """cryptography's 16-byte ChaCha20 "nonce": a 64-bit little-endian block counter, then
    the 64-bit dump nonce (kdk_iv[:8]), i.e. the original 64/64 ChaCha20 the kernel runs.

    Not the RFC 8439 32/96 split: that would differ once a body passes 2**32 blocks.
    """
    return first_block.to_bytes(8, "little") + iv[:8]


def body_cipher(cipher: int, key: bytes | bytearray, iv: bytes, *, encrypt: bool) -> StreamContext:
    """A streaming context for a dump body: one CBC chain without padding, or one keystream."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    cipher_key = bytes(key[:CIPHER_KEY_SIZE])
    if cipher == ENC_CHACHA20:
        return ChaCha20Stream(cipher_key, iv)  # encryption and decryption are the same XOR
    if cipher != ENC_AES_256_CBC:
        raise ValueError(f"unknown dump cipher {cipher}")
    engine = Cipher(algorithms.AES256(cipher_key), modes.CBC(iv[:16]))
    return engine.encryptor() if encrypt else engine.decryptor()


def chunk_decryptor(cipher: int, key: bytes | bytearray, iv: bytes) -> ChunkDecryptor:
    """A body decryptor that takes the body in chunks, in any order, on any thread."""
    cipher_key = bytes(key[:CIPHER_KEY_SIZE])
    if cipher == ENC_CHACHA20:
        return ChaCha20Chunks(cipher_key, iv)
    if cipher != ENC_AES_256_CBC:
        raise ValueError(f"unknown dump cipher {cipher}")
    return AesCbcChunks(cipher_key, iv)


class ChunkDecryptor(Protocol):
    """Decrypts any chunk of a body on its own, so chunks can go to several threads at once
    (OpenSSL releases the GIL).

    `decrypt(offset, before, source, target)` decrypts the body bytes `source` found at
    `offset` into `target` (which needs `len(source) + 15` bytes).  `before` holds the
    `lead` body bytes just before `offset` (empty at offset 0).  Offsets are multiples of
    `alignment`; only the body's last chunk may be shorter than a multiple of it.
    """

    alignment: int
    lead: int

    def decrypt(
        self, offset: int, before: memoryview, source: memoryview, target: memoryview
    ) -> None: ...


class AesCbcChunks:
    """CBC decryption needs only the previous ciphertext block besides the current one, so
    a chunk decrypts with the block before it as its IV."""

    alignment = 16
    lead = 16

    def __init__(self, key: bytes, iv: bytes) -> None:
        self._key = key
        self._iv = iv[:16]

    def decrypt(
        self, offset: int, before: memoryview, source: memoryview, target: memoryview
    ) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        if len(source) % 16:
            raise ValueError("the body is not a whole number of AES blocks")
        iv = bytes(before) if offset else self._iv
        context = Cipher(algorithms.AES256(self._key), modes.CBC(iv)).decryptor()
        context.update_into(source, target)
        context.finalize()


class ChaCha20Chunks:
    """The keystream can start at any block: each chunk gets a context at its own counter."""

    alignment = 64
    lead = 0

    def __init__(self, key: bytes, iv: bytes) -> None:
        self._key = key
        self._iv = iv

    def decrypt(
        self, offset: int, before: memoryview, source: memoryview, target: memoryview
    ) -> None:
        if offset % 64:
            raise ValueError(f"a ChaCha20 chunk must start on a block, not at {offset}")
        ChaCha20Stream(self._key, self._iv, offset // 64).update_into(source, target)


_CHACHA20_SEGMENT: Final = 64 << 32  # bytes in 2**32 blocks


class ChaCha20Stream:
    """The kernel's ChaCha20 keystream (64-bit block counter) over a body of any length.

    cryptography 50 (OpenSSL 4.0) raises instead of carrying the block counter past
    2**32 - 1 into the next word (earlier releases carried), so the stream is cut at every
    2**32-block boundary (256 GiB) and a fresh context is started at the next counter.
    """

    def __init__(self, key: bytes, iv: bytes, first_block: int = 0) -> None:
        self._key = key
        self._iv = iv
        self._position = first_block * 64  # bytes of keystream since block 0
        self._context = self._start()

    def _start(self) -> CipherContext:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

        nonce = chacha20_nonce(self._iv, self._position // 64)
        return Cipher(algorithms.ChaCha20(self._key, nonce), None).encryptor()

    def update_into(
        self, data: bytes | bytearray | memoryview, buf: bytearray | memoryview, /
    ) -> int:
        view, out, done = memoryview(data), memoryview(buf), 0
        while done < len(view):
            room = _CHACHA20_SEGMENT - self._position % _CHACHA20_SEGMENT
            step = min(room, len(view) - done)
            self._context.update_into(view[done : done + step], out[done:])
            done += step
            self._position += step
            if step == room:
                self._context = self._start()
        return done

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        out = bytearray(len(data))
        self.update_into(data, out)
        return bytes(out)

    def finalize(self) -> bytes:
        return self._context.finalize()


class CryptReader(io.RawIOBase):
    """A readable stream of `source` passed through `context`, in constant memory.

    Errors from `source` surface as OSError, a body that is not whole AES blocks as
    ValueError (at the end).  `chunks()` gives the output without a copy; `readinto`
    lets decompressors read it like a file.
    """

    def __init__(self, source: Readable, context: StreamContext, chunk_size: int = CHUNK_SIZE):
        super().__init__()
        self._source = source
        self._context = context
        self._in = bytearray(chunk_size)
        self._out = bytearray(chunk_size + 15)  # room for a CBC block held back from before
        self._pending = memoryview(b"")
        self._finished = False
        self.bytes_in = 0

    def readable(self) -> bool:
        return True

    def _fill(self) -> memoryview:
        """The next non-empty piece of output, or an empty view at the end."""
        while not self._finished:
            count = self._source.readinto(self._in)
            if not count:
                self._finished = True
                return memoryview(self._context.finalize())
            self.bytes_in += count
            produced = self._context.update_into(memoryview(self._in)[:count], self._out)
            if produced:
                return memoryview(self._out)[:produced]
        return memoryview(b"")

    def chunks(self) -> Iterator[memoryview]:
        """Output pieces; each is valid only until the next one is asked for."""
        if self._pending:
            yield self._pending
            self._pending = memoryview(b"")
        while piece := self._fill():
            yield piece

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            self._pending = self._fill()
        count = min(len(buffer), len(self._pending))
        memoryview(buffer).cast("B")[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def wipe(self) -> None:
        """Clear the plaintext left in the buffers."""
        self._in[:] = bytes(len(self._in))
        self._out[:] = bytes(len(self._out))
