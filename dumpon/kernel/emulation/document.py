"""The emulated kernel's state document: every member, its type and its limits.

The state file is checked against `SCHEMA` whenever it is read and before it is written,
so a file that does not fit is reported as corrupt and left alone, and nothing is ever
written that could not be read back.  Names (devices, interfaces) are stored as the
kernel's bytes, escaped by `shapes.escape_name`.

To add a member, add one `Member` line to `SCHEMA` (with a `default`, so that files
written before it still load).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dumpon.kernel import abi
from dumpon.kernel.base import PATH_MAX
from dumpon.kernel.emulation.shapes import (
    AnyOf,
    Base64,
    Boolean,
    Integer,
    Invalid,
    ListOf,
    MapOf,
    Member,
    Name,
    Nullable,
    Record,
    Text,
)

KIND = "dumpon-mock-kernel"
VERSION = 1

MAX_DUMPERS = 1024  # the kernel's list is unbounded; the emulation's file is not
INT64 = Integer(-(2**63), 2**63 - 1)
INT32 = Integer(-(2**31), 2**31 - 1)
PATH = Text(PATH_MAX - 1)
DEVICE_NAME = Name(PATH_MAX)
IPV4 = Text(
    15,
    re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"),
)
# Writable netdump sysctls with FreeBSD's defaults (netdump_client.c, debugnet.c); a
# "sysctl" object in the state file overrides them, e.g. {"net.netdump.retries": 20}.
TUNABLE_DEFAULTS: dict[str, str | int] = {
    "net.netdump.path": "",
    "net.netdump.polls": 2000,
    "net.netdump.retries": 10,
    "net.netdump.arp_retries": 3,
}
COMPRESSIONS = ("none", "gzip", "zstd")
CIPHERS = ("none", "aes-256-cbc", "chacha20")


def _key_iff_encrypted(entry: Mapping[str, Any], where: str) -> None:
    if (entry["encryption"] != "none") != (entry.get("encrypted_key") is not None):
        raise Invalid(where, "encrypted_key must be present exactly when encryption is not none")


DUMPER = Record(
    (
        Member("name", DEVICE_NAME),
        Member("compression", Text(8, choices=COMPRESSIONS)),
        Member("encryption", Text(16, choices=CIPHERS)),
        Member("encrypted_key", Nullable(Base64(1, abi.ENCKEY_MAX_SIZE)), default=lambda: None),
    ),
    check=_key_iff_encrypted,
)

NETDUMP = Record(
    (
        Member("iface", Name(abi.IFNAMSIZ - 1)),
        Member("server", IPV4),
        Member("client", IPV4),
        Member("gateway", IPV4),
        Member("af", Integer(abi.AF_INET, abi.AF_INET)),
    )
)

# A FreeBSD 12.x kernel's state (dumpon/kernel/emulation/freebsd12.py): its one dumper
# and its netdump configuration, which stays while disabled.
FREEBSD12 = Record(
    (
        Member("dumper", Nullable(DUMPER)),
        Member(
            "netdump",
            Nullable(
                Record(
                    (
                        Member("iface", Name(abi.IFNAMSIZ - 1)),
                        Member("server", IPV4),
                        Member("client", IPV4),
                        Member("gateway", IPV4),
                        Member("enabled", Boolean()),
                    )
                )
            ),
        ),
    )
)

# Facts user space recorded about a target: the public key, the gateway's MAC, ...
FACTS = MapOf(
    Text(64, re.compile(r"[a-z][a-z0-9_]*")),
    AnyOf((Text(16384), INT64, Boolean()), "a string, an integer or a boolean"),
    most=32,
)

# Kernel options, all present unless a test turns one off to reach the kernel's errors.
FEATURES = Record(
    tuple(
        Member(feature, Boolean(), default=lambda: True)
        for feature in ("netdump", "ekcd", "gzio", "zstdio")
    )
)


def _tunables_typed(state: Mapping[str, Any], where: str) -> None:
    """A tunable set in "sysctl" has its sysctl's type: an int (32-bit) or a path string."""
    for name, default in TUNABLE_DEFAULTS.items():
        value = state["sysctl"].get(name)
        if value is None:
            continue
        place = f"sysctl[{name!r}]"
        if isinstance(default, int):
            INT32.load(value, place)
        else:
            PATH.load(value, place)


SCHEMA = Record(
    (
        Member("format", Text(len(KIND), choices=(KIND,))),
        Member("version", Integer(1, VERSION)),
        Member("dumpers", ListOf(DUMPER, MAX_DUMPERS)),
        Member("netdump", Nullable(NETDUMP)),
        Member("facts", MapOf(DEVICE_NAME, FACTS, MAX_DUMPERS), default=dict),
        Member("features", FEATURES, default=lambda: FEATURES.load({}, "features")),
        Member("freebsd12", Nullable(FREEBSD12), default=lambda: None),
        # Sysctl values a test sets in place of the emulated ones.
        Member(
            "sysctl",
            MapOf(
                Text(128, re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")),
                AnyOf((INT64, Text(4 * PATH_MAX)), "an integer or a string"),
                most=256,
            ),
            default=dict,
        ),
    ),
    check=_tunables_typed,
)


def empty() -> dict[str, Any]:
    """The state of a kernel with nothing configured."""
    return SCHEMA.load({"format": KIND, "version": VERSION, "dumpers": [], "netdump": None}, "")
