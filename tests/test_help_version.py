"""Every command alike: `--help` and `--version` (one version, `dumpon.__version__`), and
`-h` refused where FreeBSD's getopt string (or the reference netdumpd's) has no h."""

from __future__ import annotations

import subprocess

import pytest

import dumpon
from tests.support import script

COMMANDS = ["dumpon", "netdump", "netdumpd", "decryptcore"]
NETDUMP_COMMANDS = ["keygen", "interfaces", "route", "check", "send"]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [script(argv[0]), *argv[1:]], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_version(command: str) -> None:
    done = run(command, "--version")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"{command} {dumpon.__version__}\n",
        "",
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str) -> None:
    done = run(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: {command} ")
    assert "--version" in done.stdout


@pytest.mark.parametrize("subcommand", NETDUMP_COMMANDS)
def test_netdump_subcommand_help(subcommand: str) -> None:
    for spelling in ("--help", "-h"):
        done = run("netdump", subcommand, spelling)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"Usage: netdump {subcommand} ")


@pytest.mark.parametrize(
    ("command", "status", "message"),
    [
        ("dumpon", 64, "dumpon: illegal option -- h\n"),
        ("decryptcore", 1, "decryptcore: illegal option -- h\n"),
        ("netdumpd", 64, "No such option: -h"),
    ],
)
def test_no_h(command: str, status: int, message: str) -> None:
    done = run(command, "-h")
    assert done.returncode == status
    assert message in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["netdumpd", "-h"], "netdumpd: No such option: -h (see netdumpd --help)"),
        (
            ["netdumpd", "--port", "99999"],
            "netdumpd: Invalid value for '--port': 99999 is not in the range 0<=x<=65535."
            " (see netdumpd --help)",
        ),
        (["netdump", "route"], "netdump: Missing argument 'SERVER'. (see netdump route --help)"),
        (
            ["netdump", "route", "--bogus", "192.0.2.1"],
            "netdump: No such option: --bogus (see netdump route --help)",
        ),
        (
            ["netdump", "keygen", "-b", "abc"],
            "netdump: Invalid value for '-b' / '--bits': 'abc' is not a valid int."
            " (see netdump keygen --help)",
        ),
    ],
)
def test_usage_errors_are_one_line(argv: list[str], line: str) -> None:
    """click reports a usage error in three lines; these tools name the value in one."""
    done = run(*argv)
    assert (done.returncode, done.stdout, done.stderr) == (64, "", line + "\n")


def test_netdump_without_a_subcommand_shows_its_help() -> None:
    done = run("netdump")
    assert done.returncode == 64
    assert done.stderr.startswith("Usage: netdump [OPTIONS] COMMAND [ARGS]...")
