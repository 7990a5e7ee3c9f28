"""Running a typer app inside the project's single error path."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import typer

from dumpon import __version__
from dumpon.errors import Exit, ToolError


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
    """Run `app`; click's usage errors become one-line ToolErrors with sysexits' 64.

    Errors of our own (ToolError) pass through click untouched, to the caller's error path.
    """
    if completion_requested(prog):
        from typer import completion

        # typer registers its shells' completion classes when it builds its
        # --install-completion options; commands that show none (add_completion=False)
        # still answer the scripts in completions/
        completion.get_completion_inspect_parameters()
    try:
        status = app(args=argv, prog_name=prog, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        raise KeyboardInterrupt from None
    except Exception as exc:
        usage = _usage_error(exc)
        if usage is None:
            raise
        message, where = usage
        if "\n" in message:  # no_args_is_help: the help itself is the error
            sys.stderr.write(message + "\n")
            return Exit.USAGE
        raise ToolError(
            f"{message} (see {where} --help)" if where else message, Exit.USAGE
        ) from None
    return status if isinstance(status, int) else Exit.OK


def _usage_error(exc: Exception) -> tuple[str, str | None] | None:
    """click's usage error (exit status 2): its message and the command's path, else None.

    click's own report takes three lines (usage, a hint, the error); every error of these
    tools is one line.  click's exception classes are not public API of typer, so the
    error is known by its documented interface: `exit_code` 2 and `format_message()`.
    """
    format_message = getattr(exc, "format_message", None)
    if getattr(exc, "exit_code", None) != 2 or not callable(format_message):
        return None
    where = getattr(getattr(exc, "ctx", None), "command_path", None)
    return str(format_message()), where if isinstance(where, str) else None


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
