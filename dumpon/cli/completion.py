"""Values the shells complete, attached to the typer parameters that take them.

The scripts in completions/ only call the program back; these callbacks answer it.  An
empty answer lets each shell fall back to completing file names (bash's `-o default`,
zsh's `_files`, fish's default), which is what key, core and device operands want.
"""

# No `from __future__ import annotations`: typer picks a callback's arguments by their
# annotations, which must be classes, not strings.

Choices = list[tuple[str, str]]

_CIPHERS = {"chacha20": "ChaCha20 (the default)", "aes256-cbc": "AES-256-CBC, not with -z or -Z"}
_BACKENDS = {
    "auto": "freebsd on FreeBSD, the file emulation elsewhere",
    "freebsd": "the running FreeBSD kernel",
    "file:": "file:PATH, the emulated kernel kept in PATH",
}
_COMPRESSIONS = {"gzip": "gzip, level 6", "zstd": "zstd, level 6"}
_ABIS = {"12": "FreeBSD 12.x", "13": "FreeBSD 13 and later"}
_ORDERS = {"12": "key after the kernel dump header (12.x)", "13": "key after the HERALD (13+)"}


def _matching(incomplete: str, choices: dict[str, str]) -> Choices:
    return [(value, text) for value, text in choices.items() if value.startswith(incomplete)]


def ciphers(incomplete: str) -> Choices:
    return _matching(incomplete, _CIPHERS)


def backends(incomplete: str) -> Choices:
    return _matching(incomplete, _BACKENDS)


def compressions(incomplete: str) -> Choices:
    return _matching(incomplete, _COMPRESSIONS)


def abi_versions(incomplete: str) -> Choices:
    return _matching(incomplete, _ABIS)


def orders(incomplete: str) -> Choices:
    return _matching(incomplete, _ORDERS)


def interfaces(incomplete: str) -> Choices:
    """This host's interface names (those a shell can print: valid UTF-8)."""
    import socket  # only a completion request needs it, not every dumpon start

    names = sorted(name for _, name in socket.if_nameindex() if name.isprintable())
    return _matching(incomplete, dict.fromkeys(names, "interface"))


def dump_operands(incomplete: str) -> Choices:
    """dumpon's operand: an interface or `off`; a device path falls back to file names."""
    return interfaces(incomplete) + _matching(incomplete, {"off": "disable every target"})


def files(incomplete: str) -> Choices:
    """Nothing: the shell completes file names itself."""
    return []
