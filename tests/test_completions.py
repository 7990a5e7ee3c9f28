"""Shell completion scripts: committed files match what the programs generate, and real
bash, zsh and fish complete an option with them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import BIN, script

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"
PROGRAMS = ["dumpon", "netdump"]
FILES = {"bash": "{}.bash", "zsh": "_{}", "fish": "{}.fish"}


def generated(program: str, shell: str) -> str:
    variable = f"_{program.upper()}_COMPLETE"
    done = subprocess.run(
        [script(program)],
        env={**os.environ, variable: f"source_{shell}"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout


def shell_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def in_shell(argv: list[str]) -> str:
    """What a real shell prints when it runs `argv` with the installed scripts on PATH."""
    return subprocess.run(
        argv, capture_output=True, text=True, env=shell_env(), check=True, timeout=30
    ).stdout


def need(shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (Debian package {shell})")


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("shell", FILES)
def test_committed_script_is_current(program: str, shell: str) -> None:
    path = COMPLETIONS / FILES[shell].format(program)
    assert path.read_text() == generated(program, shell), (
        f"regenerate: _{program.upper()}_COMPLETE=source_{shell} {program} > {path}"
    )


@pytest.mark.parametrize("program", PROGRAMS)
def test_bash_completes_an_option(program: str) -> None:
    need("bash")
    source = COMPLETIONS / FILES["bash"].format(program)
    word = "--se" if program == "dumpon" else "--he"
    command = (
        f"source {source}; complete -p {program};"
        f" COMP_WORDS=({program} {word}); COMP_CWORD=1; _{program}_completion {program};"
        ' printf "%s\\n" "${COMPREPLY[@]}"'
    )
    output = in_shell(["bash", "--norc", "-c", command])
    lines = output.splitlines()
    assert lines[0] == f"complete -o default -F _{program}_completion {program}"
    assert ("--server" if program == "dumpon" else "--help") in lines[1:]


def test_fish_completes_an_option() -> None:
    need("fish")
    source = COMPLETIONS / "dumpon.fish"
    output = in_shell(["fish", "--no-config", "-c", f'source {source}; complete -C"dumpon --se"'])
    assert output.startswith("--server\tnetdumpd server")


@pytest.mark.parametrize("program", PROGRAMS)
def test_zsh_loads_the_function(program: str) -> None:
    need("zsh")
    source = COMPLETIONS / FILES["zsh"].format(program)
    subprocess.run(["zsh", "-n", str(source)], check=True, timeout=30)
    command = (
        f"autoload -Uz compinit && compinit -u -D && source {source}"
        f" && print ${{_comps[{program}]}}"
    )
    output = in_shell(["zsh", "-f", "-c", command])
    assert output.strip() == f"_{program}_completion"


def test_zsh_protocol_answers_with_options() -> None:
    done = subprocess.run(
        [script("dumpon")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={
            **os.environ,
            "_DUMPON_COMPLETE": "complete_zsh",
            "_TYPER_COMPLETE_ARGS": "dumpon --gz",
        },
    )
    assert "--gzip" in done.stdout
