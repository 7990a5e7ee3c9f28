"""The threaded body pipeline gives exactly the sequential stream's bytes (and openssl's),
whatever the chunk size, worker count, body length, cipher and compression."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest
import zstandard

from dumpon.crypto import ekcd, pipeline
from dumpon.kernel import abi
from tests.ekcd_support import encrypt, openssl, requires_openssl
from tests.test_ekcd_ciphers import chacha20_block

KEY = os.urandom(64)
IV = os.urandom(32)
CHUNK = 4096  # small chunks, so that short bodies already cross many of them


def sequential(cipher: int, data: bytes) -> bytes:
    """The body decrypted as one stream (CryptReader, decryptcore's former engine)."""
    context = ekcd.body_cipher(cipher, KEY, IV, encrypt=False)
    reader = ekcd.CryptReader(io.BytesIO(data), context, chunk_size=10_000)
    return b"".join(bytes(piece) for piece in reader.chunks())


def run_pipeline(
    tmp_path: Path,
    cipher: int,
    data: bytes,
    *,
    decompress: bool = False,
    workers: int = 3,
    chunk_size: int = CHUNK,
) -> tuple[bytes, pipeline.Outcome]:
    source, sink = tmp_path / "in", tmp_path / "out"
    source.write_bytes(data)
    source_fd = os.open(source, os.O_RDONLY)
    sink_fd = os.open(sink, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        engine = pipeline.Pipeline(
            source_fd,
            sink_fd,
            ekcd.chunk_decryptor(cipher, KEY, IV),
            decompress=decompress,
            chunk_size=chunk_size,
            workers=workers,
        )
        outcome = engine.run()
    finally:
        os.close(source_fd)
        os.close(sink_fd)
    return sink.read_bytes(), outcome


SIZES = [0, 16, 4096, 4096 + 16, 3 * 4096, 5 * 4096 - 48, 37 * 4096 + 4080]


@pytest.mark.parametrize("cipher", [abi.ENC_AES_256_CBC, abi.ENC_CHACHA20])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("workers", [1, 3])
def test_same_bytes_as_the_sequential_stream(
    tmp_path: Path, cipher: int, size: int, workers: int
) -> None:
    plain = os.urandom(size)
    data = encrypt(cipher, KEY, IV, plain)
    out, outcome = run_pipeline(tmp_path, cipher, data, workers=workers)
    assert out == sequential(cipher, data) == plain
    assert outcome.bytes_in == outcome.bytes_out == size
    assert outcome.head == plain[: pipeline.HEAD_SIZE]


@pytest.mark.parametrize("size", [1, 63, 65, 4096 + 1, 7 * 4096 - 5])
def test_chacha20_bodies_of_any_length(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    out, _ = run_pipeline(tmp_path, abi.ENC_CHACHA20, data)
    assert out == sequential(abi.ENC_CHACHA20, data)


@requires_openssl
@pytest.mark.parametrize("cipher", [abi.ENC_AES_256_CBC, abi.ENC_CHACHA20])
def test_default_chunks_match_openssl(tmp_path: Path, cipher: int) -> None:
    """Bodies around the real chunk size: one short, one over, against `openssl enc -d`."""
    for size in (pipeline.CHUNK_SIZE - 16, 2 * pipeline.CHUNK_SIZE + 48):
        data = os.urandom(size)
        if cipher == abi.ENC_AES_256_CBC:
            args = ["-aes-256-cbc", "-nopad", "-iv", IV[:16].hex()]
        else:
            args = ["-chacha20", "-iv", "00" * 8 + IV[:8].hex()]
        theirs = openssl("enc", "-d", *args, "-K", KEY[:32].hex(), data=data)
        out, _ = run_pipeline(tmp_path, cipher, data, chunk_size=pipeline.CHUNK_SIZE)
        assert out == theirs


def test_aes_body_cut_inside_a_block(tmp_path: Path) -> None:
    data = encrypt(abi.ENC_AES_256_CBC, KEY, IV, os.urandom(5 * CHUNK))[:-5]
    with pytest.raises(pipeline.StageError) as failure:
        run_pipeline(tmp_path, abi.ENC_AES_256_CBC, data)
    assert failure.value.stage == "decrypt" and isinstance(failure.value.cause, ValueError)


def test_chacha20_chunks_across_the_counter_carry() -> None:
    """A chunk that starts just before block 2**32 (256 GiB into a body) and one after it."""
    chunks = ekcd.chunk_decryptor(abi.ENC_CHACHA20, KEY, IV)
    first = 2**32 - 2
    expected = b"".join(chacha20_block(KEY[:32], first + n, IV[:8]) for n in range(4))
    for offset, length in ((64 * first, 256), (64 * (first + 2), 128)):
        target = bytearray(length)
        chunks.decrypt(offset, memoryview(b""), memoryview(bytes(length)), memoryview(target))
        start = offset - 64 * first
        assert bytes(target) == expected[start : start + length]


def test_aes_chunk_takes_the_block_before_as_iv() -> None:
    plain = os.urandom(8 * 16)
    data = encrypt(abi.ENC_AES_256_CBC, KEY, IV, plain)
    chunks = ekcd.chunk_decryptor(abi.ENC_AES_256_CBC, KEY, IV)
    target = bytearray(64 + 15)
    chunks.decrypt(64, memoryview(data[48:64]), memoryview(data[64:]), memoryview(target))
    assert bytes(target[:64]) == plain[64:]


def _gzip_members(plain: bytes) -> bytes:
    half = len(plain) // 2
    return gzip.compress(plain[:half]) + bytes(10) + gzip.compress(plain[half:])


COMPRESSORS = {
    "gzip": _gzip_members,
    "zstd": lambda plain: (
        zstandard.ZstdCompressor().compress(plain)
        + zstandard.ZstdCompressor(write_checksum=True).compress(plain[:1000])
    ),
}


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
@pytest.mark.parametrize("workers", [1, 3])
def test_decompress_in_order(tmp_path: Path, kind: str, workers: int) -> None:
    plain = os.urandom(20_000) + bytes(300_000) + os.urandom(30_000)
    compressed = COMPRESSORS[kind](plain)
    expected = plain if kind == "gzip" else plain + plain[:1000]
    data = encrypt(abi.ENC_CHACHA20, KEY, IV, compressed)
    out, outcome = run_pipeline(tmp_path, abi.ENC_CHACHA20, data, decompress=True, workers=workers)
    assert out == expected
    assert outcome.compression == kind
    assert outcome.bytes_in == len(compressed) and outcome.bytes_out == len(expected)
    assert outcome.head == compressed[: pipeline.HEAD_SIZE]


def test_decompress_passes_plain_bodies_through(tmp_path: Path) -> None:
    plain = b"minidump FreeBSD/amd64\0\0" + os.urandom(9 * CHUNK + 100)
    data = encrypt(abi.ENC_CHACHA20, KEY, IV, plain)
    out, outcome = run_pipeline(tmp_path, abi.ENC_CHACHA20, data, decompress=True)
    assert out == plain and outcome.compression is None


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_truncated_compressed_stream(tmp_path: Path, kind: str) -> None:
    compressed = COMPRESSORS[kind](os.urandom(50_000))
    data = encrypt(abi.ENC_CHACHA20, KEY, IV, compressed[: len(compressed) * 3 // 4])
    with pytest.raises(pipeline.StageError) as failure:
        run_pipeline(tmp_path, abi.ENC_CHACHA20, data, decompress=True)
    assert failure.value.stage == "decompress"
    assert str(failure.value.cause).startswith(kind)


def test_write_error_stops_the_run(tmp_path: Path) -> None:
    data = encrypt(abi.ENC_CHACHA20, KEY, IV, os.urandom(40 * CHUNK))
    source = tmp_path / "in"
    source.write_bytes(data)
    source_fd = os.open(source, os.O_RDONLY)
    sink_fd = os.open(source, os.O_RDONLY)  # not writable: every pwrite fails (EBADF)
    try:
        engine = pipeline.Pipeline(
            source_fd, sink_fd, ekcd.chunk_decryptor(abi.ENC_CHACHA20, KEY, IV), chunk_size=CHUNK
        )
        with pytest.raises(pipeline.StageError) as failure:
            engine.run()
    finally:
        os.close(source_fd)
        os.close(sink_fd)
    assert failure.value.stage == "write" and isinstance(failure.value.cause, OSError)


def test_chunk_size_must_keep_the_alignment() -> None:
    with pytest.raises(ValueError):
        pipeline.Pipeline(0, 1, ekcd.chunk_decryptor(abi.ENC_CHACHA20, KEY, IV), chunk_size=1000)


@pytest.mark.parametrize("decompress", [False, True])
def test_output_behind_the_window_is_dropped_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decompress: bool
) -> None:
    """Every byte further back than DROP_BEHIND is handed to writeback, every byte further
    back than twice that dropped, each span once, and the output is still exact."""
    lag = 3 * CHUNK
    monkeypatch.setattr(pipeline, "DROP_BEHIND", lag)
    advised: list[tuple[int, int]] = []
    real_fadvise = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        assert advice == os.POSIX_FADV_DONTNEED or length == 0  # 0: the source, SEQUENTIAL
        if advice == os.POSIX_FADV_DONTNEED:
            advised.append((offset, length))
        real_fadvise(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    plain = os.urandom(CHUNK) + bytes(20 * CHUNK + 100)
    body = gzip.compress(plain) if decompress else plain
    data = encrypt(abi.ENC_CHACHA20, KEY, IV, body)
    out, _ = run_pipeline(tmp_path, abi.ENC_CHACHA20, data, decompress=decompress)
    assert out == plain
    advised_times = [0] * len(plain)
    for offset, length in advised:
        for position in range(offset, offset + length):
            advised_times[position] += 1
    end = len(plain)
    assert advised_times == [2] * (end - 2 * lag) + [1] * lag + [0] * lag
