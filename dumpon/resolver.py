"""Server names to IPv4 addresses: the one getaddrinfo(3) call dumpon and netdump share.

dumpon.c asks getaddrinfo() for an AF_INET, SOCK_DGRAM, IPPROTO_UDP answer and takes the
first one; every caller here does the same, so a name fails alike everywhere.
"""

from __future__ import annotations

import errno
import socket

from dumpon.errors import Exit, ToolError, gai_strerror, strerror


class ResolveError(ToolError):
    """A name the resolver would not turn into an address.

    `reason` is what getaddrinfo() said (gai_strerror(3)), or, for a name IDNA cannot
    encode, which never reaches the resolver, `<name>: invalid host name`.  The message is
    dumpon(8)'s: errx(EX_NOHOST) with the reason, or errx(EX_OSERR) for EAI_SYSTEM.
    """

    def __init__(self, host: str, reason: str, system: bool = False) -> None:
        message = f"{reason}: {strerror(errno.EIO)}" if system else reason
        super().__init__(message, Exit.OSERR if system else Exit.NOHOST)
        self.host = host
        self.reason = reason

    def naming_host(self) -> str:
        """The message with the name in front, for tools whose errors name the value."""
        prefix = f"{self.host}: "
        return self.message if self.message.startswith(prefix) else prefix + self.message


def resolve_ipv4(host: str) -> str:
    """The first IPv4 address getaddrinfo() gives for `host`, in dotted-quad form."""
    try:
        answers = socket.getaddrinfo(
            host, None, socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP
        )
    except socket.gaierror as exc:
        raise ResolveError(host, gai_strerror(exc), exc.errno == socket.EAI_SYSTEM) from None
    except UnicodeError:
        raise ResolveError(host, f"{host}: invalid host name") from None
    return str(answers[0][4][0])


def resolve_server(host: str) -> str:
    """resolve_ipv4() for tools whose errors name the value: the host comes first."""
    try:
        return resolve_ipv4(host)
    except ResolveError as exc:
        raise ToolError(exc.naming_host(), exc.exit_code) from None
