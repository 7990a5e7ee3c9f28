"""What a dumpon(8) command line asks for, parsed with FreeBSD's getopt rules.

Two checks happen while the options are still being read, as in dumpon.c: an unknown
`-C` cipher and an `-i` index out of range.  Everything else is checked later, in the
order of dumpon/flows/dumpon13.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dumpon.errors import Exit, ToolError, UsageError
from dumpon.getopt import GetoptError, Spec, getopt
from dumpon.kernel import abi

OPTSTRING = "C:c:g:i:k:lrs:vZz"
# Long spellings of dumpon(8)'s letters (our addition; the letters stay as they are).
LONG_ALIASES = {
    "cipher": "C",
    "client": "c",
    "gateway": "g",
    "index": "i",
    "pubkey": "k",
    "list": "l",
    "remove": "r",
    "server": "s",
    "verbose": "v",
    "zstd": "Z",
    "gzip": "z",
}
_SHORT = Spec(OPTSTRING)
LONG_OPTIONS = (
    *(
        name + ("=" if _SHORT.takes_argument(letter) else "")
        for name, letter in LONG_ALIASES.items()
    ),
    "backend=",
    "abi=",
    "json",
    "help",
    "version",
)
SPEC = Spec(OPTSTRING, LONG_OPTIONS)

USAGE = """\
usage: dumpon [-i index] [-r] [-v] [-k <pubkey>] [-Zz] <device>
       dumpon [-i index] [-r] [-v] [-k <pubkey>] [-Zz]
              [-g <gateway>] -s <server> -c <client> <iface>
       dumpon [-v] off
       dumpon [-v] -l"""

CIPHERS = {
    "chacha": abi.ENC_CHACHA20,
    "chacha20": abi.ENC_CHACHA20,
    "aes-cbc": abi.ENC_AES_256_CBC,
    "aes256-cbc": abi.ENC_AES_256_CBC,
}


@dataclass(slots=True)
class DumponOptions:
    """The parsed command line, before any check that needs the system."""

    cipher: int = abi.ENC_NONE
    client: str | None = None
    gateway: str | None = None
    index: int | None = None
    pubkey: str | None = None
    list_targets: bool = False
    remove: bool = False
    verbose: bool = False
    gzip: bool = False
    zstd: bool = False
    server: str | None = None
    operands: list[str] = field(default_factory=list)
    backend: str | None = None
    abi_version: int | None = None  # --abi: 12 or 13, else kern.osreldate decides
    json: bool = False  # --json: -l prints a JSON document (dumpon/flows/listing_json.py)
    help: bool = False
    version: bool = False


def parse_cipher(text: str) -> int:
    try:
        return CIPHERS[text.lower()]
    except KeyError:
        raise ToolError(f"Unrecognized cipher algorithm '{text}'", Exit.USAGE) from None


ABI_VERSIONS = {"12": 12, "13": 13}


def parse_abi_version(text: str) -> int:
    """--abi: which kernel ABI to speak whatever kern.osreldate says (12.x or 13+)."""
    try:
        return ABI_VERSIONS[text]
    except KeyError:
        raise ToolError(f"--abi must be 12 or 13, not '{text}'", Exit.USAGE) from None


def atoi(text: str) -> int:
    """C atoi(3) on FreeBSD: (int)strtol(text, NULL, 10), junk ignored, no error."""
    body = text.lstrip(" \t\n\v\f\r")
    sign = -1 if body.startswith("-") else 1
    if body[:1] in "+-":
        body = body[1:]
    digits = len(body) - len(body.lstrip("0123456789"))
    value = sign * int(body[:digits]) if digits else 0
    value = max(-(2**63), min(2**63 - 1, value))  # strtol clamps to a 64-bit long
    value &= 0xFFFFFFFF  # the cast to int keeps the low 32 bits
    return value - 2**32 if value >= 2**31 else value


def parse_index(text: str) -> int:
    index = atoi(text)
    if not 0 <= index <= abi.MAX_INSERT_INDEX:
        raise ToolError(f"-i index must be between zero and {abi.MAX_INSERT_INDEX}.", Exit.USAGE)
    return index


def parse_argv(argv: Sequence[str]) -> DumponOptions:
    """Read argv as dumpon(8) does; raises UsageError or ToolError as it would."""
    options = DumponOptions()
    try:
        for item in getopt(argv, SPEC):
            if isinstance(item, list):
                options.operands = item
                break
            _apply(options, *item)
            if options.help or options.version:
                break
    except GetoptError as exc:
        raise UsageError(exc.message()) from None
    if options.json and not options.list_targets and not (options.help or options.version):
        raise ToolError("--json applies to -l only", Exit.USAGE)
    return options


def _apply(options: DumponOptions, option: str, value: str | None) -> None:
    text = value or ""
    if option.startswith("--") and option[2:] in LONG_ALIASES:
        option = "-" + LONG_ALIASES[option[2:]]
    match option:
        case "-C":
            options.cipher = parse_cipher(text)
        case "-c":
            options.client = text
        case "-g":
            options.gateway = text
        case "-i":
            options.index = parse_index(text)
        case "-k":
            options.pubkey = text
        case "-l":
            options.list_targets = True
        case "-r":
            options.remove = True
        case "-s":
            options.server = text
        case "-v":
            options.verbose = True
        case "-Z":
            options.zstd = True
        case "-z":
            options.gzip = True
        case "--backend":
            options.backend = text
        case "--abi":
            options.abi_version = parse_abi_version(text)
        case "--json":
            options.json = True
        case "--help":
            options.help = True
        case "--version":
            options.version = True
