"""Generated command lines: never a traceback, always a sysexits code and a one-line error;
and typer's own parser reads the typer command exactly as the BSD getopt reader does."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumpon.cli.dumpon import parse_argv
from dumpon.errors import ToolError
from dumpon.options import USAGE, DumponOptions

SYSEXITS = {0, 1, 64, 65, 68, 69, 71, 72, 74}
USAGE_LINES = set(USAGE.splitlines())

# Operands and values chosen so that nothing can reach a real network interface or DNS:
# interfaces that do not exist (or lo, which the kernel refuses), numeric or local servers.
OPERANDS = ["off", "/dev/null", "nosuchdisk0", "zero", "vtnet0", "em0", "lo", "x" * 20]
VALUES = {
    "-C": ["chacha", "AES-CBC", "aes256-cbc", "des", ""],
    "-c": ["10.0.0.2", "10.1", "08.1", "1.2.3.256", "0x.1", ""],
    "-g": ["10.0.0.1", "default", "1..2", "4294967296"],
    "-i": ["0", "250", "251", "-1", "abc", "7junk"],
    "-k": ["/nonexistent/key.pem"],
    "-s": ["10.0.0.1", "10.1", "127.0.0.1", "localhost"],
}
FLAGS = ["-l", "-r", "-v", "-Z", "-z"]
LONG = {
    "-C": "--cipher",
    "-c": "--client",
    "-g": "--gateway",
    "-i": "--index",
    "-k": "--pubkey",
    "-s": "--server",
    "-l": "--list",
    "-r": "--remove",
    "-v": "--verbose",
    "-Z": "--zstd",
    "-z": "--gzip",
}


@st.composite
def option_words(draw: st.DrawFn) -> list[str]:
    letter = draw(st.sampled_from([*VALUES, *FLAGS]))
    spelling = draw(st.sampled_from(["short", "long", "attached"]))
    if letter in FLAGS:
        return [LONG[letter] if spelling == "long" else letter]
    value = draw(st.sampled_from(VALUES[letter]))
    if spelling == "long":
        return [f"{LONG[letter]}={value}"]
    if spelling == "attached" and value:
        return [letter + value]
    return [letter, value]


def letter_of(word: str) -> str:
    if word.startswith("--"):
        return {long: short for short, long in LONG.items()}[word.split("=")[0]]
    return word[:2]


@st.composite
def command_lines(draw: st.DrawFn, junk: bool = True, repeats: bool = True) -> list[str]:
    words: list[str] = []
    options = draw(st.lists(option_words(), max_size=6))
    if not repeats:  # one occurrence per option: see test_typer_twin_parses_like_getopt
        options = list({letter_of(option[0]): option for option in options}.values())
    for option in options:
        words += option
    if junk and draw(st.booleans()):
        words.append(draw(st.sampled_from(["-q", "--nope", "-", "--"])))
    words += draw(st.lists(st.sampled_from(OPERANDS), max_size=2))
    return words


STATE_DIR = Path(tempfile.mkdtemp(prefix="dumpon-argv-"))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(argv=command_lines())
def test_any_command_line_exits_cleanly(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dumpon.cli import dumpon

    monkeypatch.setenv("DUMPON_BACKEND", f"file:{STATE_DIR / 'kernel.json'}")
    monkeypatch.setattr(sys, "argv", ["dumpon", *argv])
    with pytest.raises(SystemExit) as exited:
        dumpon.main()
    code = exited.value.code
    err = capsys.readouterr().err
    assert code in SYSEXITS, (argv, code, err)
    assert "Traceback" not in err
    messages = [line for line in err.splitlines() if line not in USAGE_LINES]
    assert all(line.startswith("dumpon: ") for line in messages), err
    if code != 0:
        assert len(messages) <= 1, err
        assert messages or err.startswith("usage: "), err


def typer_options(argv: list[str]) -> DumponOptions | str:
    """The options typer's own parser reads from argv with the dumpon command, or "error"."""
    import typer.main

    from dumpon.cli.dumpon import app, options_from

    command = typer.main.get_command(app)
    try:
        with command.make_context("dumpon", list(argv)) as context:
            return options_from(context.params)
    except ToolError:
        return "error"
    except Exception as exc:  # click's own usage errors, whatever their class
        assert getattr(exc, "exit_code", None) == 2, exc
        return "error"


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(argv=command_lines(junk=False, repeats=False))
def test_typer_parses_like_getopt(argv: list[str]) -> None:
    """Equal for every option given once.  A repeated option is last-wins in both, but click
    converts only the last value, where getopt rejects a bad earlier -C or -i at once; the
    dumpon command always parses with getopt, typer's parser serves completion."""
    try:
        expected: DumponOptions | str = parse_argv(argv)
    except ToolError:
        expected = "error"
    assert typer_options(argv) == expected, argv


def test_getopt_table_is_dumpons() -> None:
    """The table derived from the typer command is dumpon.c's option string, plus the long
    spelling of every letter and this project's own long options."""
    from dumpon.cli.dumpon import option_table

    spec = option_table().spec
    assert spec.optstring == "C:c:g:i:k:lrs:vZz"
    longs = {
        "cipher=", "client=", "gateway=", "index=", "pubkey=", "list", "remove", "server=",
        "verbose", "zstd", "gzip", "backend=", "abi=", "json", "version", "help",
    }  # fmt: skip
    assert set(spec.long_options) == longs


def test_help_is_what_typer_renders(capsys: pytest.CaptureFixture[str]) -> None:
    """`dumpon --help` prints typer's help for the command, without typer's completion
    installer options, which are no dumpon(8) options."""
    from dumpon.cli import dumpon

    with pytest.raises(SystemExit) as exited:
        dumpon.app(args=["--help"], prog_name="dumpon")
    assert exited.value.code == 0
    rendered = capsys.readouterr().out
    assert parse_argv(["--help"]).help
    assert dumpon.option_table().help_text() == rendered
    assert "completion" not in rendered
