"""`netdumpd`: the dump server, FreeBSD netdumpd's options plus limits and tunables.

netdumpd [-D] [-a addr] [-d dumpdir] [-i script] [-P pidfile] [-p path] [--port N] ...
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from dumpon import inet
from dumpon.cli import completion
from dumpon.cli.errorpath import run_guarded, warn
from dumpon.cli.typerapp import invoke, new_app, show_version
from dumpon.errors import Exit, ToolError, os_error_text
from dumpon.server import daemon
from dumpon.server.config import BUSY_POLL_USEC, NETDUMP_PORT, UDP_MAX_PAYLOAD, ServerConfig

if TYPE_CHECKING:
    from dumpon.server.loop import Server

PROG = "netdumpd"
# The reference netdumpd's getopt string has no -h: help is --help alone
app = new_app(
    PROG,
    "Receive FreeBSD kernel dumps sent by netdump(4).",
    add_completion=False,
    context_settings={"help_option_names": ["--help"]},
)
_SIZE = re.compile(r"(\d+)([KMGT]?)i?B?", re.IGNORECASE)
_UNITS = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}


def parse_size(text: str) -> int:
    """A byte count with an optional binary suffix: 512, 64K, 10M, 2G, 1T."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a size such as 4096, 64K, 10M or 2G")
    return int(match.group(1)) << _UNITS[match.group(2).upper()]


def _bind_address(text: str) -> str:
    try:
        return inet.parse(text)
    except ValueError:
        raise typer.BadParameter("invalid bind IP specified") from None


def _dumpdir(path: Path) -> int:
    """An O_DIRECTORY descriptor every dump file is opened relative to."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except NotADirectoryError:
        raise ToolError(f"dump location {path} is not a directory", Exit.CANTCREAT) from None
    except OSError as exc:
        raise ToolError(
            f"invalid dump location {path}: {os_error_text(exc)}", Exit.CANTCREAT
        ) from None
    if not os.access(path, os.W_OK):
        warn(PROG, f"warning: may be unable to write into dump location {path}")
    return fd


def _check_default_path(root_fd: int, config: ServerConfig) -> None:
    """-p must name a directory beneath the dump directory, as client paths must."""
    from dumpon.server import beneath

    try:
        os.close(beneath.open_directory(root_fd, config.default_path.encode()))
    except OSError as exc:
        raise ToolError(
            f"default path {config.default_path} is not a directory beneath"
            f" {config.dumpdir}: {os_error_text(exc)}",
            Exit.CANTCREAT,
        ) from None


def _handler_script(path: Path | None) -> Path | None:
    if path is not None and not (path.is_file() and os.access(path, os.X_OK)):
        raise ToolError(f"cannot access {path}: not an executable file", Exit.UNAVAILABLE)
    return path.absolute() if path is not None else None


@app.command()
def netdumpd(
    debug: Annotated[
        bool, typer.Option("-D", "--debug", help="Stay in the foreground and log to stderr.")
    ] = False,
    address: Annotated[
        str | None,
        typer.Option(
            "-a", "--address", metavar="ADDR", help="IPv4 address to listen on (default: all)."
        ),
    ] = None,
    dumpdir: Annotated[
        Path | None,
        typer.Option(
            "-d",
            "--dumpdir",
            metavar="DIR",
            autocompletion=completion.files,
            help="Dump directory [/var/crash].",
        ),
    ] = None,
    script: Annotated[
        Path | None,
        typer.Option(
            "-i",
            "--handler",
            metavar="SCRIPT",
            autocompletion=completion.files,
            help="Run SCRIPT after every dump.",
        ),
    ] = None,
    pidfile: Annotated[
        Path,
        typer.Option(
            "-P", "--pidfile", metavar="FILE", autocompletion=completion.files, help="Pidfile."
        ),
    ] = daemon.DEFAULT_PIDFILE,
    default_path: Annotated[
        str,
        typer.Option(
            "-p",
            "--path",
            metavar="PATH",
            help="Directory under DIR for clients that name none or a bad one.",
        ),
    ] = ".",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="UDP port for heralds.")
    ] = NETDUMP_PORT,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.01, metavar="SECONDS", help="Idle time that ends a dump."),
    ] = 600.0,
    max_dumps: Annotated[
        int, typer.Option("--max-dumps", min=1, help="Dumps kept per host and directory.")
    ] = 1024,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="At --max-dumps, replace the oldest dump.")
    ] = False,
    minfree: Annotated[
        str, typer.Option("--minfree", metavar="SIZE", help="Refuse dumps below this free space.")
    ] = "0",
    max_dump_size: Annotated[
        str | None,
        typer.Option("--max-dump-size", metavar="SIZE", help="Largest body accepted per dump."),
    ] = None,
    max_clients: Annotated[
        int, typer.Option("--max-clients", min=1, help="Dumps in progress at once.")
    ] = 256,
    max_payload: Annotated[
        int,
        typer.Option("--max-payload", min=512, max=UDP_MAX_PAYLOAD, help="Largest payload."),
    ] = UDP_MAX_PAYLOAD,
    handler_timeout: Annotated[
        float,
        typer.Option("--handler-timeout", min=0.01, metavar="SECONDS", help="Handler time limit."),
    ] = 300.0,
    dns_timeout: Annotated[
        float,
        typer.Option(
            "--dns-timeout", min=0.0, metavar="SECONDS", help="Wait for a host name this long."
        ),
    ] = 2.0,
    busy_poll: Annotated[
        int,
        typer.Option(
            "--busy-poll",
            min=0,
            max=1_000_000,
            metavar="USEC",
            help="Poll without sleeping this long after each datagram (0: never).",
        ),
    ] = BUSY_POLL_USEC,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=show_version(PROG), help="Print the version."
        ),
    ] = False,
) -> None:
    """Receive kernel dumps from FreeBSD hosts configured with dumpon(8) -s."""
    if dumpdir is None:
        dumpdir = Path("/var/crash")
        warn(PROG, "default: dumping to /var/crash/")
    if address is None:
        warn(PROG, "default: listening on all interfaces")
    config = ServerConfig(
        dumpdir=dumpdir,
        default_path=default_path,
        bind_address="0.0.0.0" if address is None else _bind_address(address),
        port=port,
        timeout=timeout,
        max_dumps=max_dumps,
        rotate=rotate,
        minfree=parse_size(minfree),
        max_dump_size=None if max_dump_size is None else parse_size(max_dump_size),
        max_clients=max_clients,
        max_payload=max_payload,
        handler=_handler_script(script),
        handler_timeout=handler_timeout,
        dns_timeout=dns_timeout,
        busy_poll=busy_poll / 1e6,
    )
    serve(config, pidfile, debug)


def serve(config: ServerConfig, pidfile: Path, debug: bool) -> None:
    """Start-up in the reference order: pidfile, dump directory, detach, socket, loop."""
    from dumpon.server import sockets
    from dumpon.server.handler import HandlerRunner
    from dumpon.server.loop import Server

    lock = daemon.Pidfile(pidfile)
    try:
        root_fd = _dumpdir(config.dumpdir)
        _check_default_path(root_fd, config)
        try:
            herald = sockets.herald_socket(config.bind_address, config.port)
        except OSError as exc:
            where = f"{config.bind_address}:{config.port}"
            raise ToolError(f"cannot listen on {where}: {os_error_text(exc)}", Exit.OSERR) from None
        if not debug:
            daemon.detach()
        daemon.setup_logging(debug)
        handler = None
        if config.handler is not None:
            handler = HandlerRunner(config.handler, config.dumpdir, config.handler_timeout)
        server = Server(config, root_fd, herald, handler)
        _on_signals(server)
        lock.write()  # only now: a SIGTERM sent to the pid it names ends the server cleanly
        server.run()
        herald.close()
    finally:
        lock.remove()


def _on_signals(server: Server) -> None:
    """SIGTERM and SIGINT end every dump cleanly; SIGHUP (no configuration to reread) is
    ignored, so a closing terminal cannot kill the server between two writes."""
    signal.set_wakeup_fd(server.wake_fd, warn_on_full_buffer=False)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: server.stop())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def main() -> NoReturn:
    run_guarded(PROG, lambda: invoke(app, PROG))
