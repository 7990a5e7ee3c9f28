"""The repository's own bar: ruff and mypy --strict are clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import BIN

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "dumpon", "tests", "benchmarks"],
        ["ruff", "format", "--check", "dumpon", "tests", "benchmarks"],
        ["mypy", "--strict", "dumpon"],
    ],
    ids=["ruff", "ruff-format", "mypy"],
)
def test_clean(command: list[str]) -> None:
    tool = BIN / command[0]
    if not tool.exists():
        pytest.skip(f"{command[0]} is not installed: pip install -e '.[test]'")
    done = subprocess.run(
        [str(tool), *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
