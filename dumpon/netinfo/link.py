"""The platform-neutral record of what the kernel says about one link."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkFacts:
    """A link's type, state, MTU and driver; addresses come from netifaces instead."""

    link_type: str
    ethernet: bool
    wireless: bool
    up: bool  # administrative IFF_UP, which is what FreeBSD's link warning tests
    carrier: bool | None  # None: the kernel does not know (Linux: while the link is down)
    mtu: int | None
    driver: str | None  # Linux: the Linux driver; FreeBSD: drivername with its unit
