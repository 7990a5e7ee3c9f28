"""Per-namespace resolver files: `ip netns exec NAME` bind-mounts /etc/netns/NAME/* over
/etc, so a process in the namespace sees these instead of the host's, and no DNS query
leaves the test's namespaces."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NETNS_ETC = Path("/etc/netns")


@contextmanager
def private_resolver(
    *namespaces: str, nameserver: str = "127.0.0.1", options: str = "timeout:1 attempts:1"
) -> Iterator[None]:
    """resolv.conf pointing at `nameserver` (in the namespace: nothing, unless a test
    listens there) and an empty hosts file, so every reverse lookup goes to DNS."""
    made: list[Path] = []
    try:
        for namespace in namespaces:
            etc = NETNS_ETC / namespace
            etc.mkdir(parents=True, exist_ok=False)
            made.append(etc)
            (etc / "resolv.conf").write_text(f"nameserver {nameserver}\noptions {options}\n")
            (etc / "hosts").write_text("127.0.0.1 localhost\n")
        yield
    finally:
        for etc in made:
            shutil.rmtree(etc, ignore_errors=True)
