"""Manual pages: clean under mandoc's linter and groff, and listing exactly the options the code
has."""

from __future__ import annotations

import calendar
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

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
    only within one `.Ss` section ("" for the text before the first one)."""
    flags = set()
    current = ""
    for line in page.read_text().splitlines():
        if line.startswith(".Ss "):
            current = line[4:].strip()
        if line.startswith(".Sh "):
            current = "" if line == ".Sh DESCRIPTION" else line
        if line.startswith(".It ") and section in (None, current):
            for dashes, name in re.findall(r"\bFl (Fl )?([A-Za-z0-9][A-Za-z0-9-]*)", line):
                flags.add(("--" if dashes else "-") + name)
    return flags


def declared_flags(command: Any, prog: str) -> set[str]:
    """Every spelling of every option a click command takes, its help option included."""
    context = typer.Context(command, info_name=prog, **command.context_settings)
    return {
        spelling
        for param in command.get_params(context)
        for spelling in param.opts
        if spelling.startswith("-")
    }


def typer_command(prog: str) -> Any:
    import importlib

    import typer.main

    module = importlib.import_module(f"dumpon.cli.{prog}")
    return typer.main.get_command(module.app)


@pytest.mark.parametrize("prog", ["dumpon", "decryptcore", "netdumpd"])
def test_page_documents_exactly_the_options(prog: str) -> None:
    """Both ways: an option the command takes is on an `.It` line of its page, and a page
    documents no option the command lacks."""
    declared = declared_flags(typer_command(prog), prog)
    assert documented_flags(MAN / f"{prog}.8") == declared


@pytest.mark.parametrize("prog", ["dumpon", "decryptcore", "netdumpd"])
def test_there_is_no_h(prog: str) -> None:
    """-h is illegal where FreeBSD's getopt string (or netdumpd's) has no h."""
    assert "-h" not in declared_flags(typer_command(prog), prog)


def test_netdump_page_documents_its_own_options() -> None:
    group = typer_command("netdump")
    assert documented_flags(MAN / "netdump.8", "") == declared_flags(group, "netdump")


@pytest.mark.parametrize("command", ["keygen", "interfaces", "route", "send", "check"])
def test_netdump_page_matches_each_command(command: str) -> None:
    group = typer_command("netdump")
    declared = declared_flags(group.commands[command], command)
    # -h and --help, which every command takes, are documented once, at the top
    assert documented_flags(MAN / "netdump.8", command) == declared - {"--help", "-h"}


SECTIONS = [
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "ENVIRONMENT",
    "FILES",
    "EXIT STATUS",
    "EXAMPLES",
    "DIAGNOSTICS",
    "SEE ALSO",
    "CAVEATS",
    "SECURITY CONSIDERATIONS",
]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_section_in_order(page: Path) -> None:
    """FreeBSD's sections, each present and in mdoc's order (others may come between)."""
    found = [line[4:] for line in page.read_text().splitlines() if line.startswith(".Sh ")]
    assert [name for name in found if name in SECTIONS] == SECTIONS
