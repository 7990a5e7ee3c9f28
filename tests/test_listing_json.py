"""`dumpon -l --json`: every target with everything the backend holds about it."""

from __future__ import annotations

import errno
import json
from datetime import datetime
from pathlib import Path

import pytest

from dumpon.flows.listing_json import TARGET_KEYS
from dumpon.kernel import abi
from dumpon.kernel.arch import Platform
from tests.ekcd_support import make_key_pair
from tests.emulation_support import Dumpon, file_backend_dumpon, one_veth_namespace
from tests.freebsd_support import (
    CLIENT,
    GATEWAY,
    OSRELDATE_12,
    SERVER,
    RecordingOS,
    netdump13,
    netdump_conf12,
)
from tests.freebsd_support import Dumpon as RecordedDumpon
from tests.support import Namespace, Result, block_device, ip, requires_netns


@pytest.fixture
def dumpon(tmp_path: Path) -> Dumpon:
    return file_backend_dumpon(tmp_path / "state" / "kernel.json")


ns = pytest.fixture(one_veth_namespace, name="ns")


def listed(result: Result) -> dict[str, object]:
    assert (result.returncode, result.stderr) == (0, "")
    document: dict[str, object] = json.loads(result.stdout)
    return document


def target(**fields: object) -> dict[str, object]:
    return {**dict.fromkeys(TARGET_KEYS), **fields}


def disk(
    position: int, name: str, compression: str | None, cipher: str | None
) -> dict[str, object]:
    return target(
        position=position,
        name=name,
        kind="disk",
        device=f"/dev/{name}",
        compression=compression,
        cipher=cipher,
    )


def test_nothing_configured(dumpon: Dumpon) -> None:
    assert listed(dumpon("-l", "--json")) == {"abi": 13, "netdump": None, "targets": []}


def test_disks_with_their_settings(dumpon: Dumpon, tmp_path: Path) -> None:
    name = block_device()
    keys = make_key_pair(tmp_path / "keys")
    assert dumpon("-z", name).returncode == 0
    assert dumpon("-i", "0", "-k", str(keys.public_pem), name).returncode == 0
    expected = {
        "abi": 13,
        "netdump": None,
        "targets": [disk(0, name, "none", "chacha20"), disk(1, name, "gzip", "none")],
    }
    assert listed(dumpon("-l", "--json")) == expected
    assert listed(dumpon("--json", "-lv")) == expected  # -v adds nothing to the document
    # the plain listing stays FreeBSD's
    assert dumpon("-l").stdout == f"{name},{name}\n"


def test_json_needs_l(dumpon: Dumpon) -> None:
    done = dumpon("--json", "off")
    assert (done.returncode, done.stdout, done.stderr) == (
        64,
        "",
        "dumpon: --json applies to -l only\n",
    )


def test_a_12x_kernel(dumpon: Dumpon) -> None:
    name = block_device()
    assert dumpon("--abi", "12", "-Z", name).returncode == 0
    assert listed(dumpon("-l", "--json")) == {
        "abi": 12,
        "netdump": None,
        "targets": [disk(0, name, "zstd", "none")],
    }


@requires_netns
def test_netdump_with_the_gateway_mac_seen(dumpon: Dumpon, ns: Namespace) -> None:
    server = "10.77.9.9"
    before = datetime.now().astimezone().replace(microsecond=0)
    configured = dumpon("-s", server, "-c", ns.address, ns.iface, netns=ns.name)
    assert configured.returncode == 0, configured.stderr
    neighbours = json.loads(ip("-n", ns.name, "-j", "neigh", "show", ns.router))
    document = listed(dumpon("-l", "--json", netns=ns.name))
    targets = document["targets"]
    assert isinstance(targets, list)
    seen = datetime.fromisoformat(targets[0]["gateway_mac_seen"])
    assert before <= seen <= datetime.now().astimezone()
    addresses = {"server": server, "client": ns.address, "gateway": ns.router}
    assert document == {
        "abi": 13,
        "netdump": {"interface": ns.iface, **addresses},
        "targets": [
            target(
                position=0,
                name=ns.iface,
                kind="netdump",
                interface=ns.iface,
                compression="none",
                cipher="none",
                gateway_mac=neighbours[0]["lladdr"],
                gateway_mac_seen=targets[0]["gateway_mac_seen"],
                **addresses,
            )
        ],
    }


# --- a real kernel, recorded: names and addresses only ------------------------------------


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RecordedDumpon:
    return RecordedDumpon(monkeypatch, capsys)


def test_freebsd_kernel_reports_names_and_addresses(recorded: RecordedDumpon) -> None:
    system = RecordingOS(abi.LP64)
    system.sysctls["kern.shutdown.dumpdevname"] = b"vtnet0,ada0p3\0"
    system.replies[system.model.DIOCGKERNELDUMP] = bytes(
        system.model.pack(abi.DumpArg(**netdump13()))
    )
    done = recorded(system, ["-l", "--json"], Platform("amd64", abi.LP64))
    assert (done.status, done.err) == (0, "")
    addresses = {"server": SERVER, "client": CLIENT, "gateway": GATEWAY}
    assert json.loads(done.out) == {
        "abi": 13,
        "netdump": {"interface": "vtnet0", **addresses},
        "targets": [
            target(position=0, name="vtnet0", kind="netdump", interface="vtnet0", **addresses),
            disk(1, "ada0p3", None, None),  # FreeBSD does not report settings
        ],
    }


def test_freebsd_12x_kernel(recorded: RecordedDumpon) -> None:
    system = RecordingOS(abi.ILP32, osreldate=OSRELDATE_12)
    system.sysctls["kern.shutdown.dumpdevname"] = b"ada0\0"
    system.fail("/dev/netdump", system.model.NETDUMPGCONF, errno.ENXIO)  # not configured
    done = recorded(system, ["-l", "--json"])
    assert (done.status, done.err) == (0, "")
    assert json.loads(done.out) == {
        "abi": 12,
        "netdump": None,
        "targets": [disk(0, "ada0", None, None)],
    }
    system.sysctls["kern.shutdown.dumpdevname"] = b"vtnet0\0"
    system.replies[system.model.NETDUMPGCONF] = netdump_conf12(system.model, enable=True).arg
    done = recorded(system, ["-l", "--json"])
    addresses = {"server": SERVER, "client": CLIENT, "gateway": GATEWAY}
    assert json.loads(done.out)["targets"] == [
        target(position=0, name="vtnet0", kind="netdump", interface="vtnet0", **addresses)
    ]
