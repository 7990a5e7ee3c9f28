"""FreeBSD's libc message tables, so that every OS prints what a FreeBSD host prints.

strerror(3) texts come from lib/libc/gen/errlst.c (ECAPMODE to EINTEGRITY, newer than some
copies of that file, as sys/sys/errno.h words them), gai_strerror(3) texts from
lib/libc/net/gai_strerror.c.  Both are keyed by symbolic name and looked up through this
host's `errno` and `socket` modules, because the numbers differ between systems (Linux's
EBUSY is FreeBSD's too, but its EAGAIN is 11, FreeBSD's 35; glibc's EAI_NONAME is -2,
FreeBSD's 8).  Names this host does not define are simply absent.
"""

from __future__ import annotations

import errno
import functools
import socket
from typing import Final

ERRNO_TEXTS: Final = {
    "EPERM": "Operation not permitted",
    "ENOENT": "No such file or directory",
    "ESRCH": "No such process",
    "EINTR": "Interrupted system call",
    "EIO": "Input/output error",
    "ENXIO": "Device not configured",
    "E2BIG": "Argument list too long",
    "ENOEXEC": "Exec format error",
    "EBADF": "Bad file descriptor",
    "ECHILD": "No child processes",
    "EDEADLK": "Resource deadlock avoided",
    "ENOMEM": "Cannot allocate memory",
    "EACCES": "Permission denied",
    "EFAULT": "Bad address",
    "ENOTBLK": "Block device required",
    "EBUSY": "Device busy",
    "EEXIST": "File exists",
    "EXDEV": "Cross-device link",
    "ENODEV": "Operation not supported by device",
    "ENOTDIR": "Not a directory",
    "EISDIR": "Is a directory",
    "EINVAL": "Invalid argument",
    "ENFILE": "Too many open files in system",
    "EMFILE": "Too many open files",
    "ENOTTY": "Inappropriate ioctl for device",
    "ETXTBSY": "Text file busy",
    "EFBIG": "File too large",
    "ENOSPC": "No space left on device",
    "ESPIPE": "Illegal seek",
    "EROFS": "Read-only file system",
    "EMLINK": "Too many links",
    "EPIPE": "Broken pipe",
    "EDOM": "Numerical argument out of domain",
    "ERANGE": "Result too large",
    "EAGAIN": "Resource temporarily unavailable",
    "EINPROGRESS": "Operation now in progress",
    "EALREADY": "Operation already in progress",
    "ENOTSOCK": "Socket operation on non-socket",
    "EDESTADDRREQ": "Destination address required",
    "EMSGSIZE": "Message too long",
    "EPROTOTYPE": "Protocol wrong type for socket",
    "ENOPROTOOPT": "Protocol not available",
    "EPROTONOSUPPORT": "Protocol not supported",
    "ESOCKTNOSUPPORT": "Socket type not supported",
    "EOPNOTSUPP": "Operation not supported",
    "EPFNOSUPPORT": "Protocol family not supported",
    "EAFNOSUPPORT": "Address family not supported by protocol family",
    "EADDRINUSE": "Address already in use",
    "EADDRNOTAVAIL": "Can't assign requested address",
    "ENETDOWN": "Network is down",
    "ENETUNREACH": "Network is unreachable",
    "ENETRESET": "Network dropped connection on reset",
    "ECONNABORTED": "Software caused connection abort",
    "ECONNRESET": "Connection reset by peer",
    "ENOBUFS": "No buffer space available",
    "EISCONN": "Socket is already connected",
    "ENOTCONN": "Socket is not connected",
    "ESHUTDOWN": "Can't send after socket shutdown",
    "ETOOMANYREFS": "Too many references: can't splice",
    "ETIMEDOUT": "Operation timed out",
    "ECONNREFUSED": "Connection refused",
    "ELOOP": "Too many levels of symbolic links",
    "ENAMETOOLONG": "File name too long",
    "EHOSTDOWN": "Host is down",
    "EHOSTUNREACH": "No route to host",
    "ENOTEMPTY": "Directory not empty",
    "EPROCLIM": "Too many processes",
    "EUSERS": "Too many users",
    "EDQUOT": "Disc quota exceeded",
    "ESTALE": "Stale NFS file handle",
    "EREMOTE": "Too many levels of remote in path",
    "EBADRPC": "RPC struct is bad",
    "ERPCMISMATCH": "RPC version wrong",
    "EPROGUNAVAIL": "RPC prog. not avail",
    "EPROGMISMATCH": "Program version wrong",
    "EPROCUNAVAIL": "Bad procedure for program",
    "ENOLCK": "No locks available",
    "ENOSYS": "Function not implemented",
    "EFTYPE": "Inappropriate file type or format",
    "EAUTH": "Authentication error",
    "ENEEDAUTH": "Need authenticator",
    "EIDRM": "Identifier removed",
    "ENOMSG": "No message of desired type",
    "EOVERFLOW": "Value too large to be stored in data type",
    "ECANCELED": "Operation canceled",
    "EILSEQ": "Illegal byte sequence",
    "ENOATTR": "Attribute not found",
    "EDOOFUS": "Programming error",
    "EBADMSG": "Bad message",
    "EMULTIHOP": "Multihop attempted",
    "ENOLINK": "Link has been severed",
    "EPROTO": "Protocol error",
    "ENOTCAPABLE": "Capabilities insufficient",
    "ECAPMODE": "Not permitted in capability mode",
    "ENOTRECOVERABLE": "State not recoverable",
    "EOWNERDEAD": "Previous owner died",
    "EINTEGRITY": "Integrity check failed",
}

GAI_TEXTS: Final = {
    "EAI_ADDRFAMILY": "Address family for hostname not supported",
    "EAI_AGAIN": "Temporary failure in name resolution",
    "EAI_BADFLAGS": "Invalid value for ai_flags",
    "EAI_FAIL": "Non-recoverable failure in name resolution",
    "EAI_FAMILY": "ai_family not supported",
    "EAI_MEMORY": "Memory allocation failure",
    "EAI_NODATA": "No address associated with hostname",
    "EAI_NONAME": "hostname nor servname provided, or not known",
    "EAI_SERVICE": "servname not supported for ai_socktype",
    "EAI_SOCKTYPE": "ai_socktype not supported",
    "EAI_SYSTEM": "System error returned in errno",
    "EAI_BADHINTS": "Invalid value for hints",
    "EAI_PROTOCOL": "Resolved protocol is unknown",
    "EAI_OVERFLOW": "Argument buffer overflow",
}
GAI_UNKNOWN: Final = "Unknown error"


@functools.cache
def _errno_by_number() -> dict[int, str]:
    return _by_number(errno, ERRNO_TEXTS)


@functools.cache
def _gai_by_number() -> dict[int, str]:
    return _by_number(socket, GAI_TEXTS)


def _by_number(module: object, texts: dict[str, str]) -> dict[int, str]:
    numbers = ((getattr(module, name, None), text) for name, text in texts.items())
    return {number: text for number, text in numbers if isinstance(number, int)}


def errno_text(code: int) -> str | None:
    """FreeBSD's strerror() text for this host's errno `code`; None if FreeBSD has no such error."""
    return _errno_by_number().get(code)


def gai_text(code: int | None) -> str:
    """FreeBSD's gai_strerror() text for this host's EAI_* `code`."""
    return GAI_UNKNOWN if code is None else _gai_by_number().get(code, GAI_UNKNOWN)
