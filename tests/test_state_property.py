"""Generated state files: every valid one loads; every mutation of one (a wrong type, a
missing or unknown member, an oversized value, deep nesting, a bad name escape) is the
documented "corrupt state file", exit 72, with the file left byte for byte as it was."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

STATE = Path(tempfile.mkdtemp(prefix="dumpon-state-property-")) / "kernel.json"
Document = dict[str, Any]
Where = tuple[str | int, ...]


def escaped(raw: bytes) -> str:
    """The state file's documented name form: %XX for % and bytes outside 0x21-0x7e."""
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b != 0x25 else f"%{b:02X}" for b in raw)


def unescaped(name: str) -> bytes:
    return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes.fromhex(m[1].decode()), name.encode())


names = st.binary(min_size=1, max_size=24).filter(lambda b: b"\0" not in b).map(escaped)
ifnames = st.binary(min_size=1, max_size=15).filter(lambda b: b"\0" not in b).map(escaped)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))


@st.composite
def dumpers(draw: st.DrawFn) -> Document:
    entry = {
        "name": draw(names),
        "compression": draw(st.sampled_from(["none", "gzip", "zstd"])),
        "encryption": draw(st.sampled_from(["none", "aes-256-cbc", "chacha20"])),
    }
    if entry["encryption"] != "none":
        key = draw(st.binary(min_size=1, max_size=64))
        entry["encrypted_key"] = base64.b64encode(key).decode()
    return entry


def netdump_configurations(
    member: str, values: st.SearchStrategy[object]
) -> st.SearchStrategy[Document]:
    """A stored netdump configuration: 13+ has an address family, 12.x an enabled flag."""
    addresses = {"iface": ifnames, "server": ipv4, "client": ipv4, "gateway": ipv4}
    return st.fixed_dictionaries({**addresses, member: values})


@st.composite
def documents(draw: st.DrawFn) -> Document:
    document: Document = {
        "format": "dumpon-mock-kernel",
        "version": 1,
        "dumpers": draw(st.lists(dumpers(), max_size=4)),
        "netdump": draw(st.none() | netdump_configurations("af", st.just(2))),
    }
    if document["dumpers"] and draw(st.booleans()):
        target = document["dumpers"][0]["name"]
        document["facts"] = {target: {"public_key": draw(st.text(max_size=40))}}
    if draw(st.booleans()):
        document["features"] = {"gzio": draw(st.booleans())}
    if draw(st.booleans()):
        document["sysctl"] = {
            "debug.minidump": draw(st.integers(0, 1)),
            "net.netdump.retries": draw(st.integers(-(2**31), 2**31 - 1)),
            "net.netdump.path": draw(st.text(max_size=20)),
        }
    if draw(st.booleans()):  # a FreeBSD 12.x kernel's state
        document["freebsd12"] = {
            "dumper": draw(st.none() | dumpers()),
            "netdump": draw(st.none() | netdump_configurations("enabled", st.booleans())),
        }
    return document


# Where values are, and the JSON types each place takes.
def typed_places(document: Document) -> dict[Where, set[type]]:
    places: dict[Where, set[type]] = {
        ("version",): {int},
        ("dumpers",): {list},
        ("netdump",): {dict, type(None)},
    }
    for n, entry in enumerate(document["dumpers"]):
        places[("dumpers", n)] = {dict}
        for member in entry:
            places[("dumpers", n, member)] = {str}
    if document["netdump"] is not None:
        for member in ("iface", "server", "client", "gateway"):
            places[("netdump", member)] = {str}
        places[("netdump", "af")] = {int}
    for member in ("facts", "features", "sysctl"):
        if member in document:
            places[(member,)] = {dict}
    if "features" in document:
        places[("features", "gzio")] = {bool}
    if "sysctl" in document:
        places[("sysctl", "net.netdump.retries")] = {int}
        places[("sysctl", "net.netdump.path")] = {str}
    if "freebsd12" in document:
        places[("freebsd12",)] = {dict, type(None)}
        netdump12 = document["freebsd12"]["netdump"]
        if netdump12 is not None:
            places[("freebsd12", "netdump", "enabled")] = {bool}
            places[("freebsd12", "netdump", "iface")] = {str}
    return places


def required_places(document: Document) -> list[Where]:
    places: list[Where] = [("version",), ("dumpers",), ("netdump",)]
    for n, _ in enumerate(document["dumpers"]):
        places += [("dumpers", n, m) for m in ("name", "compression", "encryption")]
    if document["netdump"] is not None:
        places += [("netdump", m) for m in ("iface", "server", "client", "gateway", "af")]
    return places


def records(document: Document) -> list[Where]:
    places: list[Where] = [()]
    places += [("dumpers", n) for n, _ in enumerate(document["dumpers"])]
    if document["netdump"] is not None:
        places.append(("netdump",))
    if "features" in document:
        places.append(("features",))
    if "freebsd12" in document:
        places.append(("freebsd12",))
    return places


def at(document: Document, where: Where) -> Any:
    node: Any = document
    for step in where:
        node = node[step]
    return node


def put(document: Document, where: Where, value: object) -> None:
    at(document, where[:-1])[where[-1]] = value


WRONG_VALUES: list[object] = [None, True, 0, 1.5, "x", [], {}]


DEEP = "deeply nested arrays"  # stands in for them until the text is written


Mutation = Callable[[st.DrawFn, Document], None]


def wrong_type(draw: st.DrawFn, document: Document) -> None:
    places = typed_places(document)
    where = draw(st.sampled_from(sorted(places, key=repr)))
    wrong = [v for v in WRONG_VALUES if type(v) not in places[where]]
    put(document, where, draw(st.sampled_from(wrong)))


def missing_member(draw: st.DrawFn, document: Document) -> None:
    where = draw(st.sampled_from(required_places(document)))
    del at(document, where[:-1])[where[-1]]


def unknown_member(draw: st.DrawFn, document: Document) -> None:
    record = at(document, draw(st.sampled_from(records(document))))
    record[draw(st.sampled_from(["extra", "Name", "", "dumpers_", "x" * 300]))] = 1


def oversized(draw: st.DrawFn, document: Document) -> None:
    choice = draw(st.sampled_from(["name", "iface", "dumpers", "fact", "int", "key", "af"]))
    if choice == "name":
        document["dumpers"].append(
            {"name": "n" * 1025, "compression": "none", "encryption": "none"}
        )
    elif choice == "iface" or (choice == "af" and document["netdump"] is None):
        document["netdump"] = {
            "iface": "i" * 16,
            "server": "10.0.0.1",
            "client": "10.0.0.2",
            "gateway": "10.0.0.1",
            "af": 2,
        }
    elif choice == "af":
        document["netdump"]["af"] = draw(st.sampled_from([28, 3, -1, 2**64]))
    elif choice == "dumpers":
        document["dumpers"] = [{"name": "d", "compression": "none", "encryption": "none"}] * 1025
    elif choice == "fact":
        document["dumpers"].append({"name": "f", "compression": "none", "encryption": "none"})
        document["facts"] = {"f": {"public_key": "k" * 16385}}
    elif choice == "int":
        document["version"] = draw(st.sampled_from([2**70, -(2**70), 0]))
    else:
        key = base64.b64encode(bytes(2049)).decode()
        document["dumpers"].append(
            {"name": "k", "compression": "none", "encryption": "chacha20", "encrypted_key": key}
        )


def deep(draw: st.DrawFn, document: Document) -> None:
    where = draw(st.sampled_from(sorted(typed_places(document), key=repr)))
    put(document, where, DEEP)


def bad_name(draw: st.DrawFn, document: Document) -> None:
    name = draw(st.sampled_from(["%zz", "a%f", "%ff", "sp ace", "\u00e9", "%00", "", "\udcff"]))
    document["dumpers"].append({"name": name, "compression": "none", "encryption": "none"})


MUTATIONS: list[Mutation] = [wrong_type, missing_member, unknown_member, oversized, deep, bad_name]


@st.composite
def corrupt_documents(draw: st.DrawFn) -> str:
    document = draw(documents())
    draw(st.sampled_from(MUTATIONS))(draw, document)
    depth = draw(st.sampled_from([3, 64, 5000, 100_000]))
    return json.dumps(document).replace(json.dumps(DEEP), "[" * depth + "]" * depth)


def dumpon(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, bytes, str]:
    """dumpon in this process: its status, standard output as bytes, standard error."""
    from dumpon.cli import dumpon as command

    out = io.BytesIO()
    monkeypatch.setenv("DUMPON_BACKEND", f"file:{STATE}")
    monkeypatch.setattr(sys, "argv", ["dumpon", *args])
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out, errors="surrogateescape"))
    with pytest.raises(SystemExit) as exited:
        command.main()
    code = exited.value.code
    assert isinstance(code, int)
    sys.stdout.flush()
    return code, out.getvalue(), capsys.readouterr().err


SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(document=documents())
def test_valid_documents_load(
    document: Document, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    content = json.dumps(document)
    STATE.write_text(content)
    code, out, err = dumpon(["-l"], capsys, monkeypatch)
    assert (code, err) == (0, "")
    # -l prints the kernel's bytes of each name, as FreeBSD's does
    entries = document["dumpers"]
    if document.get("freebsd12") is not None:  # a 12.x kernel: its one dumper
        entries = [d for d in [document["freebsd12"]["dumper"]] if d is not None]
    listed = b",".join(unescaped(entry["name"]) for entry in entries)
    assert out == (listed or b"/dev/null") + b"\n"
    assert STATE.read_text() == content


@SETTINGS
@given(content=corrupt_documents())
def test_mutated_documents_are_corrupt_and_untouched(
    content: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    STATE.write_text(content)
    written = STATE.read_bytes()
    for args in (["-l"], ["-lv"], ["off"]):
        code, _, err = dumpon(args, capsys, monkeypatch)
        assert code == 72, (args, err)
        assert err.startswith(f"dumpon: {STATE}: ") and err.count("\n") == 1, err
        assert STATE.read_bytes() == written
