"""The wheel and sdist: built offline, accepted by `twine check`, carrying the manual pages
and completions under share/, installing the commands and pages into a fresh venv."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import dumpon

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
COMMANDS = set(PYPROJECT["project"]["scripts"])
SHARE_DIRS = {
    "share/man/man8",
    "share/bash-completion/completions",
    "share/zsh/site-functions",
    "share/fish/vendor_completions.d",
}


def _run(*argv: str | Path, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` without isolation or network: the sdist, and the wheel from it."""
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out)
    return out


def _one(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def test_twine_accepts_both(dist: Path) -> None:
    output = _run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()))
    assert output.count("PASSED") == 2


def test_one_version(dist: Path) -> None:
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert "version" not in PYPROJECT["project"]
    wheel = _one(dist, "*.whl")
    assert wheel.name.startswith(f"dumpon-{dumpon.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"dumpon-{dumpon.__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {dumpon.__version__}\n" in metadata


def test_wheel_record_lists_every_page_and_completion(dist: Path) -> None:
    version = dumpon.__version__
    with zipfile.ZipFile(_one(dist, "*.whl")) as archive:
        record = archive.read(f"dumpon-{version}.dist-info/RECORD").decode()
    data = f"dumpon-{version}.data/data/"
    shared = {row[0].removeprefix(data) for row in csv.reader(io.StringIO(record)) if row}
    shared = {path for path in shared if path.startswith("share/")}
    assert {os.path.dirname(path) for path in shared} == SHARE_DIRS
    pages = {f"share/man/man8/{page.name}" for page in (ROOT / "man").glob("*.8")}
    assert pages <= shared
    # every committed completion file ships, under the name its shell looks for
    assert len(shared) == len(pages) + len(list((ROOT / "completions").iterdir()))
    for command in COMMANDS:
        assert f"share/bash-completion/completions/{command}" in shared
        assert f"share/zsh/site-functions/_{command}" in shared
        assert f"share/fish/vendor_completions.d/{command}.fish" in shared


def test_sdist_carries_sources_pages_and_tests(dist: Path) -> None:
    import tarfile

    with tarfile.open(_one(dist, "*.tar.gz")) as archive:
        names = {re.sub(r"^[^/]+/", "", name) for name in archive.getnames()}
    for needed in ("pyproject.toml", "README.md", "man/dumpon.8", "completions/_dumpon"):
        assert needed in names
    assert "tests/test_packaging.py" in names


def test_install_into_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    wheel = _one(dist, "*.whl")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel)
    for command in COMMANDS:
        assert (venv / "bin" / command).is_file()
    assert (venv / "share" / "man" / "man8" / "dumpon.8").read_bytes() == (
        ROOT / "man" / "dumpon.8"
    ).read_bytes()
    assert (venv / "share" / "bash-completion" / "completions" / "dumpon").is_file()
    # The dependencies (not installed offline) come from this test run's environment,
    # after the venv's own site-packages, so the installed wheel's dumpon is the one run.
    (site,) = venv.glob("lib/python*/site-packages")
    deps = Path(__import__("typer").__file__).parent.parent
    (site / "test-dependencies.pth").write_text(f"{deps}\n")
    for command in COMMANDS:
        version = _run(venv / "bin" / command, "--version", cwd=tmp_path)
        assert version == f"{command} {dumpon.__version__}\n"


# --- the FreeBSD port skeleton ------------------------------------------------------------

PORT = ROOT / "packaging" / "freebsd"


def _port_variables() -> dict[str, str]:
    """The port Makefile's `NAME=<tab>value` assignments, continuation lines joined."""
    text = (PORT / "Makefile").read_text().replace("\\\n", " ")
    return {
        name: " ".join(value.split())
        for name, value in re.findall(r"^([A-Z_]+)=\t+(.*)$", text, flags=re.MULTILINE)
    }


def test_port_follows_the_package() -> None:
    variables = _port_variables()
    assert variables["DISTVERSION"] == dumpon.__version__  # bump both together
    assert variables["USES"] == "python"
    assert variables["USE_PYTHON"] == "autoplist concurrent pep517"
    depends = variables["RUN_DEPENDS"]
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        assert f"${{PYTHON_PKGNAMEPREFIX}}{name}>" in depends
    assert "${PYTHON_PKGNAMEPREFIX}pyroute2>" in depends


def test_port_installs_the_rc_script() -> None:
    plist = (PORT / "pkg-plist").read_text().splitlines()
    assert [line for line in plist if not line.startswith("@comment")] == ["etc/rc.d/netdumpd"]
    makefile = (PORT / "Makefile").read_text()
    assert "${WRKSRC}/packaging/freebsd/rc.d/netdumpd" in makefile
    assert "${STAGEDIR}${PREFIX}/etc/rc.d/netdumpd" in makefile
    for command in ("dumpon", "netdump", "netdumpd", "decryptcore"):
        assert f"bin/{command}" in makefile
        assert f"{command}.8" in makefile
