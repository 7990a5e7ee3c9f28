"""The README's two commands: CI runs the second; the first (the main job) works in a
namespace that looks like a fresh machine with an eth0."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support import BIN, requires_netns, run, veth_namespace

ROOT = Path(__file__).resolve().parent.parent


def commands() -> list[str]:
    return re.findall(r"^```sh\n(.*?)\n```$", (ROOT / "README.md").read_text(), re.M | re.S)


def test_readme_starts_with_two_commands() -> None:
    found = commands()
    assert len(found) >= 2
    assert all("\n" not in command for command in found[:2])
    assert "pytest" in found[1] and "dumpon" in found[0]
    text = (ROOT / "README.md").read_text()
    assert text.index(found[0]) < text.index(found[1]) < text.index("\n## ")


def test_ci_runs_the_readme_test_command() -> None:
    extracted = subprocess.run(
        [
            "bash",
            "-c",
            "awk '/^```sh$/ { block++; getline; if (block == 2) { print; exit } }' README.md",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert extracted == commands()[1]
    assert "awk '/^```sh$/ { block++; getline; if (block == 2)" in (ROOT / ".ci/run").read_text()


@requires_netns
def test_main_job_in_a_namespace(tmp_path: Path) -> None:
    main_job = commands()[0].split(" && ")[-1].replace(".venv/bin/", f"{BIN}/").split()
    with veth_namespace("192.0.2.10", "192.0.2.1", iface="eth0") as ns:
        result = run(
            main_job, netns=ns.name, env={"DUMPON_BACKEND": f"file:{tmp_path / 'kernel.json'}"}
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("kernel dumps on priority: device\n0: eth0\n")
    assert "server address: 192.0.2.1\n" in result.stdout
