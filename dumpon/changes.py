"""What the running command has changed so far, so that a late failure can say so.

A command that fails after it took effect (standard output full or closed, after the
kernel was configured) must tell the user whether its change was applied.  The code that
makes a change notes it here when the change is done; the error path reads it.
"""

from __future__ import annotations

_applied: list[str] = []


def start() -> None:
    """A command begins: nothing is changed yet (one process may run several, in tests)."""
    _applied.clear()


def applied(what: str) -> None:
    """Note a change that has taken effect, worded for the user: "keys were written"."""
    if what not in _applied:
        _applied.append(what)


def any_applied() -> bool:
    return bool(_applied)


def summary() -> str:
    """Every change noted, or that there was none."""
    return ", ".join(_applied) or "nothing was changed"
