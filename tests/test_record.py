"""dumpon.record: the dataclass-like base that generates no code."""

from __future__ import annotations

import pytest

from dumpon.record import Record, as_dict, attribute, replace


class Point(Record, frozen=True):
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


class Box(Record):
    items: list[int] = attribute(default_factory=list)
    size: int = attribute(init=False, compare=False)

    def __post_init__(self) -> None:
        self.size = len(self.items)


def test_init_defaults_equality_hash() -> None:
    assert Point(1) == Point(x=1, y=0) != Point(1, 2)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=())"
    assert Point(1) != (1, 0, ())


def test_frozen_and_mutable() -> None:
    with pytest.raises(AttributeError):
        Point(1).x = 2  # type: ignore[misc]
    box = Box()
    box.items.append(3)
    assert Box().items == [] and box.items == [3]
    with pytest.raises(TypeError):
        hash(box)


def test_post_init_and_non_init_fields() -> None:
    assert Box([1, 2]).size == 2
    assert Box([1]) == Box([1])  # size is not compared, items are


@pytest.mark.parametrize(
    "call",
    [lambda: Point(), lambda: Point(1, 2, (), 4), lambda: Point(1, z=3), lambda: Point(1, x=1)],
)
def test_bad_arguments(call: object) -> None:
    with pytest.raises(TypeError):
        call()  # type: ignore[operator]


def test_replace_and_as_dict() -> None:
    assert replace(Point(1, 2), y=5) == Point(1, 5)
    assert as_dict([Point(1, tags=("a",)), {"k": Box([7])}]) == [
        {"x": 1, "y": 0, "tags": ("a",)},
        {"k": {"items": [7], "size": 1}},
    ]
