"""`decryptcore`: FreeBSD's decryptcore(8) command line, plus netdumpd's file names.

    decryptcore [-fLv] -p privatekeyfile -k keyfile -e encryptedcore -c core
    decryptcore [-fLv] [-d crashdir] [-H host] -p privatekeyfile -n dumpnr

Every failure, usage included, exits with status 1 as FreeBSD's does.
"""

# No `from __future__ import annotations`: typer would evaluate every annotation string of
# the command twice on each run (~10 ms for dumpon's).

import sys
from dataclasses import dataclass
from typing import Annotated, NoReturn

import typer

from dumpon.cli import completion
from dumpon.cli.errorpath import run_guarded, warn
from dumpon.cli.typer_getopt import OptionTable, UnexpectedOperands
from dumpon.cli.typerapp import completion_requested, invoke, new_app, version_line
from dumpon.errors import Exit, ToolError
from dumpon.getopt import GetoptError
from dumpon.terminate import Terminated

PROG = "decryptcore"
USAGE = (
    "usage: decryptcore [-fLv] [--decompress] -p privatekeyfile -k keyfile -e encryptedcore"
    " -c core\n"
    "       decryptcore [-fLv] [--decompress] [-d crashdir] [-H host] -p privatekeyfile"
    " -n dumpnr"
)
# pjdlog's syslog lines carry decryptcore's prefix instead of err(3)'s "prog: "
_SYSLOG_PREFIX = "(decryptcore) "

# typer's --install-completion is no decryptcore option: the scripts in completions/ ask
app = new_app(PROG, add_completion=False)


# typer describes the command from this signature (its --help, its completion); argv is
# read with the getopt table derived from it (parse() below), so typer never calls it.
# FreeBSD's getopt string has no h: --help is a long option alone, as --version is.
@app.command(add_help_option=False)
def decryptcore(
    private_key: Annotated[
        str | None,
        typer.Option(
            "-p",
            metavar="privatekeyfile",
            autocompletion=completion.files,
            help="The RSA private key (PEM) matching dumpon -k's public key.",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "-k",
            metavar="keyfile",
            autocompletion=completion.files,
            help="The dump's encrypted key (savecore's key.N).",
        ),
    ] = None,
    encrypted: Annotated[
        str | None,
        typer.Option(
            "-e",
            metavar="encryptedcore",
            autocompletion=completion.files,
            help="The encrypted core (vmcore_encrypted.N).",
        ),
    ] = None,
    core: Annotated[
        str | None,
        typer.Option(
            "-c", metavar="core", autocompletion=completion.files, help="The decrypted core."
        ),
    ] = None,
    crashdir: Annotated[
        str | None,
        typer.Option(
            "-d",
            metavar="crashdir",
            autocompletion=completion.files,
            help="Directory of the dump for -n [/var/crash].",
        ),
    ] = None,
    number: Annotated[
        str | None, typer.Option("-n", metavar="dumpnr", help="Decrypt dump number dumpnr.")
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("-H", metavar="host", help="With -n: netdumpd's dump of this host."),
    ] = None,
    force: Annotated[bool, typer.Option("-f", help="Replace an existing core.")] = False,
    syslog: Annotated[bool, typer.Option("-L", help="Log to syslog.")] = False,
    verbose: Annotated[bool, typer.Option("-v", help="Be verbose.")] = False,
    decompress: Annotated[
        bool, typer.Option("--decompress", help="Write a gzip or zstd core decompressed.")
    ] = False,
    help: Annotated[
        bool, typer.Option("--help", is_eager=True, help="Show this message and exit.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Decrypt an encrypted kernel dump (FreeBSD decryptcore(8))."""


class _Usage(Exception):
    pass


@dataclass(slots=True)
class Options:
    private_key: str | None = None
    key: str | None = None
    encrypted: str | None = None
    core: str | None = None
    crashdir: str | None = None
    number: str | None = None
    host: str | None = None
    force: bool = False
    syslog: bool = False
    verbose: bool = False
    decompress: bool = False
    help: bool = False
    version: bool = False


def option_table() -> OptionTable:
    return OptionTable.of(app, PROG)


def parse(argv: list[str]) -> Options:
    """decryptcore's getopt loop and its checks; _Usage for anything that does not fit."""
    try:
        opts = Options(**option_table().read(argv))
    except UnexpectedOperands:
        raise _Usage from None
    if opts.help or opts.version:
        return opts
    by_number = opts.crashdir is not None or opts.number is not None or opts.host is not None
    by_name = opts.key is not None or opts.encrypted is not None or opts.core is not None
    if by_number and by_name:
        raise _Usage
    if opts.number is not None and not (opts.number.isascii() and opts.number.isdigit()):
        raise _Usage
    named = None not in (opts.key, opts.encrypted, opts.core)
    if opts.private_key is None or (opts.number is None and not named):
        raise _Usage
    return opts


class _Logger:
    """pjdlog's two modes: stderr (`decryptcore: ` lines) or syslog(3), with -v as debug."""

    def __init__(self, opts: Options) -> None:
        self._verbose = opts.verbose
        self._syslog = opts.syslog
        if self._syslog:
            import syslog

            syslog.openlog(PROG, syslog.LOG_PID | syslog.LOG_NDELAY, syslog.LOG_DAEMON)

    def _emit(self, priority_name: str, message: str) -> None:
        if self._syslog:
            import syslog

            syslog.syslog(getattr(syslog, priority_name), _SYSLOG_PREFIX + message)
        else:
            warn(PROG, message)

    def error(self, message: str) -> None:
        self._emit("LOG_ERR", message)

    def warning(self, message: str) -> None:
        self._emit("LOG_WARNING", message)

    def debug(self, message: str) -> None:
        if self._verbose:
            self._emit("LOG_DEBUG", message)


def _decrypt(opts: Options, log: _Logger) -> None:
    from dumpon.crypto import decrypt

    assert opts.private_key is not None
    if opts.number is not None:
        files = decrypt.dump_files(
            opts.crashdir or decrypt.DEFAULT_CRASHDIR,
            opts.number,
            opts.host,
            decompress=opts.decompress,
        )
    else:
        assert opts.key is not None and opts.encrypted is not None and opts.core is not None
        files = decrypt.DumpFiles(opts.key, opts.encrypted, opts.core)
    log.debug(f"Writing {files.output}.")
    decrypt.decrypt_core(
        opts.private_key,
        files.key,
        files.encrypted,
        files.output,
        force=opts.force,
        decompress=opts.decompress,
        log=log.debug,
        warn=log.warning,
    )


def run(argv: list[str]) -> int:
    if completion_requested(PROG):
        return invoke(app, PROG)
    try:
        opts = parse(argv)
    except GetoptError as exc:
        warn(PROG, exc.message())
        print(USAGE, file=sys.stderr)
        return Exit.FAILURE
    except _Usage:
        print(USAGE, file=sys.stderr)
        return Exit.FAILURE
    if opts.help:
        sys.stdout.write(option_table().help_text())
        return Exit.OK
    if opts.version:
        print(version_line(PROG))
        return Exit.OK
    log = _Logger(opts)
    try:
        _decrypt(opts, log)
    except Terminated as exc:
        log.error(f"Terminated by {exc}; no output left behind.")
        exc.die()
        return Exit.FAILURE  # only if the signal is blocked
    except ToolError as exc:
        log.error(exc.message)
        return Exit.FAILURE
    except Exception as exc:  # still one line and FreeBSD's status 1, never a traceback
        log.error(f"internal error: {type(exc).__name__}: {exc}")
        return Exit.FAILURE
    return Exit.OK


def main() -> NoReturn:
    run_guarded(PROG, lambda: run(sys.argv[1:]))
