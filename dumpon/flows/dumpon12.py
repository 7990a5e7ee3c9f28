"""dumpon(8) as FreeBSD 12.x has it: one dump target, netdump set through NETDUMPSCONF.

Used when kern.osreldate is below 1300000, or with `--abi 12`.  The flow is sbin/dumpon/dumpon.c
on FreeBSD's stable/12 branch: no -i, -r or -C; every
configuration first disables the single dumper (12.x answers EBUSY when one is already
set), and `off` stops right after that; -k always means AES-256-CBC wrapped with PKCS#1
v1.5; errors are reported with the name of the ioctl that failed, without the current
version's compression retry, friendly ENODEV text or link warning.  The steps both
versions take come from dumpon/flows/steps.py.
"""

from __future__ import annotations

import errno
from typing import TextIO

from dumpon import inet
from dumpon.errors import Exit, ToolError, UsageError, errno_of, strerror
from dumpon.flows import listing, steps
from dumpon.flows.steps import Console
from dumpon.kernel import abi
from dumpon.kernel.abi import DumpArg, DumpArg12, NetdumpConf
from dumpon.kernel.base import PATH_DEVNULL, PATH_NETDUMP, Kernel
from dumpon.options import DumponOptions, Operand, ServerName
from dumpon.resolver import ResolveError


def run(options: DumponOptions, kernel: Kernel, console: Console) -> None:
    """Carry out a parsed command line against a 12.x kernel; raises ToolError on failure."""
    _reject_newer_options(options)
    if options.gzip and options.zstd:
        raise ToolError("The -z and -Z options are mutually exclusive.", Exit.USAGE)
    if options.list_targets:
        if options.json:
            from dumpon.flows.listing_json import print_listing_json

            print_listing_json(kernel, 12, console.out)
        else:
            list_targets(kernel, options.verbose, console.out)
        return
    if len(options.operands) != 1:
        raise UsageError()
    if options.pubkey is not None:
        steps.require_crypto()
    operand = options.operands[0]
    if options.server is not None and options.client is not None:
        device, netdump, enable = PATH_NETDUMP, True, True
    elif options.server is None and options.client is None:
        netdump, enable = False, operand != "off"
        device = operand if enable else PATH_DEVNULL
    else:
        raise UsageError()

    path = steps.device_path(device)
    with steps.opened(kernel, path) as fd:
        if not netdump and not options.gzip:  # zstd does not skip it in 12.x, nor does off
            _check_size(kernel, fd, path, options.verbose, console.out)
        model = kernel.abi
        _ioctl(kernel, fd, model.DIOCSKERNELDUMP_FREEBSD12, model.pack_kda12(DumpArg12()))
        if not enable:
            return
        compression = abi.COMP_ZSTD if options.zstd else abi.COMP_GZIP if options.gzip else 0
        conf = _netdump_conf(options, operand, console) if netdump else None
        request = DumpArg12(enable=True, compression=compression)
        if options.pubkey is None:
            _enable(kernel, fd, request, conf)
        else:
            # 12.x dumpon did not refuse AES with compression itself (the kernel answers
            # EOPNOTSUPP), so the key is wrapped as if there were none.
            with steps.user_key(
                options.pubkey, abi.ENC_AES_256_CBC, abi.COMP_NONE, padding="pkcs1"
            ) as key:
                _enable(kernel, fd, key.applied_to(request), conf)
    if options.verbose:
        print(f"kernel dumps on {path}", file=console.out)


def _reject_newer_options(options: DumponOptions) -> None:
    """12.x's option string is c:g:k:ls:vZz, so getopt rejects -C, -i and -r."""
    for letter, given in (
        ("C", options.cipher is not None),
        ("i", options.index is not None),
        ("r", options.remove),
    ):
        if given:
            raise UsageError(f"illegal option -- {letter}")


def _check_size(kernel: Kernel, fd: int, path: str, verbose: bool, out: TextIO) -> None:
    """12.x told of a device smaller than memory on stdout, only with -v; exit 74 either way."""
    try:
        steps.check_size(kernel, fd, path)
    except ToolError as exc:
        if exc.exit_code != Exit.IOERR:
            raise
        if verbose:
            print(exc.message, file=out)
        raise ToolError("", Exit.IOERR) from None


def _netdump_conf(options: DumponOptions, iface: Operand, console: Console) -> NetdumpConf:
    """Interface and addresses, checked in the same order as the current version."""
    request = steps.netdump_request(DumpArg(), options, iface, console, _resolve_server)
    size = abi.IN_ADDR_SIZE
    return NetdumpConf(
        iface=request.iface,
        server=request.server[:size],
        client=request.client[:size],
        gateway=request.gateway[:size],
    )


def _resolve_server(server: ServerName) -> str:
    """12.x reported every resolver failure err(1)-style, with exit status 1."""
    try:
        return server.resolve()
    except ResolveError as exc:
        # err(3) appends strerror(errno), and errno after a failed getaddrinfo() is whatever
        # the resolver left there; Python does not expose it, so ENOENT stands in.
        raise ToolError(f"{exc.reason}: {strerror(errno.ENOENT)}", Exit.FAILURE) from None


def _enable(kernel: Kernel, fd: int, request: DumpArg12, conf: NetdumpConf | None) -> None:
    model = kernel.abi
    if conf is None:
        _ioctl(kernel, fd, model.DIOCSKERNELDUMP_FREEBSD12, model.pack_kda12(request))
    else:
        arg = model.pack_netdump_conf(conf._replace(kda=request))
        _ioctl(kernel, fd, model.NETDUMPSCONF, arg, "NETDUMPSCONF")


def _ioctl(
    kernel: Kernel, fd: int, request: int, arg: bytearray, name: str = "DIOCSKERNELDUMP"
) -> None:
    try:
        kernel.ioctl(fd, request, arg)
    except OSError as exc:
        raise ToolError(f"ioctl({name}): {strerror(errno_of(exc))}", Exit.OSERR) from None
    finally:
        arg[:] = bytes(len(arg))  # it may hold the plaintext one-time key


def list_targets(kernel: Kernel, verbose: bool, out: TextIO) -> None:
    """12.x `dumpon -l`: the single target; with -v also netdump's addresses."""
    value = listing.read_dumpdevname(kernel)
    print(f"kernel dumps on {value}" if verbose else value, file=out)
    if not verbose:
        return
    model = kernel.abi
    raw = listing.query_netdump(kernel, model.NETDUMPGCONF, model.netdump_conf_size, "NETDUMPGCONF")
    if raw is None:
        return
    conf = model.unpack_netdump_conf(raw)
    for role, address in (
        ("server", conf.server),
        ("client", conf.client),
        ("gateway", conf.gateway),
    ):
        print(f"{role} address: {inet.ntoa(address)}", file=out)
