"""decryptcore against a hostile or careless caller: nodes that are not regular files,
inputs that would block, signals mid-way, odd dump numbers, and a wrong key that a stream
cipher cannot detect."""

from __future__ import annotations

import gzip
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
import zstandard

from dumpon import outfile
from dumpon.kernel import abi
from dumpon.regular import NotRegularFile
from tests.ekcd_support import DECRYPTCORE, KeyPair, make_key_pair, write_dump
from tests.test_decryptcore import BODY, failure, run

requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("keys"))


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _make_node(path: Path, kind: str, tmp_path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        (tmp_path / "elsewhere").write_bytes(b"keep me")
        path.symlink_to(tmp_path / "elsewhere")
    else:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null twin


NODE_KINDS = [
    pytest.param("fifo", "a FIFO"),
    pytest.param("directory", "a directory"),
    pytest.param("symlink", "a symbolic link"),
    pytest.param("device", "a character device", marks=requires_root),
]


@pytest.mark.parametrize(("kind", "described"), NODE_KINDS)
def test_force_replaces_only_regular_files(
    pair: KeyPair, tmp_path: Path, kind: str, described: str
) -> None:
    dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    core = tmp_path / "core"
    _make_node(core, kind, tmp_path)
    before = core.lstat()
    args = ["-f", "-p", pair.private_pem, "-k", dump.key_file, "-e", dump.encrypted, "-c", core]
    message = failure(*args)
    assert message == f"decryptcore: Unable to open {core}: not a regular file ({described}).\n"
    after = core.lstat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    if kind == "symlink":
        assert (tmp_path / "elsewhere").read_bytes() == b"keep me"
    assert not [name for name in _names(tmp_path) if name.startswith(".")]


@requires_root
def test_without_force_a_device_is_not_written(pair: KeyPair, tmp_path: Path) -> None:
    dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    core = tmp_path / "core"
    _make_node(core, "device", tmp_path)
    message = failure("-p", pair.private_pem, "-k", dump.key_file, "-e", dump.encrypted, "-c", core)
    assert message == f"decryptcore: Unable to open {core}: File exists.\n"
    assert stat.S_ISCHR(core.lstat().st_mode)


@pytest.mark.parametrize("which", ["key", "encrypted", "private"])
@pytest.mark.parametrize(("kind", "described"), [("fifo", "a FIFO"), ("directory", "a directory")])
def test_non_regular_inputs_are_refused_at_once(
    pair: KeyPair, tmp_path: Path, which: str, kind: str, described: str
) -> None:
    dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    paths = {"key": dump.key_file, "encrypted": dump.encrypted, "private": tmp_path / "pk.pem"}
    paths["private"].write_bytes(pair.private_pem.read_bytes())
    bad = paths[which]
    bad.unlink()
    _make_node(bad, kind, tmp_path)
    core = tmp_path / "core"
    assert DECRYPTCORE is not None
    argv = [DECRYPTCORE, "-p", paths["private"], "-k", paths["key"], "-e", paths["encrypted"]]
    done = subprocess.run(
        [*argv, "-c", core],
        capture_output=True,
        text=True,
        timeout=20,  # a FIFO opened the blocking way would hang here
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == f"decryptcore: Unable to open {bad}: not a regular file ({described}).\n"
    assert not core.exists()


def test_dev_null_as_input(pair: KeyPair, tmp_path: Path) -> None:
    dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    core = tmp_path / "core"
    args = ["-p", pair.private_pem, "-k", dump.key_file, "-e", "/dev/null", "-c", core]
    message = failure(*args)
    assert message.endswith("not a regular file (a character device).\n")
    assert not core.exists()


def test_inputs_are_checked_before_the_output_exists(pair: KeyPair, tmp_path: Path) -> None:
    write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a key\n")
    failure("-p", garbage, "-d", tmp_path, "-n", "0")
    assert _names(tmp_path) == ["garbage.pem", "key.0", "vmcore_encrypted.0"]


@pytest.mark.parametrize("number", ["\u0661", "\u00b2", "1\u0663", "+1", " 1"])
def test_dump_number_is_ascii_digits(pair: KeyPair, tmp_path: Path, number: str) -> None:
    write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    done = run("-p", pair.private_pem, "-d", tmp_path, "-n", number)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert _names(tmp_path) == ["key.0", "vmcore_encrypted.0"]


def test_wrong_key_warning(pair: KeyPair, tmp_path: Path) -> None:
    """Garbage out of a stream cipher (the body was made with another key): one warning line,
    and the exit status stays FreeBSD's 0."""
    write_dump(pair, tmp_path, abi.ENC_CHACHA20, os.urandom(100_000))
    done = run("-p", pair.private_pem, "-d", tmp_path, "-n", "0")
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("decryptcore: warning: ")
    assert "key is probably wrong" in lines[0] and str(tmp_path / "vmcore.0") in lines[0]


def _textdump() -> bytes:
    header = bytearray(512)
    header[:7] = b"msgbuf\0"
    header[257:263] = b"ustar\0"
    return bytes(header) + os.urandom(4096)


RECOGNISED = {
    "elf": b"\x7fELF\x02\x01\x01" + os.urandom(5000),
    "textdump": _textdump(),
    "gzip": gzip.compress(os.urandom(5000)),
    "zstd": zstandard.ZstdCompressor().compress(os.urandom(5000)),
}


@pytest.mark.parametrize("kind", sorted(RECOGNISED))
def test_no_warning_for_what_a_kernel_writes(pair: KeyPair, tmp_path: Path, kind: str) -> None:
    write_dump(pair, tmp_path, abi.ENC_CHACHA20, RECOGNISED[kind])
    done = run("-p", pair.private_pem, "-d", tmp_path, "-n", "0")
    assert done.returncode == 0 and done.stderr == ""


def _written(pid: int) -> int:
    with open(f"/proc/{pid}/io") as io:
        fields = dict(line.split(": ") for line in io.read().splitlines())
    return int(fields["wchar"])


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs /proc/<pid>/io")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
@pytest.mark.parametrize("force", [False, True])
def test_signal_mid_way_leaves_nothing(
    pair: KeyPair, tmp_path: Path, signum: int, force: bool
) -> None:
    """A real signal while a large body is being written: the run ends by that signal and
    no plaintext (partial output or hidden temporary file) is left; -f keeps the old file."""
    dump = write_dump(pair, tmp_path, abi.ENC_CHACHA20, BODY)
    with dump.encrypted.open("r+b") as body:
        body.truncate(16 << 30)  # sparse: quick to read, far too long to finish in time
    if force:
        (tmp_path / "vmcore.0").write_bytes(b"old")
    before = _names(tmp_path)
    assert DECRYPTCORE is not None
    args = [DECRYPTCORE, "-p", str(pair.private_pem), "-d", str(tmp_path), "-n", "0"]
    # A shell starts background jobs with SIGINT ignored, and decryptcore (rightly) keeps an
    # ignored signal ignored: give the child the default disposition whoever started us.
    child = subprocess.Popen(
        args + (["-f"] if force else []),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 20
        while _written(child.pid) < 16 << 20:
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=20)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signum, stderr
    name = signal.Signals(signum).name
    assert stderr == f"decryptcore: Terminated by {name}; no output left behind.\n"
    assert _names(tmp_path) == before
    if force:
        assert (tmp_path / "vmcore.0").read_bytes() == b"old"


@pytest.mark.parametrize("replace", [False, True])
def test_output_is_removed_on_failure(tmp_path: Path, replace: bool) -> None:
    target = tmp_path / "out"
    if replace:
        target.write_bytes(b"old")
    with pytest.raises(RuntimeError), outfile.exclusive_output(str(target), replace=replace) as out:
        out.write(b"partial")
        assert len(_names(tmp_path)) == 1 + replace
        raise RuntimeError
    assert _names(tmp_path) == (["out"] if replace else [])
    if replace:
        assert target.read_bytes() == b"old"
    with outfile.exclusive_output(str(target), replace=True) as out:
        out.write(b"new")
    assert target.read_bytes() == b"new" and _names(tmp_path) == ["out"]
    with pytest.raises(FileExistsError), outfile.exclusive_output(str(target)):
        pass


def test_replace_refuses_a_node_swapped_in_while_writing(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with (
        pytest.raises(NotRegularFile),
        outfile.exclusive_output(str(target), replace=True) as out,
    ):
        out.write(b"data")
        os.mkfifo(target)
    assert stat.S_ISFIFO(target.lstat().st_mode) and _names(tmp_path) == ["out"]
