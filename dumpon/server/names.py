"""File names of one dump, as the reference server lays them out in a client directory.

bounds.<host>          next index, decimal and a newline
info.<host>.<N>        the info file, created exclusively: it claims index N
vmcore.<host>.<N>      the body; renamed to vmcore_encrypted.<host>.<N> and given a
                       .gz/.zst suffix once the kernel dump header says so
key.<host>.<N>         the EKCD key blob, mode 0400
{vmcore,info,key}.<host>.last   symbolic links to the latest complete dump
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

COMPRESSION_SUFFIXES = {1: ".gz", 2: ".zst"}
# A DNS label; anything else from a PTR record is not trusted as a file name.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})")


def host_label(name: str | None, address: str) -> str:
    """The host part of file names: the PTR name cut at its first dot, or the dotted address.

    A name that is not a plain DNS label (slashes, control characters, `..`, over 63
    characters) is replaced by the address, which is always safe.
    """
    if name:
        short = name.split(".", 1)[0]
        if _LABEL.fullmatch(short):
            return short
    return str(ipaddress.IPv4Address(address))


@dataclass(frozen=True, slots=True)
class DumpNames:
    """Names inside the client directory for dump `index` of `host`."""

    host: str
    index: int

    @property
    def info(self) -> str:
        return f"info.{self.host}.{self.index}"

    @property
    def key(self) -> str:
        return f"key.{self.host}.{self.index}"

    def core(self, encrypted: bool = False, compression: int = 0) -> str:
        stem = "vmcore_encrypted" if encrypted else "vmcore"
        return f"{stem}.{self.host}.{self.index}{COMPRESSION_SUFFIXES.get(compression, '')}"

    def every_core(self) -> list[str]:
        """Every name the body of this dump can have had."""
        return [
            self.core(encrypted, compression)
            for encrypted in (False, True)
            for compression in (0, *COMPRESSION_SUFFIXES)
        ]


def bounds_name(host: str) -> str:
    return f"bounds.{host}"


def last_link(kind: str, host: str) -> str:
    return f"{kind}.{host}.last"
