"""Shell completion scripts: committed files match what the programs generate, and real
bash, zsh and fish complete options and their values (ciphers, backends, interfaces,
compression, files) with them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import BIN, script

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"
PROGRAMS = ["dumpon", "netdump", "netdumpd", "decryptcore"]
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


# (command line before the word, the word, what must be offered; None: file names)
VALUES = [
    ("dumpon -C", "", ["chacha20", "aes256-cbc"]),
    ("dumpon -v -C", "aes", ["aes256-cbc"]),
    ("dumpon --backend", "", ["auto", "freebsd", "file:"]),
    ("dumpon --abi", "", ["12", "13"]),
    ("dumpon -s 192.0.2.1 -c 192.0.2.10", "l", ["lo"]),
    ("dumpon", "of", ["off"]),
    ("netdump route 192.0.2.1", "", ["lo"]),
    ("netdump check -s 192.0.2.1", "l", ["lo"]),
    ("netdump send core -s 192.0.2.1", "l", ["lo"]),
    ("netdump send core -s 192.0.2.1 --compression", "", ["gzip", "zstd"]),
    ("netdump send core -s 192.0.2.1 --order", "", ["12", "13"]),
    ("netdump send core -s 192.0.2.1 -C", "c", ["chacha20"]),
    ("netdump check --backend", "f", ["freebsd", "file:"]),
    ("decryptcore -p", "", None),
    ("dumpon -k", "", None),
    ("netdumpd -d", "", None),
]


def bash_words(line: str, word: str) -> str:
    program = line.split()[0]
    source = COMPLETIONS / FILES["bash"].format(program)
    words = " ".join(f"'{w}'" for w in [*line.split(), word])
    command = (
        f"source {source}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1));"
        f' _{program}_completion {program}; printf "%s\\n" "${{COMPREPLY[@]}}"'
    )
    return in_shell(["bash", "--norc", "-c", command])


@pytest.mark.parametrize(("line", "word", "offered"), VALUES)
def test_bash_completes_values(line: str, word: str, offered: list[str] | None) -> None:
    need("bash")
    lines = bash_words(line, word).split()
    if offered is None:  # nothing: bash's `-o default` completes file names
        assert lines == []
    else:
        assert set(offered) <= set(lines), lines
        assert all(value.startswith(word) for value in lines)


@pytest.mark.parametrize(("line", "word", "offered"), VALUES)
def test_zsh_completes_values(line: str, word: str, offered: list[str] | None) -> None:
    """The real zsh runs the committed function; _arguments and _files print what they
    were handed instead of drawing a menu."""
    need("zsh")
    program = line.split()[0]
    source = COMPLETIONS / FILES["zsh"].format(program)
    words = " ".join(f"'{w}'" for w in [*line.split(), word])
    command = (
        "_arguments() { print -r -- $1 }; _files() { print -r -- FILES };"
        f" compdef() {{ : }}; source {source}; words=({words}); CURRENT=${{#words}};"
        f" _{program}_completion"
    )
    output = in_shell(["zsh", "-f", "-c", command])
    if offered is None:
        assert output.strip() == "FILES"
    else:
        # _arguments' value specs escape a colon (typer writes it as \\:)
        unescaped = output.replace("\\\\:", ":")
        for value in offered:
            assert f'"{value}"' in unescaped, output


@pytest.mark.parametrize(("line", "word", "offered"), VALUES)
def test_fish_completes_values(line: str, word: str, offered: list[str] | None) -> None:
    need("fish")
    program = line.split()[0]
    source = COMPLETIONS / FILES["fish"].format(program)
    output = in_shell(["fish", "--no-config", "-c", f'source {source}; complete -C"{line} {word}"'])
    values = [entry.split("\t")[0] for entry in output.splitlines()]
    if offered is None:  # fish falls back to file names: the current directory's
        assert all(not value.startswith("-") for value in values)
    else:
        assert set(offered) <= set(values), values


@pytest.mark.parametrize("program", ["dumpon", "decryptcore", "netdumpd"])
def test_typer_completion_options_stay_hidden(program: str) -> None:
    """--install-completion and --show-completion are typer's, not FreeBSD's options."""
    assert "completion" not in in_shell([program, "--help"])
