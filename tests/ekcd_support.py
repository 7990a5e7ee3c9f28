"""Helpers for the encrypted-dump tests: key files, the openssl peer, dumps made like a kernel."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dumpon.crypto import ekcd

OPENSSL = shutil.which("openssl")
requires_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command-line tool (the independent peer) is missing"
)
DECRYPTCORE = shutil.which("decryptcore", path=str(Path(sys.executable).parent)) or shutil.which(
    "decryptcore"
)


def openssl(*args: str, data: bytes | None = None) -> bytes:
    assert OPENSSL is not None
    done = subprocess.run([OPENSSL, *args], input=data, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@dataclass(frozen=True)
class KeyPair:
    private: rsa.RSAPrivateKey
    private_pem: Path
    public_pem: Path


def make_key_pair(directory: Path, bits: int = 2048, name: str = "") -> KeyPair:
    """Key files as the FreeBSD manual's recipe writes them (PKCS#8 private, SPKI public)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    directory.mkdir(parents=True, exist_ok=True)
    private_pem = directory / f"{name}private.pem"
    public_pem = directory / f"{name}public.pem"
    private_pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_pem.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private, private_pem, public_pem)


def encrypt(cipher: int, key: bytes | bytearray, iv: bytes, body: bytes) -> bytes:
    """A body encrypted as the kernel does, through the library's streaming path."""
    context = ekcd.body_cipher(cipher, key, iv, encrypt=True)
    reader = ekcd.CryptReader(io.BytesIO(body), context, chunk_size=64 * 1024)
    return b"".join(bytes(piece) for piece in reader.chunks())


@dataclass(frozen=True)
class Dump:
    blob: ekcd.KeyBlob
    key: bytes
    key_file: Path
    encrypted: Path


def write_dump(
    pair: KeyPair,
    directory: Path,
    cipher: int,
    body: bytes,
    *,
    key_name: str = "key.0",
    core_name: str = "vmcore_encrypted.0",
    padding: ekcd.Padding = "oaep",
) -> Dump:
    """Key blob and encrypted body as savecore or netdumpd store them."""
    wrapped = ekcd.wrap_dump_key(str(pair.public_pem), cipher, 0, padding)
    blob = ekcd.KeyBlob.for_dump(wrapped, os.urandom(ekcd.IV_SIZE))
    key = bytes(wrapped.key)
    wrapped.wipe()
    key_file = directory / key_name
    key_file.write_bytes(blob.pack())
    encrypted = directory / core_name
    encrypted.write_bytes(encrypt(blob.cipher, key, blob.iv, body))
    return Dump(blob, key, key_file, encrypted)
