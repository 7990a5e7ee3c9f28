"""`netdump keygen`: files, modes, refusals, and acceptance by openssl and by dumpon's loader."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dumpon.crypto import ekcd
from dumpon.crypto.keyfile import parse_private_key, parse_public_key
from dumpon.kernel import abi
from tests.ekcd_support import openssl, requires_openssl

NETDUMP = Path(sys.executable).parent / "netdump"


def keygen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NETDUMP), "keygen", *map(str, args)], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keygen")
    done = keygen("-b", "2048", "-o", directory)
    assert done.returncode == 0, done.stderr
    assert f"dumpon -k {directory}/public.pem" in done.stdout
    assert "off the client" in done.stdout
    return directory


def test_files_and_modes(keys: Path) -> None:
    private, public = keys / "private.pem", keys / "public.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert sorted(p.name for p in keys.iterdir()) == ["private.pem", "public.pem"]


@requires_openssl
def test_openssl_accepts_the_pair(keys: Path) -> None:
    assert b"RSA key ok" in openssl("rsa", "-check", "-noout", "-in", str(keys / "private.pem"))
    text = openssl("pkey", "-pubin", "-in", str(keys / "public.pem"), "-noout", "-text")
    assert b"Public-Key: (2048 bit)" in text
    derived = openssl("rsa", "-in", str(keys / "private.pem"), "-pubout")
    assert derived == (keys / "public.pem").read_bytes()


def test_dumpon_loader_accepts_the_public_key(keys: Path) -> None:
    wrapped = ekcd.wrap_dump_key(str(keys / "public.pem"), abi.ENC_CHACHA20, abi.COMP_NONE)
    assert len(wrapped.wrapped) == 256


def test_refuses_to_overwrite(keys: Path) -> None:
    before = (keys / "private.pem").read_bytes()
    done = keygen("-b", "2048", "-o", keys)
    assert done.returncode == 1
    expected = f"netdump: {keys}/private.pem already exists (use --force to replace it)\n"
    assert done.stderr == expected
    assert (keys / "private.pem").read_bytes() == before


def test_refuses_when_only_public_exists(tmp_path: Path) -> None:
    (tmp_path / "public.pem").write_text("mine\n")
    assert keygen("-b", "2048", "-o", tmp_path).returncode == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["public.pem"]


def test_force_replaces(tmp_path: Path) -> None:
    (tmp_path / "private.pem").write_text("old\n")
    (tmp_path / "public.pem").write_text("old\n")
    done = keygen("-b", "2048", "-o", tmp_path, "--force")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "private.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE((tmp_path / "private.pem").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private.pem", "public.pem"]


@pytest.mark.parametrize("bits", ["1024", "2047", "16392"])
def test_size_limits(tmp_path: Path, bits: str) -> None:
    done = keygen("-b", bits, "-o", tmp_path)
    assert done.returncode == 64
    assert "between 2048 and 16384 bits" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_directory(tmp_path: Path) -> None:
    done = keygen("-b", "2048", "-o", tmp_path / "nope")
    assert done.returncode == 73
    assert done.stderr == f"netdump: {tmp_path}/nope/private.pem: No such file or directory\n"


def test_unusable_directory_fails_before_generating(tmp_path: Path) -> None:
    """A 16384-bit key takes about a minute to generate: the directory is checked first."""
    (tmp_path / "file").write_text("")
    for directory, reason in [
        (tmp_path / "nope", "No such file or directory"),
        (tmp_path / "file", "Not a directory"),
    ]:
        started = time.monotonic()
        done = keygen("-b", "16384", "-o", directory)
        assert time.monotonic() - started < 10
        assert (done.returncode, done.stderr) == (
            73,
            f"netdump: {directory}/private.pem: {reason}\n",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("bits", ["2049", "4095", "16383"])
def test_odd_sizes_are_refused(tmp_path: Path, bits: str) -> None:
    done = keygen("-b", bits, "-o", tmp_path)
    assert done.returncode == 64
    assert done.stderr == (
        f"netdump: key size must be an even number of bits (got {bits}: OpenSSL would make a"
        f" {int(bits) - 1}-bit key)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_size_is_exact(tmp_path: Path) -> None:
    """2050 bits is not a multiple of 8: the modulus still has exactly 2050 bits."""
    assert keygen("-b", "2050", "-o", tmp_path).returncode == 0
    private = parse_private_key((tmp_path / "private.pem").read_bytes())
    public = parse_public_key((tmp_path / "public.pem").read_bytes())
    assert private.key_size == public.key.key_size == 2050
    assert private.public_key().public_numbers().n.bit_length() == 2050


def matching(directory: Path) -> bool:
    private = parse_private_key((directory / "private.pem").read_bytes())
    public = parse_public_key((directory / "public.pem").read_bytes())
    return bool(private.public_key().public_numbers() == public.key.public_numbers())


# Runs `netdump keygen` and dies by SIGKILL on the n-th rename into place.
KILLED_AT_RENAME = """
import os, signal, sys
real_replace, count, at = os.replace, [0], int(sys.argv[1])
def replace(src, dst):
    count[0] += 1
    if count[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
os.replace = replace
sys.argv = ["netdump", "keygen", *sys.argv[2:]]
from dumpon.cli.netdump import main
main()
"""


@pytest.mark.parametrize("killed_at", [1, 2])
def test_interrupted_force_never_leaves_a_mismatched_pair(tmp_path: Path, killed_at: int) -> None:
    assert keygen("-b", "2048", "-o", tmp_path).returncode == 0
    old_public = (tmp_path / "public.pem").read_bytes()
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_AT_RENAME,
            str(killed_at),
            "-b",
            "2048",
            "-o",
            str(tmp_path),
            "--force",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    # The next run in the directory puts the pair right before anything else.
    done = keygen("-b", "2048", "-o", tmp_path)
    assert done.returncode == 1
    assert "already exists" in done.stderr
    assert matching(tmp_path)
    if killed_at == 1:  # stopped before the private key moved: the old pair stays
        assert (tmp_path / "public.pem").read_bytes() == old_public
        assert done.stderr.count("\n") == 1
    else:  # stopped between the moves: the new pair is completed
        assert (tmp_path / "public.pem").read_bytes() != old_public
        assert done.stderr.startswith(
            f"netdump: {tmp_path}: completed the key replacement an interrupted run left\n"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private.pem", "public.pem"]


def test_force_replaces_a_pair_and_reports_keys_written(tmp_path: Path) -> None:
    assert keygen("-b", "2048", "-o", tmp_path).returncode == 0
    before = (tmp_path / "private.pem").read_bytes()
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [str(NETDUMP), "keygen", "-b", "2048", "-o", str(tmp_path), "--force"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert done.returncode == 74
    assert done.stderr == "netdump: stdout: No space left on device (keys were written)\n"
    assert (tmp_path / "private.pem").read_bytes() != before
    assert matching(tmp_path)
