"""Dataclass-like records that cost nothing at start-up.

`dataclasses` writes each class's methods as source text and compiles it: about 1 ms a
class, and `dumpon`'s configure path defines some twenty of them, a third of its start-up
budget.  `Record` gives the same declarations (annotated fields, defaults, `attribute()`
for factories and non-init fields, `frozen=True`, `__post_init__`) with generic methods,
and `typing.dataclass_transform` lets type checkers see the generated `__init__`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, dataclass_transform

_MISSING: Any = object()


class _Field:
    __slots__ = ("compare", "default", "factory", "init")

    def __init__(
        self, default: Any, factory: Callable[[], Any] | None, init: bool, compare: bool
    ) -> None:
        self.default = default
        self.factory = factory
        self.init = init
        self.compare = compare


def attribute(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    init: bool = True,
    compare: bool = True,
    repr: bool = True,
) -> Any:
    """A field with a factory default, or one set by `__post_init__` (`init=False`)."""
    return _Field(default, default_factory, init, compare)


@dataclass_transform(field_specifiers=(attribute,))
class Record:
    """Base class: annotated class attributes become fields, as with @dataclass."""

    _fields: ClassVar[tuple[tuple[str, _Field], ...]] = ()
    _frozen: ClassVar[bool] = False

    def __init_subclass__(cls, *, frozen: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls._fields)
        own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - `inspect` is the slow import
        for name, annotation in own.items():
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, _MISSING)
            if value is not _MISSING:
                delattr(cls, name)
            fields[name] = value if isinstance(value, _Field) else _Field(value, None, True, True)
        cls._fields = tuple(fields.items())
        cls._frozen = frozen or cls._frozen
        if not cls._frozen:
            cls.__hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = [name for name, spec in self._fields if spec.init]
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes {len(names)} arguments")
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in names or name in values:
                raise TypeError(f"{type(self).__name__}() got an unexpected argument {name!r}")
            values[name] = value
        for name, spec in self._fields:
            if name not in values:
                if spec.factory is not None:
                    values[name] = spec.factory()
                elif spec.default is not _MISSING:
                    values[name] = spec.default
                elif spec.init:
                    raise TypeError(f"{type(self).__name__}() is missing {name!r}")
                else:
                    continue
            object.__setattr__(self, name, values[name])
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise AttributeError(f"cannot assign to field {name!r} of a frozen record")
        object.__setattr__(self, name, value)

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name, spec in self._fields if spec.compare)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name, None)!r}" for name, spec in self._fields if spec.init
        )
        return f"{type(self).__name__}({shown})"


R = TypeVar("R", bound=Record)


def replace(record: R, **changes: Any) -> R:
    """A copy of `record` with some fields changed (dataclasses.replace)."""
    values = {name: getattr(record, name) for name, spec in record._fields if spec.init}
    values.update(changes)
    return type(record)(**values)


def as_dict(value: Any) -> Any:
    """Records (also nested, in lists and dicts) as plain dicts (dataclasses.asdict)."""
    if isinstance(value, Record):
        return {name: as_dict(getattr(value, name)) for name, _spec in value._fields}
    if isinstance(value, list | tuple):
        return type(value)(as_dict(item) for item in value)
    if isinstance(value, dict):
        return {key: as_dict(item) for key, item in value.items()}
    return value
