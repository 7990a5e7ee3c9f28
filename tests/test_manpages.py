"""Manual pages: clean under mandoc's linter and groff, and listing exactly the options the code
has."""

from __future__ import annotations

import calendar
import re
import shutil
import subprocess
from pathlib import Path

import pytest

MAN = Path(__file__).resolve().parent.parent / "man"
PAGES = sorted(MAN.glob("*.[1-9]"))


@pytest.mark.skipif(shutil.which("mandoc") is None, reason="needs mandoc (Debian package mandoc)")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_lint_clean(page: Path) -> None:
    # -W warning: FreeBSD cross references are "not found" STYLE notes on Linux, not faults
    done = subprocess.run(
        ["mandoc", "-T", "lint", "-W", "warning", str(page)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("groff") is None, reason="needs groff (Debian package groff-base)")
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_groff_clean(page: Path) -> None:
    # -ww: every warning; groff's mdoc knows fewer FreeBSD versions than mandoc does
    done = subprocess.run(
        ["groff", "-man", "-ww", "-z", str(page)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_one_date_convention() -> None:
    """Every page is dated `.Dd Month D, YYYY`, as FreeBSD's pages are."""
    dates = {page.name: page.read_text().splitlines()[0] for page in PAGES}
    months = "|".join(calendar.month_name[1:])
    pattern = rf"\.Dd ({months}) [1-9][0-9]?, 20[0-9]{{2}}"
    assert {name: date for name, date in dates.items() if not re.fullmatch(pattern, date)} == {}


def documented_flags(page: Path, section: str | None = None) -> set[str]:
    """Every option a page documents on its `.It` lines (`Fl x`, `Fl Fl long`), optionally
    only within one `.Ss` section."""
    flags = set()
    current = None
    for line in page.read_text().splitlines():
        if line.startswith(".Ss "):
            current = line[4:].strip()
        if line.startswith(".It ") and section in (None, current):
            for dashes, name in re.findall(r"\bFl (Fl )?([A-Za-z0-9][A-Za-z0-9-]*)", line):
                flags.add(("--" if dashes else "-") + name)
    return flags


def test_dumpon_page_matches_the_option_table() -> None:
    from dumpon.cli.dumpon import option_table

    table = option_table()
    letters = {"-" + c for c in table.spec.optstring if c != ":"}
    assert documented_flags(MAN / "dumpon.8") == letters | {
        "--backend",
        "--abi",
        "--json",
        "--help",
        "--version",
    }
    text = (MAN / "dumpon.8").read_text()
    long_aliases = {
        spelling[2:]
        for letter in letters
        for spelling in table.by_spelling[letter].opts
        if spelling.startswith("--")
    }
    assert len(long_aliases) == len(letters)
    for name in long_aliases:
        assert f"Fl Fl {name}" in text


@pytest.mark.parametrize("command", ["keygen", "interfaces", "route", "send", "check"])
def test_netdump_page_matches_each_command(command: str) -> None:
    import typer.main

    from dumpon.cli.netdump import app

    group = typer.main.get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    declared = {opt for param in params if param.opts[0].startswith("-") for opt in param.opts}
    assert documented_flags(MAN / "netdump.8", command) == declared - {"--help", "-h"}
