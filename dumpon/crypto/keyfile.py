"""RSA key files for encrypted dumps: FreeBSD's rules for reading them, and writing a new pair.

cryptography is imported inside the functions: `dumpon` without `-k` must not pay for it.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from dumpon.errors import Exit, ToolError, errno_of, strerror
from dumpon.regular import NotRegularFile, open_regular

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

MIN_BITS = 2048
MAX_BITS = 16384  # the wrapped key may be at most KERNELDUMP_ENCKEY_MAX_SIZE (2048) bytes
DEFAULT_BITS = 4096
# A 16384-bit PEM key is about 3 KiB; anything far larger is not a key file.
_MAX_FILE_SIZE = 1 << 20

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----\r?\n?", re.S)


class KeyFileError(ValueError):
    """A key file's content is not what is asked for; the text says why, for a person."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An administrator's public key that passed FreeBSD's checks, with its PEM text."""

    key: RSAPublicKey
    pem: bytes

    @property
    def modulus_bytes(self) -> int:
        """RSA_size(): the length of every value wrapped with this key."""
        return (self.key.key_size + 7) // 8


def read_key_file(f: BinaryIO) -> bytes:
    """An open key file's bytes; OSError as read(2) reports it, EFBIG for a huge file.

    Callers open the file themselves: FreeBSD words a failed open and a failed read apart.
    """
    data = f.read(_MAX_FILE_SIZE + 1)
    if len(data) > _MAX_FILE_SIZE:
        raise OSError(errno.EFBIG, strerror(errno.EFBIG))
    return data


def parse_public_key(data: bytes) -> PublicKey:
    """The first SPKI `BEGIN PUBLIC KEY` block of a PEM file, if it holds an RSA key.

    Like PEM_read_RSA_PUBKEY, blocks of other types before it are skipped, and a file
    without one is refused, even when Python's loader would take it (PKCS#1).
    """
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    blocks = [(m.group(1).decode(), m.group(0)) for m in _PEM_BLOCK.finditer(data)]
    pem = next((block for label, block in blocks if label == "PUBLIC KEY"), None)
    if pem is None:
        raise KeyFileError(_why_not_public_key(data, [label for label, _ in blocks]))
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"malformed PUBLIC KEY block ({exc})") from exc
    if not isinstance(key, RSAPublicKey):
        raise KeyFileError(f"not an RSA key ({type(key).__name__.removesuffix('PublicKey')})")
    return PublicKey(key, pem)


def _why_not_public_key(data: bytes, labels: list[str]) -> str:
    if not data.strip():
        return "the file is empty"
    if "RSA PUBLIC KEY" in labels:
        return (
            "a PKCS#1 'BEGIN RSA PUBLIC KEY' block is not accepted, only 'BEGIN PUBLIC KEY'"
            " (convert it: openssl rsa -RSAPublicKey_in -pubout -in FILE)"
        )
    if any(label.endswith("PRIVATE KEY") for label in labels):
        return (
            "this is a private key; give the public key"
            " (openssl rsa -pubout -in private.pem -out public.pem)"
        )
    if labels:
        return f"a PEM '{labels[0]}' block, not a 'BEGIN PUBLIC KEY' block"
    return "no PEM 'BEGIN PUBLIC KEY' block found"


def load_public_key(path: str) -> PublicKey:
    """dumpon(8)'s `-k`: read, parse and size-check the public key, with FreeBSD's messages.

    Current FreeBSD runs this in a forked child, so each message is followed by a second
    line, `dumpon: genkey pipe read`, from the parent; that line is an artefact of the
    fork and is not reproduced.  Every failure exits with status 1, as current FreeBSD.
    """
    try:
        f = open_regular(path)  # a FIFO or device is refused, never read (it could block)
    except NotRegularFile as exc:
        raise ToolError(f"Unable to open {path}: {exc.what}", Exit.FAILURE) from exc
    except OSError as exc:
        raise ToolError(f"Unable to open {path}: {strerror(errno_of(exc))}", Exit.FAILURE) from exc
    try:
        with f:
            public = parse_public_key(read_key_file(f))
    except OSError as exc:
        reason = strerror(errno_of(exc))
        raise ToolError(f"Unable to read data from {path}: {reason}", Exit.FAILURE) from exc
    except KeyFileError as exc:
        raise ToolError(f"Unable to read data from {path}: {exc}", Exit.FAILURE) from exc
    if public.key.key_size < MIN_BITS:
        raise ToolError(
            f"Small RSA keys (you provided: {public.modulus_bytes * 8}b) can be factored"
            " cheaply.  Please generate a larger key.",
            Exit.FAILURE,
        )
    if public.modulus_bytes * 8 > MAX_BITS:
        raise ToolError(f"Public key has to be at most {MAX_BITS}b long.", Exit.FAILURE)
    return public


def parse_private_key(data: bytes, *, check: bool = True) -> RSAPrivateKey:
    """An unencrypted PEM RSA private key, PKCS#1 or PKCS#8, as PEM_read_RSAPrivateKey reads.

    FreeBSD would prompt for the passphrase of an encrypted key; we refuse it instead.
    cryptography checks a loaded key as RSA_check_key does, primality tests of p and q
    included: 50 ms to 0.6 s, longer than decrypting a small dump.  `check=False` keeps
    the arithmetic (n = pq, the CRT values, d inverts e), which guards OpenSSL from a
    malformed key, and skips the primality tests, which PEM_read_RSAPrivateKey does not do
    either: OpenSSL's CRT decryption verifies its result with the public exponent, and a
    wrong key fails the padding check.
    """
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=not check)
    except TypeError as exc:
        raise KeyFileError("the private key is encrypted (remove the passphrase)") from exc
    except ValueError as exc:
        raise KeyFileError(f"not a PEM private key ({exc})") from exc
    if not isinstance(key, RSAPrivateKey):
        raise KeyFileError(f"not an RSA key ({type(key).__name__})")
    if not check and not _numbers_fit(key):
        raise KeyFileError("not a valid RSA private key (its numbers do not fit together)")
    return key


def _numbers_fit(key: RSAPrivateKey) -> bool:
    """RSA_check_key's arithmetic, without the primality tests of p and q."""
    numbers = key.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    return (
        min(p, q) > 2
        and p % 2 == q % 2 == 1  # Montgomery arithmetic needs odd moduli
        and p * q == n
        and 1 < e < n
        and 0 < d < n
        and all(d * e % (prime - 1) == 1 for prime in (p, q))
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and numbers.iqmp * q % p == 1
    )
