"""A set of byte ranges: which parts of a file have arrived, and which are still missing."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator


class RangeSet:
    """Disjoint, sorted half-open ranges [start, end).  Adding in ascending order (how a dump
    arrives) costs O(1); anything else a bisection and a list splice."""

    __slots__ = ("_ends", "_starts", "total")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self.total = 0  # bytes covered

    def add(self, start: int, end: int) -> int:
        """Cover [start, end); the number of bytes that were not covered before."""
        if end <= start:
            return 0
        starts, ends = self._starts, self._ends
        if ends and start == ends[-1]:  # the next piece of a dump sent in order
            ends[-1] = end
            self.total += end - start
            return end - start
        if not starts or start > ends[-1]:
            starts.append(start)
            ends.append(end)
            self.total += end - start
            return end - start
        # Ranges touching or overlapping [start, end) are merged into one.
        first = bisect_left(ends, start)
        last = bisect_right(starts, end)
        if first == last:
            starts.insert(first, start)
            ends.insert(first, end)
            self.total += end - start
            return end - start
        merged_start = min(start, starts[first])
        merged_end = max(end, ends[last - 1])
        before = sum(ends[i] - starts[i] for i in range(first, last))
        starts[first:last] = [merged_start]
        ends[first:last] = [merged_end]
        added = (merged_end - merged_start) - before
        self.total += added
        return added

    def covers(self, start: int, end: int) -> bool:
        """Whether every byte of [start, end) is covered."""
        if end <= start:
            return True
        index = bisect_right(self._starts, start) - 1
        return index >= 0 and self._ends[index] >= end

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self._starts, self._ends, strict=True)

    def __len__(self) -> int:
        return len(self._starts)

    def holes(self, limit: int) -> list[tuple[int, int]]:
        """The uncovered ranges inside [0, limit)."""
        gaps: list[tuple[int, int]] = []
        position = 0
        for start, end in self:
            if start >= limit:
                break
            if start > position:
                gaps.append((position, start))
            position = max(position, end)
        if position < limit:
            gaps.append((position, limit))
        return gaps
