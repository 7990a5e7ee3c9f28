"""FreeBSD's errno and resolver texts on every OS (lib/libc/gen/errlst.c,
lib/libc/net/gai_strerror.c), where glibc words many of them differently."""

from __future__ import annotations

import errno
import os
import re
import socket
from pathlib import Path

import pytest

from dumpon.errors import gai_strerror, os_error_text, strerror

PACKAGE = Path(__file__).resolve().parent.parent / "dumpon"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (errno.EBUSY, "Device busy"),
        (errno.ENXIO, "Device not configured"),
        (errno.EADDRNOTAVAIL, "Can't assign requested address"),
        (errno.ENOTTY, "Inappropriate ioctl for device"),
        (errno.ENODEV, "Operation not supported by device"),
        (errno.EAGAIN, "Resource temporarily unavailable"),
        (errno.EOPNOTSUPP, "Operation not supported"),
        (errno.EPROTONOSUPPORT, "Protocol not supported"),
        (errno.ETIMEDOUT, "Operation timed out"),
        (errno.EDQUOT, "Disc quota exceeded"),
        (errno.ENOENT, "No such file or directory"),
    ],
)
def test_errno_texts_are_freebsds(code: int, text: str) -> None:
    assert strerror(code) == text
    assert os_error_text(OSError(code, os.strerror(code))) == text


def test_an_errno_freebsd_lacks_keeps_the_host_text() -> None:
    linux_only = getattr(errno, "ENOMEDIUM", None)
    if linux_only is None:
        pytest.skip("this host has no ENOMEDIUM")
    assert strerror(linux_only) == os.strerror(linux_only)


def test_an_oserror_without_errno_reads_as_eio() -> None:
    assert os_error_text(OSError("no number")) == "Input/output error"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("EAI_NONAME", "hostname nor servname provided, or not known"),
        ("EAI_AGAIN", "Temporary failure in name resolution"),
        ("EAI_FAIL", "Non-recoverable failure in name resolution"),
        ("EAI_SYSTEM", "System error returned in errno"),
        ("EAI_SERVICE", "servname not supported for ai_socktype"),
    ],
)
def test_resolver_texts_are_freebsds(name: str, text: str) -> None:
    code = getattr(socket, name)
    assert gai_strerror(socket.gaierror(code, "the host's own words")) == text


def test_unknown_resolver_code() -> None:
    assert gai_strerror(socket.gaierror(123456, "?")) == "Unknown error"
    assert gai_strerror(socket.gaierror("no code")) == "Unknown error"


def test_no_message_prints_the_hosts_strerror() -> None:
    """Messages go through dumpon.errors, never an exception's own (host libc) text."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\{exc\.strerror|str\(exc\.strerror\)|\{os\.strerror", line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []
