"""Running a typer app inside the project's single error path."""

from __future__ import annotations

import sys

import typer

from dumpon.errors import Exit, ToolError


def new_app(name: str, help_text: str, **settings: object) -> typer.Typer:
    """A typer app with plain (non-rich) help and errors: rich help costs ~75 ms a run."""
    return typer.Typer(
        name=name,
        help=help_text,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        **settings,  # type: ignore[arg-type]
    )


def invoke(app: typer.Typer, prog: str, argv: list[str] | None = None) -> int:
    """Run `app`; click's usage errors become sysexits' 64 instead of click's 2."""
    from typer._click.exceptions import ClickException

    try:
        app(args=argv, prog_name=prog, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except ClickException as exc:
        exc.show(file=sys.stderr)
        raise ToolError("", Exit.USAGE if exc.exit_code == 2 else exc.exit_code) from None
    return 0
