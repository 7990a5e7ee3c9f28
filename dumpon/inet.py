"""IPv4 text parsing with FreeBSD libc's inet_aton(3) grammar.

glibc (and so socket.inet_aton) differs in two corners, which is why this is not a wrapper:
FreeBSD accepts an empty hexadecimal part before a dot (`0x.0.0.1`) and truncates a
one-part address to 32 bits (`4294967296` is 0.0.0.0).
"""

from __future__ import annotations

from dumpon.errors import Exit, ToolError

_WHITESPACE = " \t\n\v\f\r"
_MAX_BY_PARTS = {1: 0xFFFFFFFF, 2: 0xFFFFFF, 3: 0xFFFF, 4: 0xFF}
_ULONG_MASK = 0xFFFFFFFFFFFFFFFF  # libc accumulates in an unsigned long, which wraps


def _parse_part(text: str, pos: int) -> tuple[int, int, bool]:
    """Read one number starting at `pos`: (value, next position, saw a digit)."""
    base = 10
    if text.startswith(("0x", "0X"), pos):
        base, pos = 16, pos + 2
    elif text.startswith("0", pos):
        base = 8
    value, digits = 0, 0
    while pos < len(text):
        ch = text[pos]
        if ch.isascii() and ch.isdigit():
            if base == 8 and ch in "89":
                raise ValueError("octal part with digit 8 or 9")
            value = (value * base + int(ch)) & _ULONG_MASK
        elif base == 16 and ch in "abcdefABCDEF":
            value = (value * 16 + int(ch, 16)) & _ULONG_MASK
        else:
            break
        pos += 1
        digits += 1
    if base == 8:
        digits = max(digits, 1)  # the leading 0 itself is a digit
    return value, pos, digits > 0


def parse_packed(text: str) -> bytes:
    """The address as 4 network-order bytes; ValueError when FreeBSD would reject it."""
    parts: list[int] = []
    pos = 0
    while True:
        if pos >= len(text) or not (text[pos].isascii() and text[pos].isdigit()):
            raise ValueError("each part must start with a digit")
        value, pos, saw_digit = _parse_part(text, pos)
        if pos < len(text) and text[pos] == ".":
            if len(parts) >= 3 or value > 0xFF:
                raise ValueError("too many parts or a part above 255")
            parts.append(value)
            pos += 1
            continue
        if pos < len(text) and text[pos] not in _WHITESPACE and text[pos] != "\0":
            raise ValueError(f"unexpected character {text[pos]!r}")
        if not saw_digit:
            raise ValueError("the last part has no digits")
        count = len(parts) + 1
        if count > 1 and value > _MAX_BY_PARTS[count]:
            raise ValueError("the last part is too large")
        address = value & 0xFFFFFFFF
        for shift, part in zip((24, 16, 8), parts, strict=False):
            address |= part << shift
        return address.to_bytes(4, "big")


def parse_option(text: str, role: str) -> bytes:
    """An address given on a command line: 4 network-order bytes, or dumpon(8)'s usage error
    naming the `role` (server, client, gateway) and the text."""
    try:
        return parse_packed(text)
    except ValueError:
        raise ToolError(f"invalid {role} address '{text}'", Exit.USAGE) from None


def parse(text: str) -> str:
    """The address in dotted-quad form; ValueError when FreeBSD would reject it."""
    return ntoa(parse_packed(text))


def ntoa(packed: bytes) -> str:
    """Dotted-quad text of 4 network-order bytes, as inet_ntoa(3) prints it."""
    return ".".join(str(b) for b in packed[:4])
