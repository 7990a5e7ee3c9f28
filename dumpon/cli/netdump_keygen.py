"""`netdump keygen`: an RSA key pair for encrypted dumps (dumpon -k, decryptcore -p)."""

# No `from __future__ import annotations`: typer would evaluate every annotation string of
# the command twice on each run (~10 ms for dumpon's).

import os
from typing import Annotated

import typer

from dumpon.crypto.keyfile import DEFAULT_BITS, MAX_BITS, MIN_BITS, write_key_pair


def keygen(
    bits: Annotated[
        int,
        typer.Option(
            "-b",
            "--bits",
            metavar="BITS",
            help=f"Modulus size, {MIN_BITS} to {MAX_BITS} bits.",
            show_default=True,
        ),
    ] = DEFAULT_BITS,
    directory: Annotated[
        str,
        typer.Option(
            "-o", "--output-dir", metavar="DIR", help="Directory for private.pem and public.pem."
        ),
    ] = ".",
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing key files (atomically).")
    ] = False,
) -> None:
    """Write private.pem (PKCS#8, mode 0600) and public.pem (SubjectPublicKeyInfo)."""
    files = write_key_pair(directory, bits, force=force)
    public = os.path.abspath(files.public)
    print(f"Wrote {files.private} (private key, mode 0600) and {files.public}.")
    print(f"Next, on the dump client:  dumpon -k {public} ...")
    print(
        f"Keep {files.private} off the client: it belongs on the netdumpd server or an"
        " offline host, where decryptcore -p uses it."
    )
