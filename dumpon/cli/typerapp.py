"""Running a typer app inside the project's single error path."""

from __future__ import annotations

import typer

from dumpon.errors import Exit


def new_app(name: str, help_text: str | None = None, **settings: object) -> typer.Typer:
    """A typer app with plain (non-rich) help and errors: rich help costs ~75 ms a run."""
    settings.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
    return typer.Typer(
        name=name,
        help=help_text,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        **settings,  # type: ignore[arg-type]
    )


def invoke(app: typer.Typer, prog: str, argv: list[str] | None = None) -> int:
    """Run `app`; click's usage errors (status 2, message already shown) become sysexits' 64.

    Errors of our own (ToolError) pass through click untouched, to the caller's error path.
    """
    try:
        app(args=argv, prog_name=prog)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        return Exit.USAGE if status == 2 else status
    return Exit.OK
