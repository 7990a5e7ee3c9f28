"""pyroute2's rtnetlink socket (Linux), opened only by the lookups that need it.

pyroute2's package import alone costs ~150 ms, so nothing imports this module's caller
at start-up: `routes` and `neighbours` open it inside the functions that ask the kernel.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def rtnetlink() -> Iterator[Any]:
    """An `IPRoute`; the kernel's negative answers become OSError with its errno."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        with IPRoute() as ipr:
            yield ipr
    except NetlinkError as exc:
        raise OSError(exc.code, os.strerror(exc.code)) from None
