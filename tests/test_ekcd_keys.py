"""Public key loading (FreeBSD's rules and messages), key wrapping and the key blob."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dumpon.crypto import ekcd
from dumpon.crypto.keyfile import KeyFileError, parse_private_key
from dumpon.errors import ToolError
from dumpon.kernel import abi
from tests.ekcd_support import KeyPair, make_key_pair, openssl, requires_openssl


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("keys"))


def _error(path: Path | str) -> ToolError:
    with pytest.raises(ToolError) as info:
        ekcd.wrap_dump_key(str(path), abi.ENC_CHACHA20, abi.COMP_NONE)
    assert info.value.exit_code == 1
    assert "\n" not in info.value.message
    return info.value


def test_import_does_not_load_cryptography() -> None:
    code = "import sys, dumpon.crypto.ekcd, dumpon.crypto.keyfile, dumpon.crypto.decrypt\n"
    code += "print('cryptography' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@requires_openssl
def test_openssl_made_key_is_accepted(tmp_path: Path) -> None:
    openssl("genrsa", "-out", str(tmp_path / "private.pem"), "2048")
    openssl(
        "rsa", "-in", str(tmp_path / "private.pem"), "-out", str(tmp_path / "public.pem"), "-pubout"
    )
    wrapped = ekcd.wrap_dump_key(str(tmp_path / "public.pem"), abi.ENC_NONE, abi.COMP_ZSTD)
    assert wrapped.cipher == abi.ENC_CHACHA20  # the 13+ default
    assert len(wrapped.key) == 64
    assert len(wrapped.wrapped) == 256
    assert wrapped.public_key_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")


@requires_openssl
@pytest.mark.parametrize(
    ("padding", "options"),
    [
        ("oaep", ["rsa_padding_mode:oaep", "rsa_oaep_md:sha1", "rsa_mgf1_md:sha1"]),
        ("pkcs1", ["rsa_padding_mode:pkcs1"]),
    ],
)
def test_wrapped_key_unwraps_with_openssl(
    pair: KeyPair, tmp_path: Path, padding: ekcd.Padding, options: list[str]
) -> None:
    wrapped = ekcd.wrap_dump_key(str(pair.public_pem), abi.ENC_AES_256_CBC, 0, padding)
    (tmp_path / "wrapped.bin").write_bytes(wrapped.wrapped)
    args = ["pkeyutl", "-decrypt", "-inkey", str(pair.private_pem)]
    args += ["-in", str(tmp_path / "wrapped.bin")]
    for option in options:
        args += ["-pkeyopt", option]
    assert openssl(*args) == bytes(wrapped.key)
    assert ekcd.unwrap_key(pair.private, wrapped.wrapped) == wrapped.key


def test_wipe_zeroes_the_key(pair: KeyPair) -> None:
    wrapped = ekcd.wrap_dump_key(str(pair.public_pem), abi.ENC_CHACHA20, 0)
    buffer = wrapped.key
    wrapped.wipe()
    assert buffer == bytes(64) and wrapped.key is buffer


def test_aes_with_compression_is_refused(pair: KeyPair) -> None:
    with pytest.raises(ToolError) as info:
        ekcd.wrap_dump_key(str(pair.public_pem), abi.ENC_AES_256_CBC, abi.COMP_GZIP)
    assert info.value.message == "Unpadded AES256-CBC mode cannot be used with compression."
    assert info.value.exit_code == 1


def test_pkcs1_public_key_is_refused(pair: KeyPair, tmp_path: Path) -> None:
    path = tmp_path / "rsa-public.pem"
    path.write_bytes(
        pair.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )
    )
    message = _error(path).message
    assert message.startswith(f"Unable to read data from {path}: ")
    assert "BEGIN RSA PUBLIC KEY" in message


def test_private_key_given_as_public_is_refused(pair: KeyPair) -> None:
    message = _error(pair.private_pem).message
    assert message.startswith(f"Unable to read data from {pair.private_pem}: this is a private key")


def test_ec_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert _error(path).message == f"Unable to read data from {path}: not an RSA key (EC)"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"hello\x00\xff garbage\n", "no PEM 'BEGIN PUBLIC KEY' block found"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "malformed PUBLIC KEY"),
    ],
)
def test_garbage_is_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.pem"
    path.write_bytes(content)
    assert _error(path).message.startswith(f"Unable to read data from {path}: {reason}")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    assert _error(missing).message == f"Unable to open {missing}: No such file or directory"
    assert _error(tmp_path).message == f"Unable to open {tmp_path}: Is a directory"


def _unprivileged(task: Callable[[], str]) -> str:
    """Run `task` in a forked child that is root no more (root reads files whatever their
    mode), and return what it answered."""
    if os.geteuid() != 0:
        return task()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, answer through the pipe, never return
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(writer, task().encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        text = answer.read().decode()
    os.waitpid(pid, 0)
    return text


def test_unreadable_file(pair: KeyPair) -> None:
    directory = Path(tempfile.mkdtemp(prefix="dumpon-locked-"))
    try:
        directory.chmod(0o755)
        path = directory / "locked.pem"
        path.write_bytes(pair.public_pem.read_bytes())
        path.chmod(0)
        message = _unprivileged(lambda: _error(path).message)
        assert message == f"Unable to open {path}: Permission denied"
    finally:
        shutil.rmtree(directory)


def test_open_failure_root_also_gets(pair: KeyPair) -> None:
    """An open(2) failure that does not depend on privileges: a file used as a directory."""
    path = pair.public_pem / "x"
    assert _error(path).message == f"Unable to open {path}: Not a directory"


def test_small_key_message(tmp_path: Path) -> None:
    path = tmp_path / "small.pem"
    path.write_bytes(
        rsa.generate_private_key(65537, 1024)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert _error(path).message == (
        "Small RSA keys (you provided: 1024b) can be factored cheaply."
        "  Please generate a larger key."
    )


def test_huge_key_message(tmp_path: Path) -> None:
    # Generating a 16392-bit key takes minutes; a public key only needs an odd modulus.
    modulus = int.from_bytes(os.urandom(16392 // 8), "big") | (1 << 16391) | 1
    public = rsa.RSAPublicNumbers(65537, modulus).public_key()
    path = tmp_path / "huge.pem"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    path.write_bytes(public.public_bytes(serialization.Encoding.PEM, spki))
    assert _error(path).message == "Public key has to be at most 16384b long."


def test_public_block_after_other_blocks_is_found(pair: KeyPair, tmp_path: Path) -> None:
    """PEM_read_RSA_PUBKEY skips blocks of other types before the public key."""
    path = tmp_path / "both.pem"
    path.write_bytes(pair.private_pem.read_bytes() + pair.public_pem.read_bytes())
    wrapped = ekcd.wrap_dump_key(str(path), abi.ENC_CHACHA20, 0)
    assert wrapped.public_key_pem == pair.public_pem.read_bytes()


def test_key_blob_layout_and_padding() -> None:
    blob = ekcd.KeyBlob(abi.ENC_CHACHA20, bytes(range(32)), b"\xaa" * 256)
    raw = blob.pack()
    assert len(raw) == 4096
    assert raw[0] == 2 and raw[1:33] == bytes(range(32))
    assert raw[33:37] == (256).to_bytes(4, "big")
    assert raw[37:293] == b"\xaa" * 256 and raw[293:] == bytes(4096 - 293)
    assert len(blob.pack(block_size=512)) == 512
    assert ekcd.KeyBlob.parse(raw) == blob
    assert len(ekcd.KeyBlob(1, bytes(32), b"\1" * 2048).pack(512)) == 2560


@pytest.mark.parametrize("length", [0, 36, 37, 292])
def test_truncated_key_blob(length: int) -> None:
    raw = ekcd.KeyBlob(abi.ENC_CHACHA20, bytes(32), b"\xaa" * 256).pack()
    with pytest.raises(ValueError):
        ekcd.KeyBlob.parse(raw[:length] if length != 37 else raw[:33] + bytes(4))


def test_iv_chain_is_sha256() -> None:
    import hashlib

    first = os.urandom(32)
    assert ekcd.next_iv(first) == hashlib.sha256(first).digest()
    wrapped = ekcd.WrappedKey(abi.ENC_CHACHA20, bytearray(64), b"w", b"")
    blob = ekcd.KeyBlob.for_dump(wrapped, first)
    assert blob.iv == ekcd.next_iv(first) and blob.iv != first


def test_wrong_private_key_does_not_unwrap(pair: KeyPair) -> None:
    other = rsa.generate_private_key(65537, 2048)
    wrapped = ekcd.wrap_dump_key(str(pair.public_pem), abi.ENC_CHACHA20, 0)
    with pytest.raises(ValueError):
        # PKCS#1 v1.5 implicit rejection may yield a random message; 64 bytes is rare but
        # possible, so retry with fresh keys in that case rather than flake.
        for _ in range(3):
            ekcd.unwrap_key(other, wrapped.wrapped)
            wrapped = ekcd.wrap_dump_key(str(pair.public_pem), abi.ENC_CHACHA20, 0)


def _pem(numbers: rsa.RSAPrivateNumbers) -> bytes:
    key = numbers.private_key(unsafe_skip_rsa_key_validation=True)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize("broken", ["iqmp", "dmp1", "dmq1", "d"])
def test_private_key_numbers_are_checked_without_the_primality_tests(broken: str) -> None:
    """decryptcore loads its private key unchecked by cryptography (check=False), but a key
    whose numbers do not fit together is still refused before OpenSSL uses it."""
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    fields = {
        "p": good.p,
        "q": good.q,
        "d": good.d,
        "dmp1": good.dmp1,
        "dmq1": good.dmq1,
        "iqmp": good.iqmp,
        "public_numbers": good.public_numbers,
    }
    assert parse_private_key(_pem(rsa.RSAPrivateNumbers(**fields)), check=False)
    fields[broken] += 2
    pem = _pem(rsa.RSAPrivateNumbers(**fields))
    with pytest.raises(KeyFileError, match="numbers do not fit together"):
        parse_private_key(pem, check=False)
    with pytest.raises(KeyFileError):
        parse_private_key(pem)  # cryptography's own check refuses it too
