"""Choosing the kernel backend: `--backend`, then $DUMPON_BACKEND, then `auto`."""

from __future__ import annotations

import os
import sys

from dumpon.errors import Exit, ToolError
from dumpon.kernel.base import Kernel

ROOT_STATE_PATH = "/var/lib/dumpon/kernel.json"


def default_state_path() -> str:
    """Where the emulated kernel lives: system-wide for root, per user otherwise."""
    if os.geteuid() == 0:
        return ROOT_STATE_PATH
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec says to ignore relative values
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "dumpon", "kernel.json")


def resolve_backend(spec: str | None) -> str:
    """The backend spec in force, with `auto` made concrete."""
    chosen = spec or os.environ.get("DUMPON_BACKEND") or "auto"
    if chosen == "auto":
        return "freebsd" if sys.platform.startswith("freebsd") else "file:" + default_state_path()
    return chosen


def open_kernel(spec: str | None) -> Kernel:
    chosen = resolve_backend(spec)
    if chosen.startswith("file:"):
        path = chosen.removeprefix("file:")
        if not path:
            raise ToolError("backend 'file:' needs a path, as in file:/tmp/kernel.json", Exit.USAGE)
        from dumpon.kernel.emulation.freebsd12 import EmulatedKernel

        return EmulatedKernel(os.path.abspath(path))
    if chosen == "freebsd":
        from dumpon.kernel.freebsd import open_freebsd_kernel

        return open_freebsd_kernel()
    raise ToolError(f"unknown backend '{chosen}': expected auto, freebsd or file:PATH", Exit.USAGE)
