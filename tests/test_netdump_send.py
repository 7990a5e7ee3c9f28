"""`netdump send` on loopback against the in-test receiver: the bytes that arrive, the header,
encryption and compression as a kernel does them, and the named failures."""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import zstandard

from dumpon.crypto import ekcd
from dumpon.protocol.kdh import KernelDumpHeader
from tests.ekcd_support import DECRYPTCORE, KeyPair, make_key_pair
from tests.netdump_receiver import Received, Receiver
from tests.support import run, script

FAST = ["--polls", "20", "--retries", "2"]  # 10 ms resend interval in these tests


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("keys"))


def send(file: Path, *args: str, receiver: Receiver | None = None) -> tuple[Received, str]:
    """Run `netdump send FILE` to a fresh receiver; the receiver's result and stdout."""
    receiver = receiver or Receiver(timeout=10)
    receiver.start()
    done = run(
        [
            script("netdump"),
            "send",
            str(file),
            "-s",
            "127.0.0.1",
            "-c",
            "127.0.0.1",
            "--port",
            str(receiver.herald_port),
            "--client-port",
            "0",
            *FAST,
            *args,
        ]
    )
    assert done.returncode == 0, done.stderr
    return receiver.join(), done.stdout


def test_plain_file_arrives_exactly(tmp_path: Path) -> None:
    core = tmp_path / "vmcore.0"
    data = os.urandom(300_000)
    core.write_bytes(data)
    got, out = send(core, "--hostname", "crashed", "--panic", "page fault", "--path", "a/b")
    assert bytes(got.body) == data
    assert got.herald_path == b"a/b"
    header = KernelDumpHeader.parse(got.kdh)
    assert (header.version, header.dumplength, header.dumpkeysize) == (4, len(data), 0)
    assert (header.hostname, header.panicstring) == ("crashed", "page fault")
    assert header.blocksize == 4096
    assert got.finished is not None and got.finished.complete
    assert "FINISHED acknowledged" in out
    assert "(body)" in out


def test_payload_option_sets_the_packet_size(tmp_path: Path) -> None:
    core = tmp_path / "core"
    core.write_bytes(bytes(10_000))
    got, out = send(core, "--payload", "1000")
    assert got.session is not None
    assert [span for span in got.session.body] == [(0, 10_000)]
    assert "packets:     13 " in out  # HERALD, 10 body packets, KDH, FINISHED


@pytest.mark.parametrize(("name", "expand"), [("gzip", gzip.decompress), ("zstd", None)])
def test_compression_as_the_kernel(tmp_path: Path, name: str, expand: object) -> None:
    core = tmp_path / "core"
    data = b"compressible " * 50_000
    core.write_bytes(data)
    got, _ = send(core, "--compression", name)
    header = KernelDumpHeader.parse(got.kdh)
    assert header.compression == (1 if name == "gzip" else 2)
    assert len(got.body) % 4096 == 0  # whole blocks, zero padding past dumplength
    assert len(got.body) - header.dumplength < 4096
    assert not any(got.body[header.dumplength :])
    stream = bytes(got.body[: header.dumplength])
    if name == "gzip":
        assert gzip.decompress(stream) == data
    else:
        assert zstandard.ZstdDecompressor().decompressobj().decompress(stream) == data


@pytest.mark.skipif(DECRYPTCORE is None, reason="decryptcore is not installed")
@pytest.mark.parametrize(("cipher", "order"), [("chacha20", "13"), ("aes256-cbc", "12")])
def test_encrypted_dump_decrypts_with_decryptcore(
    tmp_path: Path, keys: KeyPair, cipher: str, order: str
) -> None:
    core = tmp_path / "core"
    data = os.urandom(100_000)
    core.write_bytes(data)
    got, _ = send(core, "-k", str(keys.public_pem), "-C", cipher, "--order", order)
    header = KernelDumpHeader.parse(got.kdh)
    assert header.dumpkeysize == 4096 == len(got.key)
    blob = ekcd.KeyBlob.parse(got.key)
    assert blob.cipher == (2 if cipher == "chacha20" else 1)
    key_file, encrypted, out = tmp_path / "key", tmp_path / "enc", tmp_path / "out"
    key_file.write_bytes(got.key)
    encrypted.write_bytes(bytes(got.body))
    assert DECRYPTCORE is not None
    done = run(
        [
            DECRYPTCORE,
            "-p",
            str(keys.private_pem),
            "-k",
            str(key_file),
            "-e",
            str(encrypted),
            "-c",
            str(out),
        ]
    )
    assert done.returncode == 0, done.stderr
    plain = out.read_bytes()
    assert plain[: len(data)] == data
    assert not any(plain[len(data) :])  # AES pads the body to whole 16-byte blocks


def test_chacha_with_zstd_is_compressed_then_encrypted(tmp_path: Path, keys: KeyPair) -> None:
    core = tmp_path / "core"
    data = b"pattern " * 40_000
    core.write_bytes(data)
    got, _ = send(core, "-k", str(keys.public_pem), "--compression", "zstd")
    header = KernelDumpHeader.parse(got.kdh)
    blob = ekcd.KeyBlob.parse(got.key)
    key = ekcd.unwrap_key(keys.private, blob.wrapped)
    plain = ekcd.body_cipher(blob.cipher, key, blob.iv, encrypt=False)
    out = bytearray(len(got.body))
    plain.update_into(bytes(got.body), out)
    stream = bytes(out[: header.dumplength])
    assert zstandard.ZstdDecompressor().decompressobj().decompress(stream) == data


def test_raw_dump_keeps_its_header_and_key(tmp_path: Path) -> None:
    body = os.urandom(8192)
    key_blob = ekcd.KeyBlob(2, bytes(32), b"w" * 256).pack(512)
    header = KernelDumpHeader(
        "amd64", 2, len(body), 1, "host", "FreeBSD 14\n", "panic: x", blocksize=512,
        dumpkeysize=len(key_blob),
    ).pack()  # fmt: skip
    raw = tmp_path / "swap"
    raw.write_bytes(header + key_blob + body + header + bytes(1000))
    got, out = send(raw)
    assert got.kdh == header
    assert bytes(got.body) == body
    assert got.key == key_blob
    assert "raw dump (header version 4, 8192 body bytes)" in out


def test_dump_at_the_end_of_a_device_image(tmp_path: Path) -> None:
    """A whole swap partition's image: the dump lies at its end, found from the last block."""
    body = os.urandom(4096 * 3)
    header = KernelDumpHeader(
        "amd64", 2, len(body) - 100, 1, "host", "FreeBSD 14\n", "panic: y", blocksize=512,
        dumpextent=len(body),
    ).pack()  # fmt: skip
    device = tmp_path / "swap.img"
    device.write_bytes(os.urandom(70_000) + header + body + header)
    got, out = send(device)
    assert got.kdh == header
    assert bytes(got.body) == body[:-100]
    assert "raw dump (header version 4, 12188 body bytes)" in out


def _netdump(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [script("netdump"), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused(tmp_path: Path) -> None:
    core = tmp_path / "core"
    core.write_bytes(b"x")
    port = str(_free_port())
    done = _netdump("send", str(core), "-s", "127.0.0.1", "--port", port, "--client-port", "0")
    assert done.returncode == 76
    assert f"refused: 127.0.0.1:{port} answered ICMP port unreachable" in done.stderr


def test_no_server(tmp_path: Path) -> None:
    core = tmp_path / "core"
    core.write_bytes(b"x")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = str(silent.getsockname()[1])
        start = time.monotonic()
        done = _netdump(
            "send", str(core), "-s", "127.0.0.1", "--port", port, "--client-port", "0",
            "--polls", "10", "--retries", "1",
        )  # fmt: skip
    assert done.returncode == 69
    assert f"no server: no ACK from 127.0.0.1:{port} after 3 HERALDs" in done.stderr
    assert time.monotonic() - start < 5


def test_stall_after_the_herald_fails_with_tempfail(tmp_path: Path) -> None:
    core = tmp_path / "core"
    core.write_bytes(bytes(5000))
    receiver = Receiver(timeout=5)
    receiver.drop_acks = 10**6  # the HERALD is answered, nothing after it
    receiver.start()
    done = _netdump(
        "send", str(core), "-s", "127.0.0.1", "--port", str(receiver.herald_port),
        "--client-port", "0", "--polls", "10", "--retries", "1",
    )  # fmt: skip
    assert done.returncode == 75
    assert (
        "dump failed while sending body: no ACK for 2 of 2 packets (seqno 2..3) after 2 resends"
        in done.stderr
    )


def test_wrong_source_address(tmp_path: Path) -> None:
    core = tmp_path / "core"
    core.write_bytes(b"x")
    done = _netdump("send", str(core), "-s", "127.0.0.1", "-c", "192.0.2.77", "--client-port", "0")
    assert done.returncode == 78
    assert "wrong source address: 192.0.2.77 is not an address of this host" in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["missing-file"], 66, "missing-file: No such file or directory"),
        (["."], 66, ".: not a regular file, block device or FIFO"),
        (["CORE", "-C", "chacha"], 64, "-C needs -k PUBKEY"),
        (["CORE", "--order", "14"], 64, "message order 14 is not 12 or 13"),
        (["CORE", "--compression", "lz4"], 64, "unknown compression 'lz4'"),
        (["CORE", "--payload", "0"], 64, "payload size 0 is not between 1 and 65483"),
        (["CORE", "-c", "1.2.3.4.5"], 64, "invalid client address '1.2.3.4.5'"),
        (["CORE", "--port", "70000"], 64, "server port 70000 is not between 0 and 65535"),
        (["CORE", "--path", "x" * 1024], 64, "is longer than 1023"),
    ],
)
def test_bad_arguments(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    core = tmp_path / "core"
    core.write_bytes(b"x")
    argv = [str(core) if arg == "CORE" else arg for arg in args]
    done = _netdump("send", "-s", "127.0.0.1", "--client-port", "0", "--port", "9", *argv)
    assert done.returncode == code, done.stderr
    assert message in done.stderr


def test_unreadable_file_runs_as_nobody(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to nobody")
    core = tmp_path / "core"
    core.write_bytes(b"x")
    core.chmod(0o600)
    tmp_path.chmod(0o755)
    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", script("netdump"),
         "send", str(core), "-s", "127.0.0.1", "--client-port", "0", "--port", "9"],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert done.returncode == 66, done.stderr
    assert f"{core}: Permission denied" in done.stderr


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    core = tmp_path / "core"
    core.write_bytes(b"x")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        child = subprocess.Popen(
            [script("netdump"), "send", str(core), "-s", "127.0.0.1", "--client-port", "0",
             "--port", str(silent.getsockname()[1])],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        silent.settimeout(10)
        silent.recv(100)  # the HERALD: the sender is in its loop
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=10)
    assert child.returncode == 130
    assert err == "netdump: interrupted\n"
