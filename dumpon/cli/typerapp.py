"""Running a typer app inside the project's single error path."""

from __future__ import annotations

import os
from collections.abc import Callable

import typer

from dumpon import __version__
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
    if completion_requested(prog):
        import typer.completion

        # typer registers its shells' completion classes when it builds its
        # --install-completion options; commands that show none (add_completion=False)
        # still answer the scripts in completions/
        typer.completion.get_completion_inspect_parameters()
    try:
        app(args=argv, prog_name=prog)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        return Exit.USAGE if status == 2 else status
    return Exit.OK


def version_line(prog: str) -> str:
    """What `--version` prints, for every command: the package's one version."""
    return f"{prog} {__version__}"


def show_version(prog: str) -> Callable[[bool], None]:
    """An eager `--version` option's callback: print the version line and stop."""

    def show(given: bool) -> None:
        if given:
            print(version_line(prog))
            raise typer.Exit()

    return show


def completion_requested(prog: str) -> bool:
    """Whether a shell's completion script (completions/) is asking `prog` for words."""
    return f"_{prog.upper()}_COMPLETE" in os.environ
