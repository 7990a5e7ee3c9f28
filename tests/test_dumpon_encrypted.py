"""`dumpon -k`: the one-time key reaches the kernel wrapped, and openssl can unwrap it."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from tests.ekcd_support import openssl, requires_openssl
from tests.support import Result, block_device, requires_netns, run, script, veth_namespace

pytestmark = requires_openssl


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    openssl("genrsa", "-out", str(directory / "private.pem"), "2048")
    openssl(
        "rsa",
        "-in",
        str(directory / "private.pem"),
        "-pubout",
        "-out",
        str(directory / "public.pem"),
    )
    openssl(
        "rsa",
        "-in",
        str(directory / "private.pem"),
        "-RSAPublicKey_out",
        "-out",
        str(directory / "pkcs1.pem"),
    )
    openssl("genrsa", "-out", str(directory / "small.pem"), "1024")
    openssl(
        "rsa",
        "-in",
        str(directory / "small.pem"),
        "-pubout",
        "-out",
        str(directory / "small-public.pem"),
    )
    return directory


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "kernel.json"


def dumpon(state: Path, *args: str, netns: str | None = None) -> Result:
    return run([script("dumpon"), *args], env={"DUMPON_BACKEND": f"file:{state}"}, netns=netns)


def unwrap(keys: Path, wrapped: bytes, tmp_path: Path) -> bytes:
    blob = tmp_path / "wrapped.bin"
    blob.write_bytes(wrapped)
    return openssl(
        "pkeyutl",
        "-decrypt",
        "-inkey",
        str(keys / "private.pem"),
        "-in",
        str(blob),
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha1",
        "-pkeyopt",
        "rsa_mgf1_md:sha1",
    )


def test_wrapped_key_unwraps_with_openssl(keys: Path, state: Path, tmp_path: Path) -> None:
    disk = block_device()
    result = dumpon(state, "-k", str(keys / "public.pem"), disk)
    assert (result.returncode, result.stderr) == (0, "")
    text = state.read_text()
    kernel = json.loads(text)
    entry = kernel["dumpers"][0]
    assert entry["encryption"] == "chacha20"  # the 13+ default
    wrapped = base64.b64decode(entry["encrypted_key"])
    assert len(wrapped) == 256
    one_time_key = unwrap(keys, wrapped, tmp_path)
    assert len(one_time_key) == 64
    # the emulated kernel keeps the wrapped key and the public key, never the key itself
    assert one_time_key.hex() not in text and base64.b64encode(one_time_key).decode() not in text
    assert kernel["facts"][disk]["public_key"] == (keys / "public.pem").read_text()


def test_every_configuration_gets_a_fresh_key(keys: Path, state: Path) -> None:
    disk = block_device()
    for _ in range(2):
        assert dumpon(state, "-k", str(keys / "public.pem"), disk).returncode == 0
    first, second = (d["encrypted_key"] for d in json.loads(state.read_text())["dumpers"])
    assert first != second


@pytest.mark.parametrize(
    ("cipher", "stored"),
    [
        ("AES-CBC", "aes-256-cbc"),
        ("aes256-cbc", "aes-256-cbc"),
        ("chacha", "chacha20"),
        ("ChaCha20", "chacha20"),
    ],
)
def test_cipher_choice(keys: Path, state: Path, cipher: str, stored: str) -> None:
    assert (
        dumpon(state, "-C", cipher, "-k", str(keys / "public.pem"), block_device()).returncode == 0
    )
    assert json.loads(state.read_text())["dumpers"][0]["encryption"] == stored


def test_chacha_with_compression_is_allowed(keys: Path, state: Path) -> None:
    assert dumpon(state, "-Z", "-k", str(keys / "public.pem"), block_device()).returncode == 0


def test_aes_with_compression_is_refused(keys: Path, state: Path) -> None:
    result = dumpon(state, "-z", "-C", "aes-cbc", "-k", str(keys / "public.pem"), block_device())
    assert (result.returncode, result.stderr) == (
        1,
        "dumpon: Unpadded AES256-CBC mode cannot be used with compression.\n",
    )
    assert not state.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("pkcs1.pem", "Unable to read data from {path}: "),
        ("private.pem", "Unable to read data from {path}: "),
        ("nosuch.pem", "Unable to open {path}: No such file or directory"),
        (
            "small-public.pem",
            "Small RSA keys (you provided: 1024b) can be factored cheaply.  Please generate a "
            "larger key.",
        ),
    ],
)
def test_bad_key_files(keys: Path, state: Path, name: str, message: str) -> None:
    path = keys / name
    result = dumpon(state, "-k", str(path), "loop0")
    assert result.returncode == 1
    assert result.stderr.startswith("dumpon: " + message.format(path=path))
    assert result.stderr.count("\n") == 1
    assert not state.exists()


def test_remove_selects_by_cipher(keys: Path, state: Path) -> None:
    disk = block_device()
    public = str(keys / "public.pem")
    assert dumpon(state, "-k", public, disk).returncode == 0
    assert dumpon(state, disk).returncode == 0
    assert dumpon(state, "-r", "-C", "aes-cbc", "-k", public, disk).returncode == 71
    assert dumpon(state, "-r", "-k", public, disk).returncode == 0
    assert [d["encryption"] for d in json.loads(state.read_text())["dumpers"]] == ["none"]


@requires_netns
def test_encrypted_netdump(keys: Path, state: Path) -> None:
    with veth_namespace() as ns:
        result = dumpon(
            state,
            "-v",
            "-k",
            str(keys / "public.pem"),
            "-s",
            "10.77.5.5",
            "-c",
            ns.address,
            ns.iface,
            netns=ns.name,
        )
    assert result.returncode == 0, result.stderr
    assert "server address: 10.77.5.5\n" in result.stdout
    kernel = json.loads(state.read_text())
    assert kernel["dumpers"][0]["encryption"] == "chacha20"
    assert set(kernel["facts"][ns.iface]) >= {"public_key", "gateway_mac", "gateway_mac_seen"}


@pytest.mark.parametrize(("kind", "what"), [("fifo", "a FIFO"), ("device", "a character device")])
def test_key_file_that_is_not_regular_is_refused_at_once(
    state: Path, tmp_path: Path, kind: str, what: str
) -> None:
    path = tmp_path / "key.pem"
    if kind == "fifo":
        os.mkfifo(path)  # nobody ever writes to it: reading it would block forever
    else:
        path.symlink_to("/dev/zero")  # reading it would never end
    result = run(
        [script("dumpon"), "-k", str(path), block_device()],
        env={"DUMPON_BACKEND": f"file:{state}"},
        timeout=10,
    )
    assert (result.returncode, result.stderr) == (
        1,
        f"dumpon: Unable to open {path}: {what}, not a regular file\n",
    )
    assert not state.exists()
