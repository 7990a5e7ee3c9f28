"""dumpon(8) through the installed console script: forms, messages, exit codes, listings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dumpon.options import USAGE
from tests.support import (
    Namespace,
    Result,
    block_device,
    requires_netns,
    run,
    script,
    veth_namespace,
)

Dumpon = Callable[..., Result]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "kernel.json"


@pytest.fixture
def dumpon(state: Path) -> Dumpon:
    def invoke(*args: str, netns: str | None = None, env: dict[str, str] | None = None) -> Result:
        return run(
            [script("dumpon"), *args],
            env={"DUMPON_BACKEND": f"file:{state}", **(env or {})},
            netns=netns,
        )

    return invoke


@pytest.fixture
def ns() -> Iterator[Namespace]:
    with veth_namespace() as namespace:
        yield namespace


def write_state(state: Path, **settings: object) -> None:
    """A mock kernel with some kernel options or sysctls changed from the defaults."""
    state.parent.mkdir()
    empty = {
        "format": "dumpon-mock-kernel",
        "version": 1,
        "dumpers": [],
        "netdump": None,
        "facts": {},
    }
    state.write_text(json.dumps({**empty, **settings}))


def usage_error(result: Result, message: str | None) -> None:
    assert result.returncode == 64
    expected = (f"dumpon: {message}\n" if message else "") + USAGE + "\n"
    assert result.stderr == expected
    assert result.stdout == ""


def error(result: Result, message: str, code: int) -> None:
    assert (result.returncode, result.stderr, result.stdout) == (code, f"dumpon: {message}\n", "")


# --- usage errors (spec dumpon.md section 9) ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], None),
        (["a", "b"], None),
        (["-x"], "illegal option -- x"),
        (["-vx", "ada0"], "illegal option -- x"),
        (["-h"], "illegal option -- h"),
        (["-s"], "option requires an argument -- s"),
        (["-v", "-c"], "option requires an argument -- c"),
        (["-s", "10.0.0.1", "em0"], None),  # -s without -c
        (["-c", "10.0.0.1", "em0"], None),  # -c without -s
        (["ada0", "-v"], None),  # options after the operand are operands
        (["--bogus"], "unrecognized option '--bogus'"),
        (["--verbose=1", "off"], "option '--verbose' doesn't allow an argument"),
    ],
)
def test_usage_errors(dumpon: Dumpon, args: list[str], message: str | None) -> None:
    usage_error(dumpon(*args), message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-z", "-Z", "ada0"], "The -z and -Z options are mutually exclusive."),
        (["-zZ", "ada0"], "The -z and -Z options are mutually exclusive."),
        (["-i", "1", "-r", "ada0"], "The -i and -r options are mutually exclusive."),
        (["-i", "251", "ada0"], "-i index must be between zero and 250."),
        (["-i", "-1", "ada0"], "-i index must be between zero and 250."),
        (["-C", "des", "ada0"], "Unrecognized cipher algorithm 'des'"),
        # -C fails while options are read, so it wins over later checks...
        (["-z", "-Z", "-C", "rot13", "ada0"], "Unrecognized cipher algorithm 'rot13'"),
        # ...and -i too, in command-line order
        (["-i", "999", "-C", "rot13"], "-i index must be between zero and 250."),
        (["-C", "AES-CBC", "ada0"], "-C option requires a public key file."),
        (["-C", "chacha", "-l", "-z", "-Z"], "The -z and -Z options are mutually exclusive."),
    ],
)
def test_option_errors(dumpon: Dumpon, args: list[str], message: str) -> None:
    error(dumpon(*args), message, 64)


def test_later_option_error_after_bad_cipher_is_not_reached(dumpon: Dumpon) -> None:
    error(dumpon("-C", "x", "-q"), "Unrecognized cipher algorithm 'x'", 64)


def test_name_idna_cannot_encode_is_exit_68(dumpon: Dumpon) -> None:
    # the name fails to encode before any query is made, so no query leaves this host
    name = "x" * 64 + ".invalid"  # a label over 63 characters
    error(dumpon("-s", name, "-c", "10.0.0.2", "em0"), f"{name}: invalid host name", 68)


def test_usage_errors_do_not_create_state(dumpon: Dumpon, state: Path) -> None:
    dumpon("-z", "-Z", "x")
    dumpon()
    assert not state.parent.exists()


# --- listing ----------------------------------------------------------------------------------


def test_list_empty(dumpon: Dumpon, state: Path) -> None:
    result = dumpon("-l")
    assert (result.returncode, result.stdout, result.stderr) == (0, "/dev/null\n", "")
    result = dumpon("-l", "-v")
    assert result.stdout == "kernel dumps on priority: device\n0: /dev/null\n"
    assert not state.exists()  # reading does not create the kernel's state


def test_list_ignores_operands(dumpon: Dumpon) -> None:
    assert dumpon("-l", "a", "b", "c").stdout == "/dev/null\n"


def test_off_verbose(dumpon: Dumpon) -> None:
    result = dumpon("-v", "off")
    assert (result.returncode, result.stdout) == (
        0,
        "kernel dumps on priority: device\n0: /dev/null\n",
    )


# --- device mode --------------------------------------------------------------------------------


def test_missing_device(dumpon: Dumpon) -> None:
    error(dumpon("nosuchdisk0"), "/dev/nosuchdisk0: No such file or directory", 72)
    error(dumpon("/dev/nosuchdisk0"), "/dev/nosuchdisk0: No such file or directory", 72)


def test_device_path_too_long(dumpon: Dumpon) -> None:
    name = "d" * 1019  # "/dev/" + 1019 = 1024 bytes: one too many
    error(dumpon(name), f"{name}: Invalid argument", 65)
    error(dumpon("d" * 1018), f"/dev/{'d' * 1018}: File name too long", 72)


def test_non_disk_device_is_refused_by_the_kernel(dumpon: Dumpon) -> None:
    error(dumpon("zero"), "ioctl(DIOCSKERNELDUMP): Inappropriate ioctl for device", 71)


def test_device_list_semantics(dumpon: Dumpon, state: Path) -> None:
    disk = block_device()
    assert dumpon(disk).returncode == 0
    assert dumpon("-z", f"/dev/{disk}").returncode == 0
    assert dumpon("-i", "0", "-Z", disk).returncode == 0
    assert dumpon("-l").stdout == f"{disk},{disk},{disk}\n"
    kernel = json.loads(state.read_text())
    assert [d["compression"] for d in kernel["dumpers"]] == ["zstd", "none", "gzip"]
    # -i beyond the end appends; -i with trailing junk is atoi'd
    assert dumpon("-i", "250", "-z", disk).returncode == 0
    assert dumpon("-i", "1junk", disk).returncode == 0
    kernel = json.loads(state.read_text())
    assert [d["compression"] for d in kernel["dumpers"]] == ["zstd", "none", "none", "gzip", "gzip"]
    # -r removes only the entries whose compression and encryption match
    assert dumpon("-r", "-z", disk).returncode == 0
    kernel = json.loads(state.read_text())
    assert [d["compression"] for d in kernel["dumpers"]] == ["zstd", "none", "none"]
    error(dumpon("-r", "-z", disk), "ioctl(DIOCSKERNELDUMP): No such file or directory", 71)
    assert dumpon("-r", disk).returncode == 0
    assert dumpon("-l").stdout == f"{disk}\n"
    result = dumpon("-v", "off")
    assert result.stdout == "kernel dumps on priority: device\n0: /dev/null\n"
    assert json.loads(state.read_text())["dumpers"] == []


def test_dev_null_is_off(dumpon: Dumpon) -> None:
    disk = block_device()
    dumpon(disk)
    assert dumpon("/dev/null").returncode == 0
    assert dumpon("-l").stdout == "/dev/null\n"


def test_compression_retry(dumpon: Dumpon, state: Path) -> None:
    disk = block_device()
    write_state(state, features={"gzio": False})
    result = dumpon("-z", disk)
    assert result.returncode == 0
    assert result.stderr == "dumpon: Compression disabled; kernel may lack gzip or zstd support.\n"
    assert json.loads(state.read_text())["dumpers"][0]["compression"] == "none"


def test_size_check(dumpon: Dumpon, state: Path) -> None:
    disk = block_device()
    write_state(state, sysctl={"debug.minidump": 0, "hw.physmem": 2**62})
    error(dumpon(disk), f"/dev/{disk} is smaller than physical memory", 74)
    assert dumpon("-z", disk).returncode == 0  # compressed dumps skip the check
    assert dumpon("-r", "-z", disk).returncode == 0  # so do removals


# --- netdump mode -------------------------------------------------------------------------------


def test_netdump_on_loopback_is_unsupported(dumpon: Dumpon) -> None:
    error(
        dumpon("-s", "10.0.0.1", "-c", "10.0.0.2", "-g", "10.0.0.1", "lo"),
        "Unable to configure netdump because the interface driver does not yet support netdump.",
        71,
    )


def test_netdump_missing_interface_without_gateway(dumpon: Dumpon) -> None:
    error(
        dumpon("-s", "10.0.0.1", "-c", "10.0.0.2", "nosuch0"),
        "couldn't find interface index for 'nosuch0'",
        1,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "10.0.0.1", "-c", "10.0.0.2", "x" * 16], f"invalid interface name '{'x' * 16}'"),
        (["-s", "10.0.0.1", "-c", "08.0.0.1", "em0"], "invalid client address '08.0.0.1'"),
        (
            ["-s", "10.0.0.1", "-c", "1.2.3.4", "-g", "1.2.3.256", "em0"],
            "invalid gateway address '1.2.3.256'",
        ),
        (
            ["-s", "10.0.0.1", "-c", " 1.2.3.4", "-g", "1.2.3.4", "em0"],
            "invalid client address ' 1.2.3.4'",
        ),
    ],
)
def test_netdump_address_errors(dumpon: Dumpon, args: list[str], message: str) -> None:
    error(dumpon(*args), message, 64)


@requires_netns
def test_netdump_configure_and_list(dumpon: Dumpon, state: Path, ns: Namespace) -> None:
    result = dumpon(
        "-v", "-s", "10.77.9.9", "-c", "10.77.0.2", "-g", "10.1", ns.iface, netns=ns.name
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"kernel dumps on priority: device\n0: {ns.iface}\n"
        "server address: 10.77.9.9\nclient address: 10.77.0.2\ngateway address: 10.0.0.1\n"
    )
    assert dumpon("-l", netns=ns.name).stdout == f"{ns.iface}\n"
    kernel = json.loads(state.read_text())
    assert kernel["netdump"] == {
        "iface": ns.iface,
        "server": "10.77.9.9",
        "client": "10.77.0.2",
        "gateway": "10.0.0.1",
        "af": 2,
    }
    # netdump -r clears netdump and its entries; off clears everything
    assert (
        dumpon(
            "-r", "-s", "1.1.1.1", "-c", "2.2.2.2", "-g", "3.3.3.3", ns.iface, netns=ns.name
        ).returncode
        == 0
    )
    assert json.loads(state.read_text())["netdump"] is None
    assert dumpon("-l", netns=ns.name).stdout == "/dev/null\n"


@requires_netns
def test_netdump_gateway_from_default_route(dumpon: Dumpon, ns: Namespace) -> None:
    result = dumpon("-v", "-s", "10.77.9.9", "-c", "10.77.0.2", ns.iface, netns=ns.name)
    assert result.returncode == 0, result.stderr
    assert f"gateway address: {ns.router}\n" in result.stdout


@requires_netns
def test_netdump_server_host_name(dumpon: Dumpon, ns: Namespace) -> None:
    result = dumpon(
        "-v", "-s", "localhost", "-c", "10.77.0.2", "-g", "10.77.0.1", ns.iface, netns=ns.name
    )
    assert result.returncode == 0, result.stderr
    assert "server address: 127.0.0.1\n" in result.stdout


@requires_netns
def test_netdump_unresolvable_server(dumpon: Dumpon, ns: Namespace) -> None:
    # veth_namespace gives the namespace its own resolv.conf (`ip netns exec` bind-mounts
    # /etc/netns/<ns>/resolv.conf): the query goes to the namespace's own loopback, where
    # nothing answers, so no traffic leaves.
    result = dumpon("-s", "no-such-host.invalid", "-c", "10.77.0.2", ns.iface, netns=ns.name)
    assert result.returncode == 68
    assert result.stderr.startswith("dumpon: ") and result.stderr.count("\n") == 1


@requires_netns
def test_netdump_link_down_warning(dumpon: Dumpon, ns: Namespace) -> None:
    from tests.support import ip

    ip("-n", ns.name, "link", "set", ns.iface, "down")
    result = dumpon(
        "-s", "10.77.9.9", "-c", "10.77.0.2", "-g", "10.77.0.1", ns.iface, netns=ns.name
    )
    assert result.returncode == 0
    assert f"dumpon: warning: {ns.iface}'s link is down\n" in result.stderr


@requires_netns
def test_off_clears_netdump_first(dumpon: Dumpon, state: Path, ns: Namespace) -> None:
    disk = block_device()
    assert dumpon(disk, netns=ns.name).returncode == 0
    assert (
        dumpon(
            "-s",
            "10.77.9.9",
            "-c",
            "10.77.0.2",
            "-g",
            "10.77.0.1",
            "-i",
            "0",
            ns.iface,
            netns=ns.name,
        ).returncode
        == 0
    )
    assert dumpon("-l", netns=ns.name).stdout == f"{ns.iface},{disk}\n"
    result = dumpon("-l", "-v", netns=ns.name)
    assert result.stdout.startswith(f"kernel dumps on priority: device\n0: {ns.iface}\n1: {disk}\n")
    assert dumpon("off", netns=ns.name).returncode == 0
    kernel = json.loads(state.read_text())
    assert (kernel["dumpers"], kernel["netdump"]) == ([], None)


def test_netdump_not_in_kernel(dumpon: Dumpon, state: Path) -> None:
    write_state(state, features={"netdump": False})
    error(
        dumpon("-s", "10.0.0.1", "-c", "10.0.0.2", "bogus-if-name-that-is-long"),
        "/dev/netdump: No such file or directory",
        72,
    )
    # -l -v then silently omits the addresses; off skips the netdump step
    assert dumpon("-l", "-v").stdout == "kernel dumps on priority: device\n0: /dev/null\n"
    assert dumpon("off").returncode == 0


# --- backends -------------------------------------------------------------------------------------


def test_unknown_backend(dumpon: Dumpon) -> None:
    error(
        dumpon("--backend", "floppy", "-l"),
        "unknown backend 'floppy': expected auto, freebsd or file:PATH",
        64,
    )
    error(
        dumpon("-l", env={"DUMPON_BACKEND": "file:"}),
        "backend 'file:' needs a path, as in file:/tmp/kernel.json",
        64,
    )


def test_backend_option_beats_environment(dumpon: Dumpon, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    assert dumpon(f"--backend=file:{other}", "-v", "off").returncode == 0
    assert other.exists()


def test_help_and_version(dumpon: Dumpon) -> None:
    result = dumpon("--help")
    assert result.returncode == 0
    for option in ("-C", "-c", "-g", "-i", "-k", "-l", "-r", "-s", "-v", "-Z", "-z", "--backend"):
        assert f"{option}," in result.stdout or f"{option} " in result.stdout
    assert dumpon("--version").stdout.startswith("dumpon ")


def test_dumpdevname_too_long_for_dumpons_buffer(dumpon: Dumpon, state: Path) -> None:
    write_state(state, sysctl={"kern.shutdown.dumpdevname": "ada0p3," * 200})
    error(
        dumpon("-l"),
        "Kernel returned too large of a buffer for 'kern.shutdown.dumpdevname': "
        "Cannot allocate memory",
        71,
    )


def test_key_without_crypto_support(dumpon: Dumpon, tmp_path: Path) -> None:
    # A `cryptography` that cannot be imported stands for a build without OpenSSL.
    shadow = tmp_path / "shadow" / "cryptography"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no OpenSSL here')\n")
    result = dumpon("-k", "key.pem", "ada0", env={"PYTHONPATH": str(shadow.parent)})
    error(result, "Unable to use the public key. Install the 'cryptography' package.", 69)


@requires_netns
def test_on_link_server_is_its_own_gateway(dumpon: Dumpon, ns: Namespace) -> None:
    result = dumpon("-v", "-s", ns.router, "-c", ns.address, ns.iface, netns=ns.name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"failed to look up gateway for {ns.router}\n")
    assert f"gateway address: {ns.router}\n" in result.stdout
