"""pyroute2 costs ~150 ms to import: only the paths that need a route or a MAC load it."""

from __future__ import annotations

import subprocess

import pytest
from netns_topology import PYTHON, ROOT


def imported(*argv: str) -> set[str]:
    """The top-level packages a command imports (python -X importtime)."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", *argv], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert lines, done.stderr
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines}


@pytest.mark.parametrize(
    "argv",
    [
        ("-m", "dumpon.cli.dumpon", "-l"),
        ("-m", "dumpon.cli.dumpon", "-lv"),
        ("-m", "dumpon.cli.dumpon", "--help"),
        ("-m", "dumpon.cli.netdump", "--help"),
    ],
)
def test_listing_and_help_do_not_import_pyroute2(argv: tuple[str, ...]) -> None:
    assert "pyroute2" not in imported(*argv)


def test_a_route_lookup_does() -> None:
    code = "from dumpon.netinfo import routes; routes.route_to('127.0.0.1')"
    assert "pyroute2" in imported("-c", code)
