"""A typer command's options read with FreeBSD's getopt(3) rules (dumpon/getopt.py).

The typer command is a tool's one description of its options: typer renders `--help`
from it and answers shell completion from it.  This derives getopt's table from the same
command, through click's public parameter attributes (`opts`, `is_flag`, `is_eager`), and
converts every value with the parameter's own type at the moment getopt reads it, because
FreeBSD's tools check some options inside their getopt loop: a bad value stops the reading
before a later option is even looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import typer
import typer.main

from dumpon.getopt import Spec, getopt


class UnexpectedOperands(Exception):
    """Operands after the options of a command that takes none."""


class Param(Protocol):
    """What is used of a click parameter (option or argument)."""

    name: str | None
    opts: list[str]
    is_eager: bool

    def type_cast_value(self, ctx: Any, value: Any) -> Any: ...


class OptionTable(NamedTuple):
    """getopt's view of a typer command: its option letters, long names and parameters."""

    context: typer.Context
    spec: Spec
    by_spelling: dict[str, Param]  # "-C" and "--cipher" alike
    operands: Param | None  # the argument that takes what follows the options

    @classmethod
    def of(cls, app: typer.Typer, prog: str) -> OptionTable:
        command = typer.main.get_command(app)
        context = typer.Context(command, info_name=prog)
        by_spelling: dict[str, Param] = {}
        letters, longs, operands = "", [], None
        for param in command.get_params(context):
            if param.param_type_name == "argument":
                operands = param
                continue
            takes_value = not getattr(param, "is_flag", False)
            for spelling in param.opts:
                by_spelling[spelling] = param
                if spelling.startswith("--"):
                    longs.append(spelling[2:] + ("=" if takes_value else ""))
                else:
                    letters += spelling[1:] + (":" if takes_value else "")
        return cls(context, Spec(letters, tuple(longs)), by_spelling, operands)

    def read(self, argv: Sequence[str]) -> dict[str, Any]:
        """The values given, by parameter name, each converted as it is read; the operands
        under the argument's name.  Reading ends after an eager flag (`--help`,
        `--version`), as click ends at one.  Raises GetoptError, UnexpectedOperands, or
        what a parameter's type raises."""
        given: dict[str, Any] = {}
        for item in getopt(argv, self.spec):
            if isinstance(item, list):
                if item and self.operands is None:
                    raise UnexpectedOperands(item)
                if item and self.operands is not None:
                    given[_name(self.operands)] = self.operands.type_cast_value(self.context, item)
                break
            spelling, value = item
            param = self.by_spelling[spelling]
            if value is None:  # a flag
                given[_name(param)] = True
                if param.is_eager:
                    break
            else:
                given[_name(param)] = param.type_cast_value(self.context, value)
        return given

    def help_text(self) -> str:
        """typer's `--help` text (plain: the app renders no rich markup)."""
        return self.context.command.get_help(self.context) + "\n"


def _name(param: Param) -> str:
    assert param.name is not None  # click names every parameter
    return param.name
