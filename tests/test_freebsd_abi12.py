"""The FreeBSD backend on a 12.x kernel (kern.osreldate < 1300000): recorded ioctls of
every command form, and the 12.x messages and exit statuses.  LP64 and ILP32 layouts.
"""

from __future__ import annotations

import errno
import socket

import pytest

from dumpon.kernel import abi
from dumpon.kernel.arch import Platform
from dumpon.netinfo import path as netpath
from tests.freebsd_support import (
    CLIENT,
    FREEBSD_STRERROR,
    GATEWAY,
    NETDUMP_ARGS,
    ONE_TIME_KEY,
    OSRELDATE_12,
    OSRELDATE_15,
    PLATFORMS_12,
    SERVER,
    WRAPPED_KEY,
    Call,
    Dumpon,
    RecordingOS,
    netdump_conf12,
    opened,
    set12,
    sysctl,
)

OSRELDATE = sysctl("kern.osreldate")
MINIDUMP = sysctl("debug.minidump")


@pytest.fixture(params=PLATFORMS_12, ids=lambda p: p.machine_arch)
def platform(request: pytest.FixtureRequest) -> Platform:
    chosen: Platform = request.param
    return chosen


@pytest.fixture
def system(platform: Platform) -> RecordingOS:
    return RecordingOS(platform.model, osreldate=OSRELDATE_12)


@pytest.fixture
def dumpon(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Dumpon:
    return Dumpon(monkeypatch, capsys)


def disable(system: RecordingOS, path: str) -> Call:
    return set12(system.model, path)


# --- command forms ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "compression", "size_check"),
    [([], 0, True), (["-Z"], abi.COMP_ZSTD, True), (["-z"], abi.COMP_GZIP, False)],
)
def test_device_disables_then_enables(
    dumpon: Dumpon, system: RecordingOS, flags: list[str], compression: int, size_check: bool
) -> None:
    done = dumpon(system, [*flags, "-v", "ada0"])
    assert (done.status, done.out, done.err) == (0, "kernel dumps on /dev/ada0\n", "")
    assert done.calls == [
        OSRELDATE,
        *opened(
            "/dev/ada0",
            *([MINIDUMP] if size_check else []),  # 12.x: only gzip skips it
            disable(system, "/dev/ada0"),
            set12(system.model, "/dev/ada0", enable=True, compression=compression),
        ),
    ]


def test_off_stops_after_disabling(dumpon: Dumpon, system: RecordingOS) -> None:
    done = dumpon(system, ["-v", "off"])
    assert (done.status, done.out, done.err) == (0, "", "")
    assert done.calls == [OSRELDATE, *opened("/dev/null", MINIDUMP, disable(system, "/dev/null"))]


@pytest.mark.parametrize(("flags", "compression"), [([], 0), (["-z"], abi.COMP_GZIP)])
def test_netdump(dumpon: Dumpon, system: RecordingOS, flags: list[str], compression: int) -> None:
    done = dumpon(system, [*flags, "-v", *NETDUMP_ARGS])
    assert (done.status, done.out, done.err) == (0, "kernel dumps on /dev/netdump\n", "")
    assert done.calls == [
        OSRELDATE,
        *opened(
            "/dev/netdump",
            disable(system, "/dev/netdump"),
            netdump_conf12(system.model, enable=True, compression=compression),
        ),
    ]


def test_netdump_gateway_falls_back_to_the_server(
    dumpon: Dumpon, system: RecordingOS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(netpath, "find_gateway", lambda iface, server: None)
    done = dumpon(system, ["-v", "-s", SERVER, "-c", CLIENT, "vtnet0"])
    assert done.status == 0
    assert done.out == f"failed to look up gateway for {SERVER}\nkernel dumps on /dev/netdump\n"
    conf = system.model.unpack_netdump_conf(done.calls[-2].arg)
    assert conf.gateway == conf.server == bytes([192, 0, 2, 1])


def test_list(dumpon: Dumpon, system: RecordingOS) -> None:
    system.sysctls["kern.shutdown.dumpdevname"] = b"ada0p3\0"
    done = dumpon(system, ["-l"])
    assert (done.status, done.out) == (0, "ada0p3\n")
    assert done.calls == [OSRELDATE, sysctl("kern.shutdown.dumpdevname")]


def test_list_verbose(dumpon: Dumpon, system: RecordingOS) -> None:
    model = system.model
    system.sysctls["kern.shutdown.dumpdevname"] = b"vtnet0\0"
    reply = netdump_conf12(model, enable=True).arg
    system.replies[model.NETDUMPGCONF] = reply
    done = dumpon(system, ["-l", "-v"])
    assert done.status == 0
    assert done.out == (
        "kernel dumps on vtnet0\n"
        f"server address: {SERVER}\nclient address: {CLIENT}\ngateway address: {GATEWAY}\n"
    )
    get = Call("ioctl", "/dev/netdump", model.NETDUMPGCONF, bytes(model.netdump_conf_size))
    assert done.calls[-3:] == opened("/dev/netdump", get)


def test_list_verbose_unconfigured_and_errors(dumpon: Dumpon, system: RecordingOS) -> None:
    system.fail("/dev/netdump", system.model.NETDUMPGCONF, errno.ENXIO, errno.EPERM)
    done = dumpon(system, ["-lv"])
    assert (done.status, done.out) == (0, "kernel dumps on /dev/null\n")
    done = dumpon(system, ["-lv"])
    assert (done.status, done.err) == (
        71,
        f"dumpon: ioctl(NETDUMPGCONF): {FREEBSD_STRERROR[errno.EPERM]}\n",
    )


@pytest.mark.parametrize("flags", [[], ["-z"]])
def test_encrypted_device(dumpon: Dumpon, system: RecordingOS, flags: list[str]) -> None:
    done = dumpon(system, [*flags, "-k", "/etc/dump.pem", "ada0"])
    assert done.status == 0
    # Always AES-256-CBC and PKCS#1 v1.5; compression is left for the kernel to refuse.
    assert dumpon.ekcd.calls == [("/etc/dump.pem", abi.ENC_AES_256_CBC, 0, "pkcs1")]
    sent = done.calls[-2]
    assert sent.request == system.model.DIOCSKERNELDUMP_FREEBSD12
    assert sent.arg[:3] == bytes([1, abi.COMP_GZIP if flags else 0, abi.ENC_AES_256_CBC])
    assert sent.arg[3:67] == ONE_TIME_KEY
    assert int.from_bytes(sent.arg[68:72], "little") == len(WRAPPED_KEY)
    if system.model.pointer_size == 8:
        assert system.user_keys == [WRAPPED_KEY]
    assert done.calls[-3] == disable(system, "/dev/ada0")  # the disable carries no key
    assert dumpon.ekcd.handed_out[0].key == bytearray(64)


def test_encrypted_netdump(dumpon: Dumpon, system: RecordingOS) -> None:
    done = dumpon(system, ["-k", "/etc/dump.pem", *NETDUMP_ARGS])
    assert done.status == 0
    conf = system.model.unpack_netdump_conf(done.calls[-2].arg)
    assert (conf.kda.enable, conf.kda.encryption, conf.kda.key) == (
        True,
        abi.ENC_AES_256_CBC,
        ONE_TIME_KEY,
    )
    assert conf.kda.encrypted_key_size == len(WRAPPED_KEY) and conf.kda.encrypted_key_ptr
    if system.model.pointer_size == 8:
        assert system.user_keys == [WRAPPED_KEY]


@pytest.mark.parametrize(
    ("flags", "letter"), [(["-i", "1"], "i"), (["-r"], "r"), (["-C", "chacha", "-k", "k"], "C")]
)
def test_newer_options_are_illegal(
    dumpon: Dumpon, system: RecordingOS, flags: list[str], letter: str
) -> None:
    done = dumpon(system, [*flags, "ada0"])
    assert done.status == 64
    assert done.err.startswith(f"dumpon: illegal option -- {letter}\nusage: dumpon ")
    assert done.calls == [OSRELDATE]


def test_abi_option_selects_12_on_a_newer_kernel(dumpon: Dumpon, platform: Platform) -> None:
    system = RecordingOS(platform.model, osreldate=OSRELDATE_15)
    done = dumpon(system, ["--abi", "12", "-z", "ada0"])
    assert done.status == 0
    assert done.calls == [
        *opened(
            "/dev/ada0",
            disable(system, "/dev/ada0"),
            set12(system.model, "/dev/ada0", enable=True, compression=abi.COMP_GZIP),
        )
    ]


# --- kernel errors ----------------------------------------------------------------------


def test_disable_failure_stops(dumpon: Dumpon, system: RecordingOS) -> None:
    system.fail("/dev/ada0", system.model.DIOCSKERNELDUMP_FREEBSD12, errno.EPERM)
    done = dumpon(system, ["ada0"])
    assert (done.status, done.err) == (
        71,
        f"dumpon: ioctl(DIOCSKERNELDUMP): {FREEBSD_STRERROR[errno.EPERM]}\n",
    )
    assert done.calls[-2:] == [disable(system, "/dev/ada0"), Call("close", "/dev/ada0")]


@pytest.mark.parametrize("code", [errno.EBUSY, errno.EOPNOTSUPP, errno.EINVAL])
def test_enable_errors(dumpon: Dumpon, system: RecordingOS, code: int) -> None:
    system.fail("/dev/ada0", system.model.DIOCSKERNELDUMP_FREEBSD12, 0, code)
    done = dumpon(system, ["-z", "ada0"])  # no compression retry in 12.x
    assert (done.status, done.err) == (
        71,
        f"dumpon: ioctl(DIOCSKERNELDUMP): {FREEBSD_STRERROR[code]}\n",
    )
    assert sum(call.op == "ioctl" for call in done.calls) == 2


@pytest.mark.parametrize("code", [errno.ENOENT, errno.ENXIO, errno.EINVAL, errno.EBUSY])
def test_netdump_errors(dumpon: Dumpon, system: RecordingOS, code: int) -> None:
    system.fail("/dev/netdump", system.model.NETDUMPSCONF, code)
    done = dumpon(system, NETDUMP_ARGS)
    assert (done.status, done.err) == (
        71,
        f"dumpon: ioctl(NETDUMPSCONF): {FREEBSD_STRERROR[code]}\n",
    )


def test_kernel_without_netdump(dumpon: Dumpon, system: RecordingOS) -> None:
    system.open_errors["/dev/netdump"] = errno.ENOENT
    done = dumpon(system, NETDUMP_ARGS)
    assert (done.status, done.err) == (72, "dumpon: /dev/netdump: No such file or directory\n")


def test_resolver_failure_exits_1(
    dumpon: Dumpon, system: RecordingOS, monkeypatch: pytest.MonkeyPatch
) -> None:
    def getaddrinfo(*args: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    done = dumpon(system, ["-s", "nowhere.invalid", "-c", CLIENT, "vtnet0"])
    assert (done.status, done.err) == (
        1,
        f"dumpon: hostname nor servname provided, or not known: {FREEBSD_STRERROR[errno.ENOENT]}\n",
    )


@pytest.mark.parametrize(
    ("flags", "out"), [([], ""), (["-v"], "/dev/ada0 is smaller than physical memory\n")]
)
def test_small_device_is_reported_on_stdout_with_v(
    dumpon: Dumpon, system: RecordingOS, flags: list[str], out: str
) -> None:
    model = system.model
    system.sysctls["debug.minidump"] = system.integer(0)
    system.sysctls["hw.physmem"] = system.integer(3 << 30, model.pointer_size)
    system.replies[model.DIOCGMEDIASIZE] = system.integer(1 << 30, 8)
    done = dumpon(system, [*flags, "-Z", "ada0"])
    assert (done.status, done.out, done.err) == (74, out, "")
    assert not any(call.request == model.DIOCSKERNELDUMP_FREEBSD12 for call in done.calls)
