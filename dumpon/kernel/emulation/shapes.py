"""Declared shapes of a JSON document: every value checked on the way in and on the way out.

A shape knows one JSON value: `load` checks what `json.loads` produced and converts it to
the program's form, `dump` checks the program's form and converts it back.  Both refuse
anything else (wrong type, unknown or missing member, out of range, too long) with
`Invalid`, naming where in the document the fault is.  The shapes nest only as deep as
the schema built from them, so a checked document is bounded in depth and size.

Plain classes with __slots__, not dataclasses: they are built at every start of dumpon,
where a dozen dataclasses cost several milliseconds.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Invalid(ValueError):
    """A value that does not fit its shape; `where` is its place, as `dumpers[2].name`."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)


class Shape(Protocol):
    def load(self, value: object, where: str) -> Any: ...

    def dump(self, value: Any, where: str) -> Any: ...


def _kind(value: object) -> str:
    """A JSON type name for messages ("a number", "an object", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _typed(value: object, kind: type[T], where: str, wanted: str) -> T:
    """`value` if it has JSON type `kind` (a boolean is not an integer here)."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Invalid(where, f"{_kind(value)} where {wanted} belongs")
    return value


def _within(number: int, low: int, high: int, where: str, unit: str = "") -> None:
    if not low <= number <= high:
        raise Invalid(where, f"{number}{unit} is outside {low}..{high}")


class Boolean:
    __slots__ = ()

    def load(self, value: object, where: str) -> bool:
        return _typed(value, bool, where, "true or false")

    dump = load  # the JSON form is the program's form


class Integer:
    __slots__ = ("high", "low")

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high

    def load(self, value: object, where: str) -> int:
        value = _typed(value, int, where, "an integer")
        _within(value, self.low, self.high, where)
        return value

    dump = load  # the JSON form is the program's form


class Text:
    """A string of at most `longest` characters, matching `pattern` or one of `choices`."""

    __slots__ = ("choices", "longest", "pattern")

    def __init__(
        self, longest: int, pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = ()
    ) -> None:
        self.longest = longest
        self.pattern = pattern
        self.choices = choices

    def load(self, value: object, where: str) -> str:
        value = _typed(value, str, where, "a string")
        if len(value) > self.longest:
            raise Invalid(where, f"a string of {len(value)} characters, over {self.longest}")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise Invalid(where, "a string with a lone surrogate") from None
        if self.choices and value not in self.choices:
            raise Invalid(where, f"{value!r} is not one of {', '.join(self.choices)}")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise Invalid(where, f"{value!r} is not of the expected form")
        return value

    dump = load  # the JSON form is the program's form


# Kept as they are in the file: every printable ASCII character but the escape itself.
_PLAIN = frozenset(range(0x21, 0x7F)) - {ord("%")}
_ESCAPED = re.compile(r"(?:[\x21-\x24\x26-\x7e]|%[0-9A-F]{2})*")


def escape_name(raw: bytes) -> str:
    """A kernel name's bytes in the file's form: `%XX` for `%` and bytes outside 0x21-0x7e."""
    return "".join(chr(b) if b in _PLAIN else f"%{b:02X}" for b in raw)


def unescape_name(text: str) -> bytes:
    """The inverse of `escape_name` for a string matching its output."""
    return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]), text.encode("ascii"))


class Name:
    """A kernel name (device or interface) of 1 to `longest` bytes, NUL-free.

    In the program it is text decoded from the kernel's bytes with surrogateescape (as
    os and argv give it); in the file it is those bytes escaped by `escape_name`, so that
    a name that is not UTF-8 is stored exactly and every JSON reader can read it.
    """

    __slots__ = ("longest",)

    def __init__(self, longest: int) -> None:
        self.longest = longest

    def load(self, value: object, where: str) -> str:
        value = _typed(value, str, where, "a name")
        if len(value) > 3 * self.longest or not _ESCAPED.fullmatch(value):
            raise Invalid(where, f"{value[:64]!r} is not an escaped name")
        return self._checked(unescape_name(value), where).decode("utf-8", "surrogateescape")

    def dump(self, value: Any, where: str) -> str:
        value = _typed(value, str, where, "a name")
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise Invalid(where, f"{value!r} is not a name a kernel can hold") from None
        return escape_name(self._checked(raw, where))

    def _checked(self, raw: bytes, where: str) -> bytes:
        if not 0 < len(raw) <= self.longest or b"\0" in raw:
            raise Invalid(where, f"a name must be 1 to {self.longest} bytes without NUL")
        return raw


class Base64:
    """Base64 text of `shortest` to `longest` bytes (kept as text in the program)."""

    __slots__ = ("longest", "shortest")

    def __init__(self, shortest: int, longest: int) -> None:
        self.shortest = shortest
        self.longest = longest

    def load(self, value: object, where: str) -> str:
        value = _typed(value, str, where, "base64 text")
        if len(value) > 4 * (self.longest + 2) // 3:
            raise Invalid(where, f"base64 text of {len(value)} characters is too long")
        try:
            size = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise Invalid(where, "not base64 text") from None
        _within(size, self.shortest, self.longest, where, " bytes")
        return value

    dump = load  # the JSON form is the program's form


class Nullable:
    __slots__ = ("shape",)

    def __init__(self, shape: Shape) -> None:
        self.shape = shape

    def load(self, value: object, where: str) -> Any:
        return None if value is None else self.shape.load(value, where)

    def dump(self, value: Any, where: str) -> Any:
        return None if value is None else self.shape.dump(value, where)


class AnyOf:
    """The first of `shapes` that takes the value (shapes of distinct JSON types)."""

    __slots__ = ("shapes", "wanted")

    def __init__(self, shapes: tuple[Shape, ...], wanted: str) -> None:
        self.shapes = shapes
        self.wanted = wanted

    def load(self, value: object, where: str) -> Any:
        return self._first(value, where, lambda shape: shape.load)

    def dump(self, value: Any, where: str) -> Any:
        return self._first(value, where, lambda shape: shape.dump)

    def _first(self, value: object, where: str, way: Callable[[Shape], Any]) -> Any:
        faults = []
        for shape in self.shapes:
            try:
                return way(shape)(value, where)
            except Invalid as exc:
                faults.append(str(exc))
        raise Invalid(where, f"not {self.wanted} ({'; '.join(faults)})")


class ListOf:
    __slots__ = ("item", "most")

    def __init__(self, item: Shape, most: int) -> None:
        self.item = item
        self.most = most

    def load(self, value: object, where: str) -> list[Any]:
        return self._each(value, where, self.item.load)

    def dump(self, value: Any, where: str) -> list[Any]:
        return self._each(value, where, self.item.dump)

    def _each(self, value: object, where: str, way: Callable[[Any, str], Any]) -> list[Any]:
        value = _typed(value, list, where, "an array")
        if len(value) > self.most:
            raise Invalid(where, f"{len(value)} entries, over {self.most}")
        return [way(item, f"{where}[{n}]") for n, item in enumerate(value)]


class MapOf:
    """An object with any keys of shape `key` (a string shape) and values of `value`."""

    __slots__ = ("key", "most", "value")

    def __init__(self, key: Shape, value: Shape, most: int) -> None:
        self.key = key
        self.value = value
        self.most = most

    def load(self, value: object, where: str) -> dict[Any, Any]:
        return self._each(value, where, self.key.load, self.value.load)

    def dump(self, value: Any, where: str) -> dict[Any, Any]:
        return self._each(value, where, self.key.dump, self.value.dump)

    def _each(
        self,
        value: object,
        where: str,
        key_way: Callable[[Any, str], Any],
        value_way: Callable[[Any, str], Any],
    ) -> dict[Any, Any]:
        value = _typed(value, dict, where, "an object")
        if len(value) > self.most:
            raise Invalid(where, f"{len(value)} members, over {self.most}")
        out = {}
        for key, item in value.items():
            place = f"{where}[{key!r}]"
            out[key_way(key, place)] = value_way(item, place)
        return out


class Member:
    """One member of a `Record`.

    With a `default` (a factory) the member is optional: absent on load, it takes the
    default; equal to the default on dump, it is left out of the file.
    """

    __slots__ = ("default", "name", "shape")

    def __init__(self, name: str, shape: Shape, default: Callable[[], Any] | None = None) -> None:
        self.name = name
        self.shape = shape
        self.default = default


class Record:
    """An object with exactly the declared members; `check` sees the loaded whole."""

    __slots__ = ("_by_name", "check", "members")

    def __init__(
        self,
        members: tuple[Member, ...],
        check: Callable[[Mapping[str, Any], str], None] | None = None,
    ) -> None:
        self.members = members
        self.check = check
        self._by_name = {member.name: member for member in members}

    def load(self, value: object, where: str) -> dict[str, Any]:
        out = self._each(value, where, lambda shape: shape.load)
        for member in self.members:
            if member.name not in out and member.default is not None:
                out[member.name] = member.default()
        if self.check is not None:
            self.check(out, where)
        return out

    def dump(self, value: Any, where: str) -> dict[str, Any]:
        out = self._each(value, where, lambda shape: shape.dump)
        if self.check is not None:
            self.check(value, where)
        for member in self.members:
            if member.default is not None and value.get(member.name) == member.default():
                out.pop(member.name, None)
        return out

    def _each(self, value: object, where: str, way: Callable[[Shape], Any]) -> dict[str, Any]:
        value = _typed(value, dict, where, "an object")
        unknown = [key for key in value if key not in self._by_name]
        if unknown:
            raise Invalid(where, f"unknown member {str(unknown[0])[:64]!r}")
        out: dict[str, Any] = {}
        for member in self.members:
            place = f"{where}.{member.name}" if where else member.name
            if member.name in value:
                out[member.name] = way(member.shape)(value[member.name], place)
            elif member.default is None:
                raise Invalid(place, "missing")
        return out
