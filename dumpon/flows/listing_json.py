"""`dumpon -l --json`: every dump target with everything known about it, as one JSON document.

FreeBSD's `-l` prints names only; this reads the same sources (kern.shutdown.dumpdevname,
then DIOCGKERNELDUMP, or NETDUMPGCONF on a 12.x kernel, for netdump's addresses), with the
same errors, and adds what the backend keeps per target: compression and cipher (the
emulation; a real kernel does not report them, so they are null there) and the facts
recorded when the target was configured (the gateway's MAC and when it was seen).

Document (keys always present, null when unknown):
{"abi": 12 or 13, "netdump": null or {"interface", "server", "client", "gateway"},
 "targets": [{"position", "name", "kind" ("disk" or "netdump"), "device", "interface",
              "compression", "cipher", "server", "client", "gateway", "gateway_mac",
              "gateway_mac_seen"}]}
"""

from __future__ import annotations

import json
from typing import TextIO

from dumpon.flows import listing
from dumpon.kernel import abi
from dumpon.kernel.base import PATH_DEV, PATH_DEVNULL, Kernel, TargetNotes

TARGET_KEYS = (
    "position",
    "name",
    "kind",
    "device",
    "interface",
    "compression",
    "cipher",
    "server",
    "client",
    "gateway",
    "gateway_mac",
    "gateway_mac_seen",
)


def listing_document(kernel: Kernel, abi_version: int) -> dict[str, object]:
    """The JSON document of the targets `kernel` holds, read through its `abi_version` ABI."""
    value = listing.read_dumpdevname(kernel)
    names = [] if value == PATH_DEVNULL else value.split(",")
    netdump = _netdump(kernel, abi_version)
    details = kernel.target_details() if isinstance(kernel, TargetNotes) else None
    if details is not None and [entry.get("name") for entry in details] != names:
        details = None  # changed between the two reads: report only what is certain
    targets = []
    for position, name in enumerate(names):
        known = details[position] if details is not None else {}
        is_netdump = netdump is not None and name == netdump["interface"]
        target: dict[str, object] = dict.fromkeys(TARGET_KEYS)
        target.update(
            position=position,
            name=name,
            kind="netdump" if is_netdump else "disk",
            device=None if is_netdump else PATH_DEV + name,
            interface=name if is_netdump else None,
            compression=known.get("compression"),
            cipher=known.get("encryption"),
            gateway_mac=known.get("gateway_mac"),
            gateway_mac_seen=known.get("gateway_mac_seen"),
        )
        if is_netdump and netdump is not None:
            target.update(server=netdump["server"], client=netdump["client"])
            target.update(gateway=netdump["gateway"])
        targets.append(target)
    return {"abi": abi_version, "netdump": netdump, "targets": targets}


def print_listing_json(kernel: Kernel, abi_version: int, out: TextIO) -> None:
    json.dump(listing_document(kernel, abi_version), out, indent=2)
    out.write("\n")


def _netdump(kernel: Kernel, abi_version: int) -> dict[str, str] | None:
    """netdump's interface and addresses: NETDUMPGCONF on 12.x, else DIOCGKERNELDUMP."""
    model = kernel.abi
    if abi_version == 12:
        query = (model.NETDUMPGCONF, model.netdump_conf_size, "NETDUMPGCONF")
    else:
        query = (model.DIOCGKERNELDUMP, model.kda_size, "DIOCGKERNELDUMP")
    raw = listing.query_netdump(kernel, *query)
    if raw is None:
        return None
    if abi_version == 12:
        conf = model.unpack_netdump_conf(raw)
        iface, af, addresses = conf.iface, abi.AF_INET, (conf.server, conf.client, conf.gateway)
    else:
        arg = model.unpack(raw)
        iface, af, addresses = arg.iface, arg.af, (arg.server, arg.client, arg.gateway)
    shown = {"interface": iface.decode("utf-8", "surrogateescape")}
    for role, address in zip(("server", "client", "gateway"), addresses, strict=True):
        shown[role] = listing._ntop(af, address)
    return shown
