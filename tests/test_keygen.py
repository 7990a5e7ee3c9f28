"""`netdump keygen`: files, modes, refusals, and acceptance by openssl and by dumpon's loader."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dumpon.crypto import ekcd
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
