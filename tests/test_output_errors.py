"""Every command with standard output closed (`>&-`) and full (`>/dev/full`).

A command that writes to standard output reports the failed write on one line and exits 74
(EX_IOERR), saying whether its change was applied; a command that writes nothing there is
not affected.  No traceback, ever.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from dumpon.kernel import abi
from tests.ekcd_support import KeyPair, make_key_pair, write_dump
from tests.support import block_device, requires_netns, script, veth_namespace

CLOSED, FULL = "closed", "full"
REASONS = {CLOSED: "Bad file descriptor", FULL: "No space left on device"}


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def run(argv: list[str], stdout: str | None, env: dict[str, str], netns: str | None) -> Outcome:
    """`argv` with standard output captured (None), closed or on /dev/full."""
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    if stdout == CLOSED:
        argv = ["sh", "-c", 'exec "$@" >&-', "sh", *argv]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            argv,
            stdout=full if stdout == FULL else subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
            timeout=60,
            check=False,
        )
    assert "Traceback" not in done.stderr, done.stderr
    return Outcome(done.returncode, done.stdout or "", done.stderr)


@dataclass
class Command:
    prog: str
    args: list[str]
    change: str | None = None  # what the command applies, in the error's words
    netns: bool = False


DUMPON = [
    Command("dumpon", ["-l"]),
    Command("dumpon", ["-lv"]),
    Command("dumpon", ["-l", "--json"]),
    Command("dumpon", ["--help"]),
    Command("dumpon", ["--version"]),
    Command("dumpon", ["-v", "{disk}"], "configuration was applied"),
    Command("dumpon", ["-v", "off"], "configuration was applied"),
]
NETDUMP = [
    Command("netdump", ["--help"]),
    Command("netdump", ["keygen", "--help"]),
    Command("netdump", ["keygen", "-b", "2048", "-o", "{keys}"], "keys were written"),
    Command("netdump", ["interfaces"]),
    Command("netdump", ["interfaces", "--all", "--json"]),
    Command("netdump", ["route", "--help"]),
    Command("netdump", ["--show-completion", "bash"]),
    Command("netdump", ["check", "--help"]),
    Command("netdump", ["send", "--help"]),
]
NETNS = [
    Command("netdump", ["route", "10.77.0.1"], netns=True),
    Command("netdump", ["route", "--json", "10.77.0.1"], netns=True),
    Command(
        "dumpon",
        ["-v", "-s", "10.77.0.1", "-c", "10.77.0.2", "{iface}"],
        "configuration was applied",
        netns=True,
    ),
]
DECRYPTCORE = [
    Command("decryptcore", ["-v", "-p", "{private}", "-k", "{key}", "-e", "{core}", "-c", "{out}"]),
    Command("decryptcore", ["-L", "-p", "{private}", "-k", "{key}", "-e", "{core}", "-c", "{out}"]),
    Command("decryptcore", ["-v"]),
]


def check(command: Command, place: Callable[[], dict[str, str]], netns: str | None) -> None:
    """The command run normally, closed and full; each run in fresh surroundings."""

    def attempt(stdout: str | None) -> Outcome:
        values = place()
        argv = [script(command.prog), *(arg.format(**values) for arg in command.args)]
        done = run(argv, stdout, {"DUMPON_BACKEND": f"file:{values['state']}"}, netns)
        done.stderr = done.stderr.replace(values["here"], "HERE")  # the same for every run
        return done

    with ThreadPoolExecutor(3) as pool:  # three processes at once: the suite stays fast
        normal, *failures = pool.map(attempt, [None, CLOSED, FULL])
    assert normal.returncode == 0 or command.prog == "decryptcore", normal.stderr
    for stdout, failed in zip((CLOSED, FULL), failures, strict=True):
        if not normal.stdout:
            assert (failed.returncode, failed.stderr) == (normal.returncode, normal.stderr)
            continue
        change = command.change or "nothing was changed"
        assert failed.returncode == 74, (stdout, failed.stderr)
        assert (
            failed.stderr
            == f"{normal.stderr}{command.prog}: stdout: {REASONS[stdout]} ({change})\n"
        )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_key_pair(tmp_path_factory.mktemp("pair"))


@pytest.fixture
def place(tmp_path: Path, pair: KeyPair) -> Callable[[], dict[str, str]]:
    """Fresh paths for each run: a state file, a key directory, a dump to decrypt."""
    counter = itertools.count()

    def fresh() -> dict[str, str]:
        here = tmp_path / str(next(counter))
        (here / "keys").mkdir(parents=True)
        dump = write_dump(pair, here, abi.ENC_CHACHA20, b"\0" * 4096)
        return {
            "here": str(here),
            "state": str(here / "kernel.json"),
            "keys": str(here / "keys"),
            "private": str(pair.private_pem),
            "key": str(dump.key_file),
            "core": str(dump.encrypted),
            "out": str(here / "vmcore"),
            "disk": block_device(),
        }

    return fresh


@pytest.mark.parametrize(
    "command", DUMPON + NETDUMP + DECRYPTCORE, ids=lambda c: " ".join([c.prog, *c.args])
)
def test_standard_output_closed_or_full(
    command: Command, place: Callable[[], dict[str, str]]
) -> None:
    check(command, place, None)


@requires_netns
@pytest.mark.parametrize("command", NETNS, ids=lambda c: " ".join([c.prog, *c.args]))
def test_standard_output_closed_or_full_in_a_namespace(
    command: Command, place: Callable[[], dict[str, str]]
) -> None:
    with veth_namespace() as ns:
        check(command, lambda: {**place(), "iface": ns.iface}, ns.name)


def test_configuration_is_applied_even_when_its_listing_fails(tmp_path: Path) -> None:
    state = tmp_path / "kernel.json"
    disk = block_device()
    failed = run([script("dumpon"), "-v", disk], FULL, {"DUMPON_BACKEND": f"file:{state}"}, None)
    assert failed.returncode == 74
    listed = run([script("dumpon"), "-l"], None, {"DUMPON_BACKEND": f"file:{state}"}, None)
    assert listed.stdout == f"{disk}\n"


@pytest.mark.parametrize("stdout", [CLOSED, FULL])
def test_netdump_check_reports_its_lost_report(stdout: str) -> None:
    """A whole test dump is sent; only its report cannot be written."""
    from tests.netdump_receiver import Receiver
    from tests.test_netdump_check import FAST

    receiver = Receiver(timeout=10).start()
    argv = [script("netdump"), "check", "-s", "127.0.0.1", "--port", str(receiver.herald_port)]
    failed = run([*argv, *FAST], stdout, {}, None)
    assert receiver.join().body
    assert (failed.returncode, failed.stderr) == (
        74,
        f"netdump: stdout: {REASONS[stdout]} (nothing was changed)\n",
    )
