"""Running the `dumpon` console script against a file-backed emulated kernel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from tests.support import Namespace, Result, run, script, veth_namespace

Dumpon = Callable[..., Result]


def file_backend_dumpon(state: Path) -> Dumpon:
    """`dumpon --backend file:STATE ARGS...`, optionally inside a network namespace."""

    def invoke(*args: str, netns: str | None = None) -> Result:
        return run([script("dumpon"), "--backend", f"file:{state}", *args], netns=netns)

    return invoke


def one_veth_namespace() -> Iterator[Namespace]:
    """A namespace with an Ethernet (veth) interface and a router, for a pytest fixture."""
    with veth_namespace() as namespace:
        yield namespace
