"""FreeBSD inet_aton grammar: spec examples, generated addresses, and glibc as a peer."""

from __future__ import annotations

import re
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dumpon import inet

SPEC_EXAMPLES = {
    "10.0.0.1": "10.0.0.1",
    "10.1": "10.0.0.1",
    "10.1.2": "10.1.0.2",
    "1.2.65535": "1.2.255.255",
    "167772161": "10.0.0.1",
    "012.0.0.1": "10.0.0.1",
    "0x0A.0.0.1": "10.0.0.1",
    "08.0.0.1": None,
    "1.2.3.4 junk": "1.2.3.4",
    "1.2.3.4\n": "1.2.3.4",
    " 1.2.3.4": None,
    "1.2.3.256": None,
    "1.2.3.4.5": None,
    "1..2": None,
    "1.2.3.": None,
    "0x": None,
    "": None,
    "0x.0.0.1": "0.0.0.1",
    "4294967296": "0.0.0.0",
    "1.2.3.4x": None,
    "09": None,
    "0XfF.1": "255.0.0.1",
}


@pytest.mark.parametrize(("text", "expected"), SPEC_EXAMPLES.items())
def test_spec_examples(text: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            inet.parse(text)
    else:
        assert inet.parse(text) == expected


def render(value: int, base: str) -> str:
    if base == "oct":
        return "0" + format(value, "o")
    if base == "hex":
        return "0x" + format(value, "x")
    return str(value)


bases = st.sampled_from(["dec", "oct", "hex"])


@given(
    st.lists(st.integers(0, 255), min_size=4, max_size=4), st.lists(bases, min_size=4, max_size=4)
)
def test_four_parts_any_base(octets: list[int], chosen: list[str]) -> None:
    text = ".".join(render(v, b) for v, b in zip(octets, chosen, strict=True))
    assert inet.parse(text) == ".".join(map(str, octets))


@given(st.integers(0, 255), st.integers(0, 0xFFFFFF), bases, bases)
def test_two_parts_fill_24_bits(first: int, rest: int, b1: str, b2: str) -> None:
    packed = inet.parse_packed(f"{render(first, b1)}.{render(rest, b2)}")
    assert packed == ((first << 24) | rest).to_bytes(4, "big")


@given(st.integers(0, 2**70))
def test_one_part_truncates_to_32_bits(value: int) -> None:
    wrapped = value & 0xFFFFFFFFFFFFFFFF  # libc's unsigned long wraps first
    assert inet.parse_packed(str(value)) == (wrapped & 0xFFFFFFFF).to_bytes(4, "big")


def glibc(text: str) -> bytes | None:
    try:
        return socket.inet_aton(text)
    except (OSError, ValueError):
        return None


def one_part_value(head: str) -> int | None:
    for pattern, base in ((r"0[xX][0-9a-fA-F]+", 16), (r"0[0-7]*", 8), (r"[1-9][0-9]*", 10)):
        if re.fullmatch(pattern, head):
            return int(head, base)
    return None


def known_difference(text: str) -> bool:
    """The two documented places where FreeBSD and glibc disagree (spec dumpon.md §6):
    an empty hexadecimal part before a dot, and a one-part address of 2**32 or more."""
    head = re.split(r"[ \t\n]", text, maxsplit=1)[0]
    if re.search(r"(^|\.)0[xX]\.", head):
        return True
    value = one_part_value(head)
    return value is not None and value >= 2**32


@given(st.text(alphabet="0123456789xXabcdefABCDEF. \t\n", max_size=24))
def test_agrees_with_glibc_outside_known_differences(text: str) -> None:
    if "\0" in text or known_difference(text):
        return
    try:
        ours: bytes | None = inet.parse_packed(text)
    except ValueError:
        ours = None
    assert ours == glibc(text)
