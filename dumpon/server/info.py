"""The text of an info file: the reference server's lines, plus what arrived.

The lines between `Dump from` and the last line appear once a kernel dump header arrived,
with savecore(8)'s labels.  Strings from the header come from the client and are written
escaped: no control character or invalid UTF-8 reaches the file.
"""

from __future__ import annotations

import time

from dumpon.protocol.kdh import KernelDumpHeader

COMPRESSION_NAMES = {0: "none", 1: "gzip", 2: "zstd"}
# Enough ranges to locate the damage; a hostile sparse dump must not make a huge file.
MAX_LISTED_HOLES = 16


def escape(text: str) -> str:
    """Printable text stays; anything else (controls, undecodable bytes) becomes \\xNN."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable() and not 0xDC80 <= ord(char) <= 0xDCFF:
            out.append(char)
        else:
            code = ord(char) - 0xDC00 if 0xDC80 <= ord(char) <= 0xDCFF else ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def opening(host: str, address: str) -> str:
    return f"Dump from {host} [{address}]\n"


def _ctime(seconds: int) -> str:
    try:
        return time.ctime(seconds)
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def header_block(header: KernelDumpHeader, parity_ok: bool) -> str:
    """The header lines, as netdumpd's handle_kdh() writes them (Compression: v3 and up)."""
    length = header.dumplength
    lines = [
        f"  Architecture: {escape(header.architecture)}",
        f"  Architecture Version: {header.architectureversion}",
        f"  Dump Length: {length}B ({length >> 20} MB)",
        f"  Blocksize: {header.blocksize}",
    ]
    if header.version >= 3:
        lines.append(f"  Compression: {COMPRESSION_NAMES.get(header.compression, '???')}")
    lines += [
        f"  Dumptime: {_ctime(header.dumptime)}",
        f"  Hostname: {escape(header.hostname)}",
        f"  Version String: {escape(header.versionstring.removesuffix(chr(10)))}",
        f"  Panic String: {escape(header.panicstring)}",
        f"  Header Parity Check: {'Pass' if parity_ok else 'Fail'}",
    ]
    return "".join(line + "\n" for line in lines)


def data_line(received: int, length: int | None, holes: list[tuple[int, int]]) -> str:
    """Whether every body byte up to the header's dump length arrived."""
    if length is None:
        return f"  Data: {received}B received; no kernel dump header, length unknown\n"
    if not holes:
        return f"  Data: complete, {length}B\n"
    missing = sum(end - start for start, end in holes)
    listed = ", ".join(f"{start:#x}-{end:#x}" for start, end in holes[:MAX_LISTED_HOLES])
    more = f" and {len(holes) - MAX_LISTED_HOLES} more" if len(holes) > MAX_LISTED_HOLES else ""
    return f"  Data: incomplete, {missing}B missing in {len(holes)} holes: {listed}{more}\n"
