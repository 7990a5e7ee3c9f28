"""BSD getopt(3) with a few long options, as FreeBSD's dumpon and decryptcore parse argv.

Short options may be grouped (`-vZ`), an argument may be attached (`-s10.0.0.1`) or follow,
`--` ends the options, and parsing stops at the first operand (so later options become
operands).  Long options (`--backend=X` or `--backend X`) are this project's additions;
their messages are those of GNU getopt_long(3).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple


class GetoptError(Exception):
    """What getopt would complain about: `kind` is "illegal", "missing", "needs-value",
    "takes-no-value" or "unknown-long"."""

    def __init__(self, kind: str, option: str) -> None:
        super().__init__(kind, option)
        self.kind = kind
        self.option = option

    def message(self) -> str:
        if self.kind == "illegal":
            return f"illegal option -- {self.option}"
        if self.kind == "missing":
            return f"option requires an argument -- {self.option}"
        if self.kind == "needs-value":
            return f"option '--{self.option}' requires an argument"
        if self.kind == "takes-no-value":
            return f"option '--{self.option}' doesn't allow an argument"
        return f"unrecognized option '--{self.option}'"


class Spec(NamedTuple):
    """An option string such as "C:c:g:" and the long options ("name" or "name=")."""

    optstring: str
    long_options: tuple[str, ...] = ()

    def takes_argument(self, letter: str) -> bool | None:
        """True/False for a known short option, None for an unknown one."""
        if letter == ":" or letter not in self.optstring:
            return None
        at = self.optstring.index(letter)
        return self.optstring[at + 1 : at + 2] == ":"

    def long_takes_argument(self, name: str) -> bool | None:
        if name + "=" in self.long_options:
            return True
        return False if name in self.long_options else None


def getopt(argv: Sequence[str], spec: Spec) -> Iterator[tuple[str, str | None] | list[str]]:
    """Yield (option, argument) pairs in order, then the list of operands.

    Options are yielded one at a time so that a caller can act on each before the next is
    read, as dumpon(8) does for `-C` and `-i`.  Raises GetoptError where libc would print.
    """
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break
        i += 1
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            wants = spec.long_takes_argument(name)
            if wants is None:
                raise GetoptError("unknown-long", name)
            if eq and not wants:
                raise GetoptError("takes-no-value", name)
            if wants and not eq:
                if i >= len(argv):
                    raise GetoptError("needs-value", name)
                value = argv[i]
                i += 1
            yield ("--" + name, value if wants else None)
            continue
        pos = 1
        while pos < len(word):
            letter = word[pos]
            pos += 1
            wants = spec.takes_argument(letter)
            if wants is None:
                raise GetoptError("illegal", letter)
            if not wants:
                yield ("-" + letter, None)
                continue
            if pos < len(word):
                yield ("-" + letter, word[pos:])
            elif i < len(argv):
                yield ("-" + letter, argv[i])
                i += 1
            else:
                raise GetoptError("missing", letter)
            break
    yield list(argv[i:])
