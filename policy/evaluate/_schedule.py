"""What a policy can wait, without deciding: ``Schedule``, ``Envelope``, ``WorstCase``.

``Policy.schedule(outcome)`` and ``Policy.worst_case()`` answer questions about every
call at once (``policy explain``, lint, the plot), so they work on the compiled steps'
bounds rather than by running ``decide``: the envelope of a retry is the lowest and
highest delay its jitter can draw, computed by the same arithmetic (``window``).  Limits
go up to 10⁶, so a schedule is a lazy sequence computed when read, and the worst case is
a small optimisation over positions rather than a walk over retries.  Nothing here is on
a decision's path.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import overload

from ..language._outcomes import Envelope, WorstCase
from ._steps import (
    BACKOFF,
    HEADERS,
    J_DECORRELATED,
    J_EQUAL,
    J_FULL,
    J_NONE,
    J_SCALE,
    NEVER,
    NEVER_CAPS,
    HeaderStep,
    first_cap,
    window,
)
from ._tables import Entry, Step

__all__ = ["Envelope", "Schedule", "WorstCase"]


class _Segment:
    """The retries one position grants, with the envelope of each, computed on demand."""

    __slots__ = ("_bounds", "cap", "count", "n3", "step")

    def __init__(self, step: Step, count: int) -> None:
        self.step = step
        self.count = count
        # The upper bounds rise over the first ``cap`` retries and are constant after.
        self.n3 = 0
        if step[0] == BACKOFF:
            low, high, _factor, n_cap, jitter = step[3:8]
            self.n3 = first_cap(low, high, 3.0)
            self.cap = self.n3 - 1 if jitter == J_DECORRELATED else n_cap
        else:
            self.cap = 0
        if self.cap >= NEVER_CAPS:
            self.cap = 0  # factor 1 or min 0: the bounds never change
        self.cap = max(0, min(self.cap, count))
        self._bounds: list[float] | None = None

    @classmethod
    def of(cls, step: Step) -> _Segment:
        return cls(step, step[2])

    def envelope(self, n: int) -> Envelope:
        """The [lowest, highest] delay of this position's retry ``n`` (0-based)."""
        step = self.step
        if step[0] == HEADERS:
            hs: HeaderStep = step[3]
            return Envelope(0.0, hs.max_s + hs.jitter_s)
        low, high, factor, n_cap, jitter = step[3:8]
        base = high if n >= n_cap else min(high, low * factor**n)
        if jitter == J_NONE:
            return Envelope(base, base)
        if jitter in (J_FULL, J_EQUAL):
            return Envelope(*window(base, low, high, jitter))
        if jitter == J_SCALE:
            return Envelope(base, min(high, 2 * base))
        # decorrelated: u_n = min(max, 3·u_{n-1}), u_{-1} = min, so u_n = min(max, min·3ⁿ⁺¹)
        if low <= 0.0:
            return Envelope(low, low)  # every draw is 0·r: prev never grows
        upper = high if n + 1 >= self.n3 else min(high, low * 3.0 ** (n + 1))
        return Envelope(low, upper)

    def upper(self, n: int) -> float:
        """The highest wait retry ``n`` can actually get (headers: at most ``max``)."""
        if self.step[0] == HEADERS:
            return float(self.step[3].max_s)
        return self.envelope(n).max

    def total(self, k: int) -> float:
        """The sum of the upper bounds of retries ``0..k-1``."""
        if self._bounds is None:
            acc = 0.0
            sums = [0.0]
            for n in range(self.cap):
                acc += self.upper(n)
                sums.append(acc)
            self._bounds = sums
        sums = self._bounds
        if k <= self.cap:
            return sums[k]
        return sums[self.cap] + (k - self.cap) * self.upper(self.cap)


def _best_sum(segments: list[_Segment], k: int) -> float:
    """The largest ``Σ total_i(k_i)`` with ``Σ k_i ≤ k`` and ``k_i ≤ count_i``.

    Each ``total_i`` is convex (its increments never decrease), so an optimum uses at most
    one position partly: try each as the partial one over the subset sums of the others.
    Falls back to an upper bound (every position's full total) if the subsets explode.
    """
    full = [(s.count, s.total(s.count)) for s in segments]
    if k >= sum(c for c, _ in full):
        return sum(v for _, v in full)
    best = 0.0
    for j, part in enumerate([None, *segments]):
        # Subset sums (retries used → best wait) of the fully used positions.
        sums: dict[int, float] = {0: 0.0}
        for idx, (count, value) in enumerate(full):
            if idx == j - 1:
                continue
            for used, got in list(sums.items()):
                u = used + count
                if u <= k and sums.get(u, -1.0) < got + value:
                    sums[u] = got + value
            if len(sums) > 100_000:
                return sum(v for _, v in full)
        for used, got in sums.items():
            extra = 0.0 if part is None else part.total(min(part.count, k - used))
            best = max(best, got + extra)
    return best


class Schedule(Sequence[Envelope]):
    """The envelope of each retry one outcome can get: an immutable, lazy sequence.

    Limits go up to 10⁶, so entries are computed when asked for, never stored.
    """

    __slots__ = ("_len", "_segments", "_starts")

    def __init__(self, segments: tuple[_Segment, ...], attempts: int | None = None) -> None:
        self._segments = segments
        starts = []
        total = 0
        for s in segments:
            starts.append(total)
            total += s.count
        self._starts = tuple(starts)
        self._len = total if attempts is None else min(total, attempts - 1)

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Envelope: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Envelope]: ...

    def __getitem__(self, index: int | slice) -> Envelope | Sequence[Envelope]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("schedule index out of range")
        s = bisect.bisect_right(self._starts, index) - 1
        return self._segments[s].envelope(index - self._starts[s])

    def __iter__(self) -> Iterator[Envelope]:
        left = self._len
        for seg in self._segments:
            for n in range(min(seg.count, left)):
                yield seg.envelope(n)
            left -= seg.count
            if left <= 0:
                return

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(f"{e.min:g}..{e.max:g}" for e in self[:3])
        more = ", ..." if self._len > 3 else ""
        return f"Schedule([{head}{more}], len={self._len})"


def schedule_of(entry: Entry | None, attempts: int | None) -> Schedule:
    """The delay envelope of each retry the rule of ``entry`` can grant, in order."""
    if entry is None:
        return Schedule(())
    segments: list[_Segment] = []
    for step in entry[1]:
        if step[0] == NEVER:
            break
        if step[2] > 0:
            segments.append(_Segment.of(step))
    return Schedule(tuple(segments), attempts)


def worst_case_of(steps: list[Step], attempts: int | None, deadline_s: float) -> WorstCase:
    """The longest total wait and the most requests one call can take, given the steps some
    outcome can reach.

    ``requests = min(1 + Σ limits, attempts)`` over the reachable positions.  ``wait``
    is the largest sum of per-retry upper bounds the retries of one call can collect:
    a position's bounds come in order (retry ``n`` needs retries ``0..n-1`` first) and
    never decrease, so with ``attempts`` capping the retries at ``k`` the best plan
    takes every bound of some positions and a prefix of at most one other (moving a
    retry between two partly used positions towards the one with the larger next
    bound never loses).  Capped by the deadline.  Chain order is not enforced, so for
    a chain under a tight ``attempts`` cap this is an upper bound.
    """
    segments = [_Segment.of(step) for step in steps]
    total_limit = sum(s.count for s in segments)
    requests = 1 + total_limit
    k = total_limit
    if attempts is not None:
        requests = min(requests, attempts)
        k = min(k, attempts - 1)
    wait = _best_sum(segments, k)
    return WorstCase(wait=min(wait, deadline_s), requests=requests)
