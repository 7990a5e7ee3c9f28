"""The installed `decryptcore` console script, end to end, against openssl-made dumps too."""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
from pathlib import Path

import pytest
import zstandard

from dumpon.crypto import decrypt, ekcd
from dumpon.crypto.decompress import ZstdFrameTracker
from dumpon.kernel import abi
from tests.ekcd_support import (
    DECRYPTCORE,
    KeyPair,
    make_key_pair,
    openssl,
    requires_openssl,
    write_dump,
)

# A minidump's magic (sys/amd64/include/minidump.h), so that no wrong-key warning is due
MINIDUMP = b"minidump FreeBSD/amd64".ljust(24, b"\0")
BODY = MINIDUMP + os.urandom((1 << 20) - len(MINIDUMP))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("keys"))


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert DECRYPTCORE is not None, "decryptcore is not installed (pip install -e .)"
    return subprocess.run(
        [DECRYPTCORE, *map(str, args)], capture_output=True, text=True, check=False
    )


def failure(*args: str | Path) -> str:
    done = run(*args)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


@pytest.mark.parametrize("cipher", [abi.ENC_AES_256_CBC, abi.ENC_CHACHA20])
@pytest.mark.parametrize("padding", ["oaep", "pkcs1"])
def test_savecore_names(pair: KeyPair, tmp_path: Path, cipher: int, padding: ekcd.Padding) -> None:
    write_dump(pair, tmp_path, cipher, BODY, padding=padding)
    done = run("-p", pair.private_pem, "-d", tmp_path, "-n", "0")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    core = tmp_path / "vmcore.0"
    assert core.read_bytes() == BODY
    assert stat.S_IMODE(core.stat().st_mode) == 0o600


def test_explicit_names_and_verbose(pair: KeyPair, tmp_path: Path) -> None:
    dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    out = tmp_path / "plain"
    done = run("-v", "-p", pair.private_pem, "-k", dump.key_file, "-e", dump.encrypted, "-c", out)
    assert done.returncode == 0 and out.read_bytes() == BODY
    assert "chacha20" in done.stderr and done.stderr.startswith("decryptcore: ")


@requires_openssl
@pytest.mark.parametrize("cipher", [abi.ENC_AES_256_CBC, abi.ENC_CHACHA20])
def test_openssl_encrypted_body(pair: KeyPair, tmp_path: Path, cipher: int) -> None:
    """Body and wrapped key made by openssl alone; our decryptcore must read them."""
    key, iv = os.urandom(64), os.urandom(32)
    (tmp_path / "key64.bin").write_bytes(key)
    wrapped = openssl(
        "pkeyutl", "-encrypt", "-pubin", "-inkey", str(pair.public_pem),
        "-in", str(tmp_path / "key64.bin"),
        "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1",
        "-pkeyopt", "rsa_mgf1_md:sha1",
    )  # fmt: skip
    (tmp_path / "key.0").write_bytes(ekcd.KeyBlob(cipher, iv, wrapped).pack())
    if cipher == abi.ENC_AES_256_CBC:
        args = ["-aes-256-cbc", "-nopad", "-iv", iv[:16].hex()]
    else:
        args = ["-chacha20", "-iv", "00" * 8 + iv[:8].hex()]
    body = openssl("enc", *args, "-K", key[:32].hex(), data=BODY)
    (tmp_path / "vmcore_encrypted.0").write_bytes(body)
    done = run("-p", pair.private_pem, "-d", tmp_path, "-n", "0")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "vmcore.0").read_bytes() == BODY


def test_netdumpd_names(pair: KeyPair, tmp_path: Path) -> None:
    data = zstandard.ZstdCompressor().compress(BODY)
    write_dump(
        pair, tmp_path, abi.ENC_CHACHA20, data,
        key_name="key.host.example.3", core_name="vmcore_encrypted.host.example.3.zst",
    )  # fmt: skip
    assert run("-p", pair.private_pem, "-d", tmp_path, "-n", "3").returncode == 0
    assert (tmp_path / "vmcore.host.example.3.zst").read_bytes() == data
    done = run("-p", pair.private_pem, "-d", tmp_path, "-n", "3", "--decompress")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "vmcore.host.example.3").read_bytes() == BODY


def test_several_hosts_need_h(pair: KeyPair, tmp_path: Path) -> None:
    for host in ("alpha", "beta"):
        write_dump(
            pair, tmp_path, abi.ENC_CHACHA20, host.encode() * 100,
            key_name=f"key.{host}.0", core_name=f"vmcore_encrypted.{host}.0",
        )  # fmt: skip
    message = failure("-p", pair.private_pem, "-d", tmp_path, "-n", "0")
    assert "key.alpha.0, key.beta.0" in message and "-H" in message
    assert run("-p", pair.private_pem, "-d", tmp_path, "-n", "0", "-H", "beta").returncode == 0
    assert (tmp_path / "vmcore.beta.0").read_bytes() == b"beta" * 100


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_decompress(pair: KeyPair, tmp_path: Path, kind: str) -> None:
    plain = BODY[:1000] + bytes(3 << 20)  # mostly zeros, as cores are
    data = gzip.compress(plain) if kind == "gzip" else zstandard.ZstdCompressor().compress(plain)
    write_dump(pair, tmp_path, abi.ENC_CHACHA20, data)
    out = tmp_path / "out"
    done = run("-p", pair.private_pem, "-d", tmp_path, "-n", "0", "--decompress")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "vmcore.0").read_bytes() == plain
    args: list[str | Path] = ["-p", pair.private_pem, "-k", tmp_path / "key.0"]
    args += ["-e", tmp_path / "vmcore_encrypted.0"]
    assert run(*args, "-c", out).returncode == 0
    assert out.read_bytes() == data  # like FreeBSD's, without --decompress


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_truncated_compressed_body(pair: KeyPair, tmp_path: Path, kind: str) -> None:
    plain = os.urandom(300_000)
    data = gzip.compress(plain) if kind == "gzip" else zstandard.ZstdCompressor().compress(plain)
    write_dump(pair, tmp_path, abi.ENC_CHACHA20, data[: len(data) // 2])
    message = failure("-p", pair.private_pem, "-d", tmp_path, "-n", "0", "--decompress")
    assert message.startswith(f"decryptcore: Unable to decompress core: {kind}")
    assert not (tmp_path / "vmcore.0").exists()


def test_uncompressed_body_with_decompress(pair: KeyPair, tmp_path: Path) -> None:
    write_dump(pair, tmp_path, abi.ENC_AES_256_CBC, BODY)
    assert run("-p", pair.private_pem, "-d", tmp_path, "-n", "0", "--decompress").returncode == 0
    assert (tmp_path / "vmcore.0").read_bytes() == BODY


def test_truncated_aes_core_removes_partial_output(pair: KeyPair, tmp_path: Path) -> None:
    dump = write_dump(pair, tmp_path, abi.ENC_AES_256_CBC, BODY)
    dump.encrypted.write_bytes(dump.encrypted.read_bytes()[:-7])
    message = failure("-p", pair.private_pem, "-d", tmp_path, "-n", "0")
    assert message == "decryptcore: Unable to decrypt core.\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.0", "vmcore_encrypted.0"]


def test_truncated_chacha20_core_decrypts_what_is_there(pair: KeyPair, tmp_path: Path) -> None:
    """No integrity in EKCD: a stream cipher cannot tell a cut body (FreeBSD neither)."""
    dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    dump.encrypted.write_bytes(dump.encrypted.read_bytes()[:5000])
    assert run("-p", pair.private_pem, "-d", tmp_path, "-n", "0").returncode == 0
    assert (tmp_path / "vmcore.0").read_bytes() == BODY[:5000]


@pytest.mark.parametrize("length", [10, 100])
def test_truncated_key_file(pair: KeyPair, tmp_path: Path, length: int) -> None:
    dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    dump.key_file.write_bytes(dump.key_file.read_bytes()[:length])
    message = failure("-p", pair.private_pem, "-d", tmp_path, "-n", "0")
    assert message.startswith("decryptcore: Unable to read key: ")
    assert not (tmp_path / "vmcore.0").exists()


def test_wrong_private_key(pair: KeyPair, tmp_path: Path) -> None:
    other = make_key_pair(tmp_path / "other")
    dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    # PKCS#1 v1.5's implicit rejection makes up a message; only a 64-byte one would slip
    # through (as in FreeBSD), so pick a wrapping where that does not happen.
    while len(bytes(_pkcs1_or_empty(other, dump.blob.wrapped))) == 64:
        dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    message = failure("-p", other.private_pem, "-d", tmp_path, "-n", "0")
    assert message.startswith("decryptcore: Unable to decrypt key: ")
    assert not (tmp_path / "vmcore.0").exists()


def _pkcs1_or_empty(pair: KeyPair, wrapped: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        return pair.private.decrypt(wrapped, padding.PKCS1v15())
    except ValueError:
        return b""


def test_modulus_size_mismatch(pair: KeyPair, tmp_path: Path) -> None:
    other = make_key_pair(tmp_path / "other", bits=3072)
    write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    message = failure("-p", other.private_pem, "-d", tmp_path, "-n", "0")
    assert message == (
        "decryptcore: RSA modulus size mismatch: equals 3072b and should be 2048b.\n"
    )


@pytest.mark.parametrize("which", ["public", "garbage"])
def test_bad_private_key_file(pair: KeyPair, tmp_path: Path, which: str) -> None:
    write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    bad = pair.public_pem if which == "public" else tmp_path / "garbage.pem"
    if which == "garbage":
        bad.write_bytes(b"not a key\n")
    message = failure("-p", bad, "-d", tmp_path, "-n", "0")
    assert message == f"decryptcore: Unable to read data from {bad}.\n"


def test_invalid_cipher_byte(pair: KeyPair, tmp_path: Path) -> None:
    dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    raw = bytearray(dump.key_file.read_bytes())
    raw[0] = 7
    dump.key_file.write_bytes(bytes(raw))
    message = failure("-p", pair.private_pem, "-d", tmp_path, "-n", "0")
    assert message == "decryptcore: Invalid encryption algorithm.\n"


def test_missing_files(pair: KeyPair, tmp_path: Path) -> None:
    message = failure("-p", pair.private_pem, "-d", tmp_path, "-n", "4")
    assert message == f"decryptcore: Unable to open {tmp_path}/key.4: No such file or directory.\n"
    assert not (tmp_path / "vmcore.4").exists()


def test_existing_output(pair: KeyPair, tmp_path: Path) -> None:
    write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    core = tmp_path / "vmcore.0"
    core.write_bytes(b"old")
    message = failure("-p", pair.private_pem, "-d", tmp_path, "-n", "0")
    assert message == f"decryptcore: Unable to open {core}: File exists.\n"
    assert core.read_bytes() == b"old"
    assert run("-f", "-p", pair.private_pem, "-d", tmp_path, "-n", "0").returncode == 0
    assert core.read_bytes() == BODY and stat.S_IMODE(core.stat().st_mode) == 0o600


def test_failed_force_keeps_the_old_output(pair: KeyPair, tmp_path: Path) -> None:
    dump = write_dump(pair, tmp_path, abi.ENC_AES_256_CBC, BODY)
    dump.encrypted.write_bytes(dump.encrypted.read_bytes()[:-1])
    (tmp_path / "vmcore.0").write_bytes(b"old")
    failure("-f", "-p", pair.private_pem, "-d", tmp_path, "-n", "0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.0", "vmcore.0", "vmcore_encrypted.0"]
    assert (tmp_path / "vmcore.0").read_bytes() == b"old"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-p", "k"],
        ["-p", "k", "-n", "1x"],
        ["-p", "k", "-n", "\u0661"],  # ARABIC-INDIC DIGIT ONE: a digit, but not ASCII
        ["-p", "k", "-n", "1", "-k", "key.1"],
        ["-p", "k", "-d", "/tmp", "-k", "a", "-e", "b", "-c", "c"],
        ["-p", "k", "-H", "h", "-k", "a", "-e", "b", "-c", "c"],
        ["-p", "k", "-k", "a", "-e", "b"],
        ["-p", "k", "-n", "1", "extra"],
    ],
)
def test_usage(args: list[str]) -> None:
    message = failure(*args)
    assert message.startswith("usage: decryptcore [-fLv]")


def test_illegal_option() -> None:
    message = failure("-x")
    assert message.startswith("decryptcore: illegal option -- x\nusage: decryptcore")
    assert failure("-p").startswith("decryptcore: option requires an argument -- p\n")


def test_syslog_mode_keeps_stderr_quiet(pair: KeyPair, tmp_path: Path) -> None:
    done = run("-L", "-p", pair.private_pem, "-d", tmp_path, "-n", "9")
    assert done.returncode == 1 and done.stderr == ""


def test_dump_files_without_any_dump(tmp_path: Path) -> None:
    files = decrypt.dump_files(str(tmp_path), "2")
    assert files == decrypt.DumpFiles(
        f"{tmp_path}/key.2", f"{tmp_path}/vmcore_encrypted.2", f"{tmp_path}/vmcore.2"
    )


def test_zstd_frame_tracker() -> None:
    frames = zstandard.ZstdCompressor(write_checksum=True).compress(BODY[:5000]) * 2
    for cut, whole in ((len(frames), True), (len(frames) // 2, True), (len(frames) - 1, False)):
        tracker = ZstdFrameTracker()
        for at in range(0, cut, 7):
            tracker.feed(frames[at : min(at + 7, cut)])
        assert tracker.complete is whole
