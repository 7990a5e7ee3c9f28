"""Generated command lines: never a traceback, always a sysexits code and a one-line error;
and the typer description of the options parses exactly as BSD getopt does."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumpon.errors import ToolError
from dumpon.options import USAGE, DumponOptions, parse_argv

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


def typer_options(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> DumponOptions | str:
    """What the typer twin hands to execute(), or "error"."""
    from dumpon.cli import dumpon, dumpon_typer

    seen: list[DumponOptions] = []

    def capture(options: DumponOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(dumpon, "execute", capture)
    try:
        dumpon_typer.invoke(argv)
    except ToolError:
        return "error"
    return seen[0] if seen else "error"


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(argv=command_lines(junk=False, repeats=False))
def test_typer_twin_parses_like_getopt(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Equal for every option given once.  A repeated option is last-wins in both, but click
    validates only the last value, where getopt rejects a bad earlier -C or -i at once; the
    dumpon command always parses with getopt, the typer twin serves help and completion."""
    try:
        expected: DumponOptions | str = parse_argv(argv)
    except ToolError:
        expected = "error"
    assert typer_options(argv, monkeypatch) == expected, argv
    capsys.readouterr()


def test_typer_twin_declares_every_getopt_option() -> None:
    import typer.main

    from dumpon.cli.dumpon_typer import app
    from dumpon.options import LONG_ALIASES, LONG_OPTIONS, OPTSTRING

    declared = {opt for param in typer.main.get_command(app).params for opt in param.opts}
    letters = {"-" + c for c in OPTSTRING if c != ":"}
    longs = {"--" + name.rstrip("=") for name in LONG_OPTIONS if name != "help"}
    assert letters | longs <= declared
    assert set(LONG_ALIASES.values()) == {c for c in OPTSTRING if c != ":"}


def test_packaged_help_is_what_typer_renders() -> None:
    from dumpon.cli.dumpon import HELP_TEXT
    from dumpon.cli.dumpon_typer import render_help

    with open(HELP_TEXT, encoding="utf-8") as packaged:
        assert packaged.read() == render_help(), (
            "regenerate: python -c 'from dumpon.cli.dumpon_typer import render_help; "
            f'print(render_help(), end="")\' > {HELP_TEXT}'
        )
