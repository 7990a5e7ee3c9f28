"""Interface names as the kernel keeps them: bytes, not necessarily UTF-8.

Linux accepts any byte but `/`, `:`, NUL and white space in a name (dev_valid_name in
net/core/dev.c). Python's socket module decodes names with surrogateescape, so a byte
such as 0xff arrives as the lone surrogate U+DCFF, which can be encoded back to the
same bytes but not printed. Everything shown to a user goes through `printable`.
"""

from __future__ import annotations

import os
import socket


def is_utf8(name: str) -> bool:
    """Whether the kernel's name for this interface is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(name: str) -> str:
    """The name with every byte that is not UTF-8 written as `\\xNN`."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def all_utf8() -> bool:
    """Whether every interface of this namespace (vnet) has a UTF-8 name.

    netifaces-plus 0.12.5 cannot cope otherwise: its C code builds a str from every
    name it meets with PyUnicode_FromString and uses the result unchecked, so
    `allifaddresses()` and `gateways()` crash (a NULL key or tuple item) and
    `interfaces()` raises SystemError.
    """
    return all(is_utf8(name) for _index, name in socket.if_nameindex())
