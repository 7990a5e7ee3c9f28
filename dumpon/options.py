"""What a dumpon(8) command line asks for, and the parameter types that check each value.

The command line itself is described once, by the typer command in dumpon/cli/dumpon.py,
which names these types.  Two of them fail while the options are still being read, as in
dumpon.c: an unknown `-C` cipher and an `-i` index out of range.  The others keep the text
and check it when dumpon.c does, in the order of dumpon/flows/dumpon13.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dumpon import inet
from dumpon.errors import Exit, ToolError

USAGE = """\
usage: dumpon [-i index] [-r] [-v] [-k <pubkey>] [-Zz] <device>
       dumpon [-i index] [-r] [-v] [-k <pubkey>] [-Zz]
              [-g <gateway>] -s <server> -c <client> <iface>
       dumpon [-v] off
       dumpon [-v] -l"""

# dumpon/kernel/abi.py is imported inside the functions that need its constants: building
# its struct layouts takes ~4 ms that `dumpon --help` need not pay.


class ServerName(str):
    """`-s`: a host name or an IPv4 address, resolved when dumpon.c resolves it."""

    __slots__ = ()

    def resolve(self) -> str:
        """The server's address in dotted-quad form; a ResolveError as dumpon(8) reports it."""
        from dumpon.resolver import resolve_ipv4  # socket is needed on this path only

        return resolve_ipv4(self)


class Address(str):
    """An IPv4 address option, parsed with FreeBSD's inet_aton(3) when dumpon.c parses it."""

    __slots__ = ()
    role: ClassVar[str]

    def packed(self) -> bytes:
        """4 network-order bytes; the usage error `invalid <role> address '<text>'`."""
        return inet.parse_option(self, self.role)


class ClientAddress(Address):
    """`-c`: this host's address."""

    __slots__ = ()
    role = "client"


class GatewayAddress(Address):
    """`-g`, or the gateway the route names: the first hop."""

    __slots__ = ()
    role = "gateway"


class Operand(str):
    """The device, the netdump interface, or `off`."""

    __slots__ = ()

    def interface_name(self) -> bytes:
        """The operand as an interface name for the kernel: what strlcpy() into the
        IFNAMSIZ buffer of struct diocskerneldump_arg would cut short is refused."""
        name = self.encode("utf-8", "surrogateescape")
        from dumpon.kernel.abi import IFNAMSIZ

        if len(name) >= IFNAMSIZ:
            raise ToolError(f"invalid interface name '{self}'", Exit.USAGE)
        return name


@dataclass(slots=True)
class DumponOptions:
    """The parsed command line, before any check that needs the system."""

    cipher: int | None = None  # -C; without it, -k picks the default cipher
    client: ClientAddress | None = None
    gateway: GatewayAddress | None = None
    index: int | None = None
    pubkey: str | None = None
    list_targets: bool = False
    remove: bool = False
    verbose: bool = False
    gzip: bool = False
    zstd: bool = False
    server: ServerName | None = None
    operands: tuple[Operand, ...] = ()
    backend: str | None = None
    abi_version: int | None = None  # --abi: 12 or 13, else kern.osreldate decides
    json: bool = False  # --json: -l prints a JSON document (dumpon/flows/listing_json.py)
    help: bool = False
    version: bool = False


def parse_cipher(text: str) -> int:
    """-C: dumpon.c's cipher names, case-insensitive."""
    from dumpon.kernel import abi

    ciphers = {
        "chacha": abi.ENC_CHACHA20,
        "chacha20": abi.ENC_CHACHA20,
        "aes-cbc": abi.ENC_AES_256_CBC,
        "aes256-cbc": abi.ENC_AES_256_CBC,
    }
    try:
        return ciphers[text.lower()]
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
    from dumpon.kernel.abi import MAX_INSERT_INDEX

    if not 0 <= index <= MAX_INSERT_INDEX:
        raise ToolError(f"-i index must be between zero and {MAX_INSERT_INDEX}.", Exit.USAGE)
    return index
