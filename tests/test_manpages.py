"""Manual pages: clean under mandoc's linter, and listing exactly the options the code has."""

from __future__ import annotations

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


def documented_flags(page: Path) -> set[str]:
    """Every option a page documents in a tag list: `.It Fl x` and `.It Fl Fl long`."""
    flags = set()
    for line in page.read_text().splitlines():
        if match := re.match(r"\.It Fl (Fl )?([A-Za-z0-9-]+)", line):
            flags.add(("--" if match.group(1) else "-") + match.group(2))
    return flags


def test_dumpon_page_matches_the_option_table() -> None:
    from dumpon.config import OPTSTRING

    letters = {"-" + c for c in OPTSTRING if c != ":"}
    assert documented_flags(MAN / "dumpon.8") == letters | {"--backend", "--abi", "--help"}
    text = (MAN / "dumpon.8").read_text()
    from dumpon.config import LONG_ALIASES

    for name in LONG_ALIASES:
        assert f"Fl Fl {name}" in text
