from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may touch the real default state (/var/lib/dumpon for root)."""
    monkeypatch.setenv("DUMPON_BACKEND", f"file:{tmp_path / 'default-kernel.json'}")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    assert os.environ["DUMPON_BACKEND"].startswith("file:")
