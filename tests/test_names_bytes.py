"""Device and interface names that are not UTF-8: kept as the kernel's bytes end to end.

dumpon configures them, the state file stores them in its escaped form (plain JSON any
reader can read), and `-l` prints the very bytes, as FreeBSD's dumpon does.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dumpon.kernel.emulation.shapes import Invalid, Name, escape_name, unescape_name
from tests.support import block_device, requires_netns, script, unique, veth_namespace


def dumpon(state: Path, *args: str, netns: str | None = None) -> subprocess.CompletedProcess[bytes]:
    argv = [script("dumpon"), *args]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    done = subprocess.run(
        argv,
        capture_output=True,
        env={**os.environ, "DUMPON_BACKEND": f"file:{state}"},
        timeout=30,
        check=False,
    )
    assert b"Traceback" not in done.stderr, done.stderr
    return done


def test_every_byte_round_trips() -> None:
    raw = bytes(range(1, 256))
    text = escape_name(raw)
    assert text.isascii() and text.isprintable() and " " not in text
    assert unescape_name(text) == raw
    assert escape_name(b"50%") == "50%25"
    shape = Name(15)
    name = raw[:15].decode("utf-8", "surrogateescape")
    assert shape.load(shape.dump(name, "n"), "n") == name


@pytest.mark.parametrize("name", ["", "\ud800x", "a\0b", "x" * 16])
def test_names_that_cannot_be_stored_are_refused(name: str) -> None:
    with pytest.raises(Invalid):
        Name(15).dump(name, "netdump.iface")


@pytest.fixture
def odd_disk() -> Iterator[str]:
    """A block device node whose name has the byte 0xff: the same device as a real one."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a device node in /dev")
    real = os.stat("/dev/" + block_device())
    raw = b"\xff" + unique("disk").encode()
    path = b"/dev/" + raw
    os.mknod(path, stat.S_IFBLK | 0o600, real.st_rdev)
    try:
        yield os.fsdecode(raw)
    finally:
        os.unlink(path)


def test_disk_name_not_utf8(odd_disk: str, tmp_path: Path) -> None:
    state = tmp_path / "kernel.json"
    raw = os.fsencode(odd_disk)
    assert dumpon(state, "-z", odd_disk).returncode == 0
    stored = state.read_bytes()
    assert stored.isascii()
    assert json.loads(stored)["dumpers"][0]["name"] == "%FF" + raw[1:].decode()
    for _ in range(2):  # every later listing works
        assert dumpon(state, "-l").stdout == raw + b"\n"
        listed = dumpon(state, "-lv")
        assert (listed.returncode, listed.stdout) == (
            0,
            b"kernel dumps on priority: device\n0: " + raw + b"\n",
        )
    assert dumpon(state, "-r", "-z", odd_disk).returncode == 0
    assert dumpon(state, "-l").stdout == b"/dev/null\n"


def test_missing_device_name_not_utf8_is_named_in_the_error(tmp_path: Path) -> None:
    done = dumpon(tmp_path / "kernel.json", "\udcffnosuch")
    assert (done.returncode, done.stderr) == (
        72,
        b"dumpon: /dev/\xffnosuch: No such file or directory\n",
    )


@requires_netns
def test_interface_name_not_utf8(tmp_path: Path) -> None:
    raw = b"\xff" + unique("ve").encode()
    iface = os.fsdecode(raw)
    state = tmp_path / "kernel.json"
    with veth_namespace(iface=iface) as ns:
        configured = dumpon(state, "-v", "-s", ns.router, "-c", ns.address, iface, netns=ns.name)
        assert configured.returncode == 0, configured.stderr
        assert b"0: " + raw + b"\n" in configured.stdout
        document = json.loads(state.read_bytes())
        assert (
            document["netdump"]["iface"]
            == document["dumpers"][0]["name"]
            == "%FF" + raw[1:].decode()
        )
        assert dumpon(state, "-l").stdout == raw + b"\n"
        listed = dumpon(state, "-lv", netns=ns.name)
        assert listed.stdout.splitlines()[1:3] == [
            b"0: " + raw,
            b"server address: " + ns.router.encode(),
        ]
        assert dumpon(state, "off", netns=ns.name).returncode == 0
        assert dumpon(state, "-l").stdout == b"/dev/null\n"
