"""The FreeBSD backend on a 13+ kernel: the exact ioctls of every command form, recorded,
and every errno the kernel can answer mapped to FreeBSD's message and exit status.

Runs for LP64 (amd64), ILP32 (i386) and big-endian LP64 (powerpc64) layouts.
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
    PLATFORMS_13,
    SERVER,
    WRAPPED_KEY,
    Call,
    Dumpon,
    RecordingOS,
    ip,
    netdump13,
    opened,
    set13,
    sysctl,
)

OSRELDATE = sysctl("kern.osreldate")


@pytest.fixture(params=PLATFORMS_13, ids=lambda p: p.machine_arch)
def platform(request: pytest.FixtureRequest) -> Platform:
    chosen: Platform = request.param
    return chosen


@pytest.fixture
def system(platform: Platform) -> RecordingOS:
    return RecordingOS(platform.model)


@pytest.fixture
def dumpon(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Dumpon:
    return Dumpon(monkeypatch, capsys)


# --- command forms ----------------------------------------------------------------------


def test_device(dumpon: Dumpon, system: RecordingOS) -> None:
    done = dumpon(system, ["ada0"])
    assert (done.status, done.out, done.err) == (0, "", "")
    assert done.calls == [
        OSRELDATE,
        *opened(
            "/dev/ada0",
            sysctl("debug.minidump"),
            set13(system.model, "/dev/ada0", index=abi.KDA_APPEND),
        ),
    ]


@pytest.mark.parametrize(
    ("flags", "fields"),
    [
        (["-z"], {"compression": abi.COMP_GZIP}),
        (["-Z"], {"compression": abi.COMP_ZSTD}),
        (["-i", "3", "-Z"], {"index": 3, "compression": abi.COMP_ZSTD}),
        (["-r", "-z"], {"index": abi.KDA_REMOVE, "compression": abi.COMP_GZIP}),
        (["-r"], {"index": abi.KDA_REMOVE}),
    ],
)
def test_device_without_size_check(
    dumpon: Dumpon, system: RecordingOS, flags: list[str], fields: dict[str, int]
) -> None:
    done = dumpon(system, [*flags, "/dev/ada0"])
    assert done.status == 0
    expected = {"index": abi.KDA_APPEND, **fields}
    assert done.calls == [
        OSRELDATE,
        *opened("/dev/ada0", set13(system.model, "/dev/ada0", **expected)),
    ]


def test_insert_index_keeps_the_size_check(dumpon: Dumpon, system: RecordingOS) -> None:
    done = dumpon(system, ["-i", "0", "ada0"])
    assert done.calls == [
        OSRELDATE,
        *opened("/dev/ada0", sysctl("debug.minidump"), set13(system.model, "/dev/ada0", index=0)),
    ]


def test_off_clears_netdump_then_the_list(dumpon: Dumpon, system: RecordingOS) -> None:
    done = dumpon(system, ["off"])
    assert (done.status, done.out, done.err) == (0, "", "")
    model = system.model
    assert done.calls == [
        OSRELDATE,
        *opened(
            "/dev/netdump",
            set13(model, "/dev/netdump", index=abi.KDA_REMOVE_ALL, af=abi.AF_INET),
        ),
        *opened("/dev/null", set13(model, "/dev/null", index=abi.KDA_REMOVE)),
    ]


def test_verbose_off_lists_dev_null(dumpon: Dumpon, system: RecordingOS) -> None:
    system.fail("/dev/netdump", system.model.DIOCGKERNELDUMP, errno.ENXIO)
    done = dumpon(system, ["-v", "off"])
    assert (done.status, done.out) == (0, "kernel dumps on priority: device\n0: /dev/null\n")
    assert done.calls[-4:] == [
        sysctl("kern.shutdown.dumpdevname"),
        *opened(
            "/dev/netdump",
            Call(
                "ioctl", "/dev/netdump", system.model.DIOCGKERNELDUMP, bytes(system.model.kda_size)
            ),
        ),
    ]


def test_off_without_netdump_in_the_kernel(dumpon: Dumpon, system: RecordingOS) -> None:
    system.open_errors["/dev/netdump"] = errno.ENOENT
    done = dumpon(system, ["off"])
    assert done.status == 0
    assert done.calls == [
        OSRELDATE,
        Call("open", "/dev/netdump"),
        *opened("/dev/null", set13(system.model, "/dev/null", index=abi.KDA_REMOVE)),
    ]


def test_naming_dev_null_is_off_without_remove(dumpon: Dumpon, system: RecordingOS) -> None:
    done = dumpon(system, ["-z", "/dev/null"])
    assert done.status == 0
    assert done.calls[1:3] == [Call("open", "/dev/netdump"), done.calls[2]]
    assert done.calls[-2] == set13(
        system.model, "/dev/null", index=abi.KDA_APPEND, compression=abi.COMP_GZIP
    )


@pytest.mark.parametrize(
    ("flags", "fields"),
    [
        ([], {}),
        (["-z"], {"compression": abi.COMP_GZIP}),
        (["-Z", "-i", "0"], {"compression": abi.COMP_ZSTD, "index": 0}),
        (["-r"], {"index": abi.KDA_REMOVE}),
    ],
)
def test_netdump(
    dumpon: Dumpon, system: RecordingOS, flags: list[str], fields: dict[str, int]
) -> None:
    done = dumpon(system, [*flags, *NETDUMP_ARGS])
    assert (done.status, done.out, done.err) == (0, "", "")
    expected = netdump13(**{"index": abi.KDA_APPEND, **fields})
    assert done.calls == [
        OSRELDATE,
        *opened("/dev/netdump", set13(system.model, "/dev/netdump", **expected)),
    ]


@pytest.mark.parametrize(("found", "gateway"), [("198.51.100.1", "198.51.100.1"), (None, SERVER)])
def test_netdump_gateway_lookup(
    dumpon: Dumpon,
    system: RecordingOS,
    monkeypatch: pytest.MonkeyPatch,
    found: str | None,
    gateway: str,
) -> None:
    looked_up: list[tuple[str, str]] = []

    def find_gateway(iface: str, server: str) -> str | None:
        looked_up.append((iface, server))
        return found

    monkeypatch.setattr(netpath, "find_gateway", find_gateway)
    system.fail("/dev/netdump", system.model.DIOCGKERNELDUMP, errno.ENXIO)
    done = dumpon(system, ["-v", "-s", SERVER, "-c", CLIENT, "vtnet0"])
    assert done.status == 0
    assert looked_up == [("vtnet0", SERVER)]
    missing = f"failed to look up gateway for {SERVER}\n" if found is None else ""
    assert done.out == missing + "kernel dumps on priority: device\n0: /dev/null\n"
    assert done.calls[1:4] == opened(
        "/dev/netdump",
        set13(system.model, "/dev/netdump", **netdump13(index=abi.KDA_APPEND, gateway=ip(gateway))),
    )


def test_list(dumpon: Dumpon, system: RecordingOS) -> None:
    system.sysctls["kern.shutdown.dumpdevname"] = b"vtnet0,ada0p3\0"
    done = dumpon(system, ["-l"])
    assert (done.status, done.out) == (0, "vtnet0,ada0p3\n")
    assert done.calls == [OSRELDATE, sysctl("kern.shutdown.dumpdevname")]


def test_list_verbose(dumpon: Dumpon, system: RecordingOS) -> None:
    model = system.model
    system.sysctls["kern.shutdown.dumpdevname"] = b"vtnet0,ada0p3\0"
    system.replies[model.DIOCGKERNELDUMP] = bytes(model.pack(abi.DumpArg(**netdump13())))
    done = dumpon(system, ["-l", "-v"])
    assert done.status == 0
    assert done.out == (
        "kernel dumps on priority: device\n0: vtnet0\n1: ada0p3\n"
        f"server address: {SERVER}\nclient address: {CLIENT}\ngateway address: {GATEWAY}\n"
    )
    get = Call("ioctl", "/dev/netdump", model.DIOCGKERNELDUMP, bytes(model.kda_size))
    assert done.calls == [
        OSRELDATE,
        sysctl("kern.shutdown.dumpdevname"),
        *opened("/dev/netdump", get),
    ]


@pytest.mark.parametrize("how", ["no netdump", "not configured"])
def test_list_verbose_without_netdump_addresses(
    dumpon: Dumpon, system: RecordingOS, how: str
) -> None:
    if how == "no netdump":
        system.open_errors["/dev/netdump"] = errno.ENOENT
    else:
        system.fail("/dev/netdump", system.model.DIOCGKERNELDUMP, errno.ENXIO)
    done = dumpon(system, ["-lv"])
    assert (done.status, done.out, done.err) == (
        0,
        "kernel dumps on priority: device\n0: /dev/null\n",
        "",
    )


def test_list_verbose_errors(dumpon: Dumpon, system: RecordingOS) -> None:
    system.open_errors["/dev/netdump"] = errno.EACCES
    done = dumpon(system, ["-lv"])
    assert (done.status, done.err) == (
        71,
        f"dumpon: opening /dev/netdump: {FREEBSD_STRERROR[errno.EACCES]}\n",
    )
    del system.open_errors["/dev/netdump"]
    system.fail("/dev/netdump", system.model.DIOCGKERNELDUMP, errno.EPERM)
    done = dumpon(system, ["-lv"])
    assert (done.status, done.err) == (
        71,
        f"dumpon: ioctl(DIOCGKERNELDUMP): {FREEBSD_STRERROR[errno.EPERM]}\n",
    )


def test_list_sysctl_errors(dumpon: Dumpon, system: RecordingOS) -> None:
    del system.sysctls["kern.shutdown.dumpdevname"]
    done = dumpon(system, ["-l"])
    assert done.status == 71
    assert done.err.startswith("dumpon: Sysctl get 'kern.shutdown.dumpdevname'")
    system.sysctls["kern.shutdown.dumpdevname"] = b"x" * 1024 + b"\0"
    done = dumpon(system, ["-l"])
    assert done.status == 71
    assert "Kernel returned too large of a buffer" in done.err


@pytest.mark.parametrize(
    ("flags", "cipher"), [([], abi.ENC_CHACHA20), (["-C", "aes-cbc"], abi.ENC_AES_256_CBC)]
)
def test_encrypted(dumpon: Dumpon, system: RecordingOS, flags: list[str], cipher: int) -> None:
    done = dumpon(system, [*flags, "-k", "/etc/dump.pem", "ada0"])
    assert done.status == 0
    assert dumpon.ekcd.calls == [("/etc/dump.pem", cipher if flags else 0, 0, "oaep")]
    set_call = done.calls[-2]
    sent = system.model.unpack(set_call.arg)
    assert (sent.encryption, sent.key, sent.encrypted_key_size) == (cipher, ONE_TIME_KEY, 256)
    assert sent.encrypted_key_ptr != 0
    if system.model.pointer_size == 8:  # the address is only readable from an LP64 host
        assert system.user_keys == [WRAPPED_KEY]
    assert dumpon.ekcd.handed_out[0].key == bytearray(64)  # wiped once the kernel had it


def test_encrypted_netdump_removal_selects_by_cipher(dumpon: Dumpon, system: RecordingOS) -> None:
    done = dumpon(system, ["-r", "-k", "/etc/dump.pem", *NETDUMP_ARGS])
    assert done.status == 0
    sent = system.model.unpack(done.calls[-2].arg)
    assert (sent.index, sent.encryption, sent.iface) == (
        abi.KDA_REMOVE,
        abi.ENC_CHACHA20,
        b"vtnet0",
    )


# --- kernel errors ----------------------------------------------------------------------


def test_unsupported_interface_driver(dumpon: Dumpon, system: RecordingOS) -> None:
    system.fail("/dev/netdump", system.model.DIOCSKERNELDUMP, errno.ENODEV)
    done = dumpon(system, NETDUMP_ARGS)
    assert done.status == 71
    assert done.err == (
        "dumpon: Unable to configure netdump because the interface driver does not yet "
        "support netdump.\n"
    )


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["ada0"], errno.ENODEV),  # the friendly text is for netdump only
        (NETDUMP_ARGS, errno.ENXIO),  # current dumpon has no link-down text any more
        (["ada0"], errno.EPERM),
        (NETDUMP_ARGS, errno.EPERM),
        (["-r", "ada0"], errno.ENOENT),
        (["-k", "/k.pem", "ada0"], errno.EOPNOTSUPP),
        (NETDUMP_ARGS, errno.EPROTONOSUPPORT),
        (["ada0"], errno.EINVAL),  # no compression: no retry
        (["ada0"], errno.EBUSY),
    ],
)
def test_generic_set_errors(
    dumpon: Dumpon, system: RecordingOS, argv: list[str], code: int
) -> None:
    path = "/dev/netdump" if "-s" in argv else "/dev/ada0"
    system.fail(path, system.model.DIOCSKERNELDUMP, code)
    done = dumpon(system, argv)
    assert (done.status, done.err) == (
        71,
        f"dumpon: ioctl(DIOCSKERNELDUMP): {FREEBSD_STRERROR[code]}\n",
    )
    assert sum(call.request == system.model.DIOCSKERNELDUMP for call in done.calls) == 1


@pytest.mark.parametrize("flag", ["-z", "-Z"])
def test_compression_retry(dumpon: Dumpon, system: RecordingOS, flag: str) -> None:
    model = system.model
    system.fail("/dev/ada0", model.DIOCSKERNELDUMP, errno.EINVAL, 0)
    done = dumpon(system, [flag, "ada0"])
    assert (done.status, done.err) == (
        0,
        "dumpon: Compression disabled; kernel may lack gzip or zstd support.\n",
    )
    compression = abi.COMP_GZIP if flag == "-z" else abi.COMP_ZSTD
    assert done.calls == [
        OSRELDATE,
        *opened(
            "/dev/ada0",
            set13(model, "/dev/ada0", index=abi.KDA_APPEND, compression=compression),
            set13(model, "/dev/ada0", index=abi.KDA_APPEND),
        ),
    ]
    system.calls.clear()
    system.fail("/dev/ada0", model.DIOCSKERNELDUMP, errno.EINVAL, errno.EINVAL)
    done = dumpon(system, [flag, "ada0"])
    assert (done.status, done.err) == (
        71,
        f"dumpon: ioctl(DIOCSKERNELDUMP): {FREEBSD_STRERROR[errno.EINVAL]}\n",
    )


def test_kernel_without_netdump(dumpon: Dumpon, system: RecordingOS) -> None:
    """The open fails before any address is looked at (the client here is invalid)."""
    system.open_errors["/dev/netdump"] = errno.ENOENT
    done = dumpon(system, ["-s", SERVER, "-c", "bogus", "vtnet0"])
    assert (done.status, done.err) == (72, "dumpon: /dev/netdump: No such file or directory\n")
    assert done.calls == [OSRELDATE, Call("open", "/dev/netdump")]


def test_off_when_clearing_netdump_fails(dumpon: Dumpon, system: RecordingOS) -> None:
    system.fail("/dev/netdump", system.model.DIOCSKERNELDUMP, errno.EPERM)
    done = dumpon(system, ["off"])
    assert (done.status, done.err) == (
        1,
        f"dumpon: ioctl(/dev/netdump, DIOCSKERNELDUMP): {FREEBSD_STRERROR[errno.EPERM]}\n",
    )
    assert Call("open", "/dev/null") not in done.calls


def test_device_open_error(dumpon: Dumpon, system: RecordingOS) -> None:
    system.open_errors["/dev/ada9"] = errno.ENOENT
    done = dumpon(system, ["ada9"])
    assert (done.status, done.err) == (72, "dumpon: /dev/ada9: No such file or directory\n")


def test_resolver_failure(
    dumpon: Dumpon, system: RecordingOS, monkeypatch: pytest.MonkeyPatch
) -> None:
    def getaddrinfo(*args: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    done = dumpon(system, ["-s", "nowhere.invalid", "-c", CLIENT, "-g", GATEWAY, "vtnet0"])
    # FreeBSD's gai_strerror(EAI_NONAME), not the host resolver's text
    assert (done.status, done.err) == (68, "dumpon: hostname nor servname provided, or not known\n")


# --- the full-dump size check -----------------------------------------------------------


@pytest.fixture
def full_dumps(system: RecordingOS) -> RecordingOS:
    """debug.minidump 0 and 3 GiB of memory: hw.physmem is an unsigned long."""
    system.sysctls["debug.minidump"] = system.integer(0)
    system.sysctls["hw.physmem"] = system.integer(3 << 30, system.model.pointer_size)
    return system


@pytest.mark.parametrize(("media", "status"), [(2 << 30, 74), (4 << 30, 0)])
def test_size_check(dumpon: Dumpon, full_dumps: RecordingOS, media: int, status: int) -> None:
    model = full_dumps.model
    full_dumps.replies[model.DIOCGMEDIASIZE] = full_dumps.integer(media, 8)
    done = dumpon(full_dumps, ["ada0"])
    assert done.status == status
    if status:
        assert done.err == "dumpon: /dev/ada0 is smaller than physical memory\n"
    assert done.calls[:6] == [
        OSRELDATE,
        Call("open", "/dev/ada0"),
        sysctl("debug.minidump"),
        sysctl("hw.physmem"),
        Call("ioctl", "/dev/ada0", model.DIOCGMEDIASIZE, bytes(8)),
        done.calls[5],
    ]


def test_size_check_errors(dumpon: Dumpon, full_dumps: RecordingOS) -> None:
    full_dumps.fail("/dev/ada0", full_dumps.model.DIOCGMEDIASIZE, errno.ENOTTY)
    done = dumpon(full_dumps, ["ada0"])
    assert (done.status, done.err) == (
        71,
        f"dumpon: /dev/ada0: can't get size: {FREEBSD_STRERROR[errno.ENOTTY]}\n",
    )
    del full_dumps.sysctls["hw.physmem"]
    done = dumpon(full_dumps, ["ada0"])
    assert (done.status, done.err) == (
        71,
        "dumpon: can't get memory size: No such file or directory\n",
    )


# --- which flow -------------------------------------------------------------------------


def test_abi_override_skips_osreldate(dumpon: Dumpon, platform: Platform) -> None:
    system = RecordingOS(platform.model, osreldate=1202000)
    done = dumpon(system, ["--abi", "13", "-z", "ada0"])
    assert done.status == 0
    assert done.calls[0] == Call("open", "/dev/ada0")


def test_unreadable_osreldate_means_current(dumpon: Dumpon, system: RecordingOS) -> None:
    del system.sysctls["kern.osreldate"]
    done = dumpon(system, ["-i", "1", "-z", "ada0"])
    assert done.status == 0
    assert done.calls[-2] == set13(system.model, "/dev/ada0", index=1, compression=abi.COMP_GZIP)


def test_bad_abi_option(dumpon: Dumpon, system: RecordingOS) -> None:
    done = dumpon(system, ["--abi", "11", "ada0"])
    assert (done.status, done.err) == (64, "dumpon: --abi must be 12 or 13, not '11'\n")
