"""The README's examples marked `<!-- runnable -->` run, in order, as a reader would type
them: in a network namespace with an `eth0` (192.0.2.10, its router 192.0.2.1) where the
emulated kernel (`DUMPON_BACKEND=file:...`) stands in for FreeBSD's and a netdumpd listens
on the namespace's own loopback, so the protocol's fixed ports collide with nobody."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

from tests.support import BIN, requires_netns, veth_namespace

ROOT = Path(__file__).resolve().parent.parent
RUNNABLE = re.compile(r"^<!-- runnable -->\n```sh\n(.*?)\n```$", re.M | re.S)


def runnable_blocks() -> list[str]:
    return RUNNABLE.findall((ROOT / "README.md").read_text())


def test_the_readme_has_runnable_examples() -> None:
    """Keys, an encrypted configuration, its JSON listing, a check and a send to a local
    netdumpd, and the decryption of what it stored."""
    text = "\n".join(runnable_blocks())
    for command in (
        "netdump keygen",
        "dumpon -k",
        "dumpon -l --json",
        "netdumpd ",
        "netdump check",
    ):
        assert command in text
    assert "netdump send" in text and "decryptcore" in text


@requires_netns
def test_runnable_examples(tmp_path: Path) -> None:
    # errexit for every line
    script = "set -euo pipefail\n"
    script += "\n".join(runnable_blocks()) + "\n"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DUMPON_BACKEND": f"file:{tmp_path / 'kernel.json'}",
    }
    # veth_namespace gives the namespace its own resolv.conf and hosts: no query leaves it
    pidfile = tmp_path / "netdumpd.pid"
    with veth_namespace("192.0.2.10", "192.0.2.1", iface="eth0") as ns:
        try:
            done = subprocess.run(
                ["ip", "netns", "exec", ns.name, "bash", "-c", script],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:  # the examples stop the detached netdumpd only when all went well
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert '"cipher": "chacha20"' in done.stdout  # dumpon -l --json
    assert done.stdout.count("outcome:     FINISHED acknowledged") == 2  # check, then send
    assert (tmp_path / "dumps" / "vmcore.localhost.1").read_bytes() == (
        tmp_path / "vmcore.test"
    ).read_bytes()
