"""The file backend rehearsing a FreeBSD 12.x host (`--abi 12`), through the console script.

The expected kernel behaviour is stable/12's (tests/test_freebsd_abi12.py records the
ioctls themselves): one dumper, EBUSY unless disabled first, netdump through NETDUMPSCONF
and NETDUMPGCONF, AES-256-CBC only and never with compression.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from dumpon.kernel import abi
from dumpon.kernel.abi import DumpArg12, NetdumpConf
from dumpon.kernel.emulation.freebsd12 import EmulatedKernel
from tests.ekcd_support import make_key_pair
from tests.emulation_support import Dumpon, file_backend_dumpon, one_veth_namespace
from tests.support import Namespace, Result, block_device, requires_netns, run

SERVER, CLIENT, GATEWAY = "10.77.0.1", "10.77.0.2", "10.77.0.1"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "kernel.json"


@pytest.fixture
def dumpon(state: Path) -> Dumpon:
    return file_backend_dumpon(state)


ns = pytest.fixture(one_veth_namespace, name="ns")


def kernel12(state: Path) -> dict[str, object]:
    found: dict[str, object] = json.loads(state.read_text())["freebsd12"]
    return found


def failed(result: Result, message: str, code: int = 71) -> None:
    assert (result.returncode, result.stdout, result.stderr) == (code, "", f"dumpon: {message}\n")


# --- disks --------------------------------------------------------------------------------


def test_disk_configure_list_replace_and_off(dumpon: Dumpon, state: Path) -> None:
    disk = block_device()
    done = dumpon("--abi", "12", "-v", "-z", disk)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"kernel dumps on /dev/{disk}\n", "")
    # kern.osreldate now names a 12.x kernel, so plain dumpon speaks 12.x
    assert dumpon("-l").stdout == f"{disk}\n"
    assert dumpon("-lv").stdout == f"kernel dumps on {disk}\n"
    assert kernel12(state)["dumper"] == {"name": disk, "compression": "gzip", "encryption": "none"}
    # a disk's disable request clears whatever dumper is set, so a change needs no `off`
    assert dumpon("-Z", disk).returncode == 0
    assert kernel12(state)["dumper"] == {"name": disk, "compression": "zstd", "encryption": "none"}
    done = dumpon("-v", "off")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")  # 12.x prints nothing
    assert dumpon("-l").stdout == "/dev/null\n"
    assert kernel12(state)["dumper"] is None


def test_newer_options_are_illegal(dumpon: Dumpon, state: Path) -> None:
    done = dumpon("--abi", "12", "-i", "0", "ada0")
    assert done.returncode == 64
    assert done.stderr.startswith("dumpon: illegal option -- i\nusage: dumpon ")
    assert not state.exists()


def test_encrypted_disk(dumpon: Dumpon, state: Path, tmp_path: Path) -> None:
    disk = block_device()
    keys = make_key_pair(tmp_path / "keys")
    assert dumpon("--abi", "12", "-k", str(keys.public_pem), disk).returncode == 0
    dumper = kernel12(state)["dumper"]
    assert isinstance(dumper, dict)
    assert (dumper["encryption"], dumper["compression"]) == ("aes-256-cbc", "none")
    assert len(base64.b64decode(dumper["encrypted_key"])) == 256  # RSA-2048 ciphertext
    # 12.x dumpon leaves AES with compression to the kernel, which refuses it
    failed(
        dumpon("-k", str(keys.public_pem), "-z", disk),
        "ioctl(DIOCSKERNELDUMP): Operation not supported",
    )
    assert kernel12(state)["dumper"] is None  # the disable went through first


def test_current_requests_meet_a_12x_kernel(dumpon: Dumpon, state: Path) -> None:
    disk = block_device()
    assert dumpon("--abi", "12", disk).returncode == 0
    failed(dumpon("--abi", "13", disk), "ioctl(DIOCSKERNELDUMP): Inappropriate ioctl for device")
    assert dumpon("off").returncode == 0
    # nothing set any more: a current request finds a current kernel again
    assert dumpon("--abi", "13", disk).returncode == 0
    assert "freebsd12" not in json.loads(state.read_text())
    assert dumpon("-lv").stdout == f"kernel dumps on priority: device\n0: {disk}\n"
    # and a current kernel with a target has no 12.x compatibility
    failed(dumpon("--abi", "12", disk), "ioctl(DIOCSKERNELDUMP): Inappropriate ioctl for device")


# --- netdump ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iface", "message"),
    [
        ("nosuch0", "No such file or directory"),  # ENOENT
        ("lo", "Invalid argument"),  # EINVAL: not Ethernet
    ],
)
def test_netdump_interface_errors(dumpon: Dumpon, iface: str, message: str) -> None:
    done = dumpon("--abi", "12", "-s", SERVER, "-c", CLIENT, "-g", GATEWAY, iface)
    failed(done, f"ioctl(NETDUMPSCONF): {message}")


@requires_netns
def test_netdump_busy_until_disabled(dumpon: Dumpon, state: Path, ns: Namespace) -> None:
    netdump = ["-s", SERVER, "-c", CLIENT, "-g", GATEWAY, ns.iface]
    done = dumpon("--abi", "12", "-v", *netdump, netns=ns.name)
    assert (done.returncode, done.stdout, done.stderr) == (0, "kernel dumps on /dev/netdump\n", "")
    addresses = f"server address: {SERVER}\nclient address: {CLIENT}\ngateway address: {GATEWAY}\n"
    assert dumpon("-lv").stdout == f"kernel dumps on {ns.iface}\n{addresses}"
    # /dev/netdump's disable request only marks netdump off; the dumper stays set
    failed(dumpon(*netdump, netns=ns.name), "ioctl(NETDUMPSCONF): Device busy")
    assert dumpon("-lv").stdout == f"kernel dumps on {ns.iface}\n"
    assert dumpon("off").returncode == 0
    assert dumpon(*netdump, netns=ns.name).returncode == 0
    assert dumpon("-l").stdout == f"{ns.iface}\n"


@requires_netns
def test_netdump_after_a_disk_is_busy(dumpon: Dumpon, ns: Namespace) -> None:
    disk = block_device()
    assert dumpon("--abi", "12", disk).returncode == 0
    netdump = ["-s", SERVER, "-c", CLIENT, "-g", GATEWAY, ns.iface]
    failed(dumpon(*netdump, netns=ns.name), "ioctl(NETDUMPSCONF): Device busy")
    assert dumpon("off").returncode == 0
    assert dumpon(*netdump, netns=ns.name).returncode == 0


@requires_netns
def test_netdump_interface_down(dumpon: Dumpon, ns: Namespace) -> None:
    run(["ip", "-n", ns.name, "link", "set", ns.iface, "down"])
    done = dumpon("--abi", "12", "-s", SERVER, "-c", CLIENT, "-g", GATEWAY, ns.iface, netns=ns.name)
    failed(done, "ioctl(NETDUMPSCONF): Device not configured")  # ENXIO, FreeBSD's words


@requires_netns
def test_encrypted_netdump(dumpon: Dumpon, state: Path, ns: Namespace, tmp_path: Path) -> None:
    keys = make_key_pair(tmp_path / "keys")
    netdump = ["-s", SERVER, "-c", CLIENT, "-g", GATEWAY, ns.iface]
    assert (
        dumpon("--abi", "12", "-k", str(keys.public_pem), *netdump, netns=ns.name).returncode == 0
    )
    dumper = kernel12(state)["dumper"]
    assert isinstance(dumper, dict)
    assert (dumper["name"], dumper["encryption"]) == (ns.iface, "aes-256-cbc")
    assert kernel12(state)["netdump"] == {
        "iface": ns.iface,
        "server": SERVER,
        "client": CLIENT,
        "gateway": GATEWAY,
        "enabled": True,
    }


# --- the kernel's answers to packed requests ---------------------------------------------------


def test_netdump_disable_takes_only_a_zero_first_word(tmp_path: Path) -> None:
    kernel = EmulatedKernel(str(tmp_path / "kernel.json"))
    model = kernel.abi
    fd = kernel.open("/dev/netdump")
    with pytest.raises(OSError) as caught:
        kernel.ioctl(fd, model.DIOCSKERNELDUMP_FREEBSD12, model.pack_kda12(DumpArg12(enable=True)))
    assert caught.value.strerror == "Device not configured"
    kernel.ioctl(fd, model.DIOCSKERNELDUMP_FREEBSD12, model.pack_kda12(DumpArg12()))
    with pytest.raises(OSError) as caught:
        kernel.ioctl(fd, model.NETDUMPGCONF, bytearray(model.netdump_conf_size))
    assert caught.value.strerror == "Device not configured"  # ENXIO: netdump is off
    with pytest.raises(OSError) as caught:
        kernel.ioctl(fd, model.DIOCGMEDIASIZE, bytearray(8))
    assert caught.value.strerror == "Invalid argument"  # 12.x netdump: any other request


def test_netdump_key_size_is_checked(tmp_path: Path) -> None:
    kernel = EmulatedKernel(str(tmp_path / "kernel.json"))
    model = kernel.abi
    fd = kernel.open("/dev/netdump")
    conf = NetdumpConf(
        kda=DumpArg12(enable=True, encryption=abi.ENC_AES_256_CBC, encrypted_key_size=0),
        iface=b"nosuch0",
        server=bytes(4),
        client=bytes(4),
        gateway=bytes(4),
    )
    with pytest.raises(OSError) as caught:
        kernel.ioctl(fd, model.NETDUMPSCONF, model.pack_netdump_conf(conf))
    assert caught.value.strerror == "No such file or directory"  # the interface comes first
