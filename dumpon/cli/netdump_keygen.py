"""`netdump keygen`: an RSA key pair for encrypted dumps (dumpon -k, decryptcore -p)."""

# No `from __future__ import annotations`: typer would evaluate every annotation string of
# the command twice on each run (~10 ms for dumpon's).

import os
from typing import Annotated

import typer

from dumpon.cli import completion
from dumpon.cli.errorpath import warn
from dumpon.crypto.keyfile import DEFAULT_BITS, MAX_BITS, MIN_BITS


def keygen(
    bits: Annotated[
        int,
        typer.Option(
            "-b",
            "--bits",
            metavar="BITS",
            help=f"Modulus size, an even number of bits from {MIN_BITS} to {MAX_BITS}.",
            show_default=True,
        ),
    ] = DEFAULT_BITS,
    directory: Annotated[
        str,
        typer.Option(
            "-o",
            "--output-dir",
            metavar="DIR",
            autocompletion=completion.files,
            help="Directory for private.pem and public.pem.",
        ),
    ] = ".",
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing key files (atomically).")
    ] = False,
) -> None:
    """Write private.pem (PKCS#8, mode 0600) and public.pem (SubjectPublicKeyInfo)."""
    from dumpon.crypto.keypair import write_key_pair

    files = write_key_pair(directory, bits, force=force, note=lambda line: warn("netdump", line))
    public = os.path.abspath(files.public)
    print(f"Wrote {files.private} (private key, mode 0600) and {files.public}.")
    print(f"Next, on the dump client:  dumpon -k {public} ...")
    print(
        f"Keep {files.private} off the client: it belongs on the netdumpd server or an"
        " offline host, where decryptcore -p uses it."
    )
