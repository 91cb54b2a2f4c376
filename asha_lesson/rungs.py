"""Rung levels and the rung book shared by every scheduler.

A rung book records the scores trials reached at one resource level (say, validation error after
4 epochs) and answers, in O(log n) for n entries, where a score ranks and which not-yet-promoted
trial is best. Scores are kept so that smaller is better: the scheduler negates them in max mode.
"""

from __future__ import annotations

import math
from typing import Iterator, NamedTuple

from sortedcontainers import SortedList

__all__ = ["rung_levels", "is_promotable", "RungEntry", "RungBook"]


def _positive_int(name: str, value, minimum: int, rule: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{name}={value!r} must be a whole number ({rule})")
    if value < minimum:
        raise ValueError(f"{name}={value!r} breaks the rule {rule}")
    return int(value)


def rung_levels(min_resource: int, max_resource: int, reduction_factor: int) -> list[int]:
    """Resource levels r_k = r_min * eta**k while r_k < r_max, then r_max itself.

    Integer arithmetic throughout: ``math.log(243, 3)`` is 4.999..., which is how peers lose a rung.

    >>> rung_levels(2, 10, 2)
    [2, 4, 8, 10]
    >>> rung_levels(1, 243, 3)
    [1, 3, 9, 27, 81, 243]
    """
    eta = _positive_int("reduction_factor", reduction_factor, 2, "eta >= 2")
    r_min = _positive_int("min_resource", min_resource, 1, "r_min >= 1")
    r_max = _positive_int("max_resource", max_resource, 1, "r_max >= 1")
    if r_min > r_max:
        raise ValueError(f"min_resource={r_min} breaks the rule r_min <= r_max (r_max={r_max})")
    levels = []
    level = r_min
    while level < r_max:
        levels.append(level)
        level *= eta
    levels.append(r_max)
    return levels


def is_promotable(rank: int, num_entries: int, reduction_factor: int) -> bool:
    """True when a score at 0-based ``rank`` among ``num_entries`` is in the top floor(n / eta).

    This is the whole promotion rule of successive halving; it also says that nothing is
    promotable until a rung holds at least eta results.
    """
    return rank < num_entries // reduction_factor


class RungEntry(NamedTuple):
    """One row of a rung book. Sorting by the tuple ranks by score, then tie-break score, then
    by arrival (``seq``), so ties are decided the same way on every run."""

    score: float
    tie_break: float
    seq: int
    trial_id: int


class RungBook:
    """The scores recorded at one rung, and which of them have not yet been promoted."""

    def __init__(self, level: int) -> None:
        self.level = level
        self._entries: SortedList = SortedList()
        self._candidates: SortedList = SortedList()  # entries neither promoted nor withdrawn
        self._by_trial: dict[int, RungEntry] = {}
        self._seq = 0
        # best_promotable's last answer as (eta, trial id or None); any add or withdraw clears it.
        # Promotion-type ASHA asks every rung on every free worker, and most rungs did not change.
        self._best: tuple[int, int | None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, trial_id: int) -> bool:
        return trial_id in self._by_trial

    def __iter__(self) -> Iterator[RungEntry]:
        """Entries from best to worst."""
        return iter(self._entries)

    def add(self, trial_id: int, score: float, tie_break: float = 0.0, *,
            candidate: bool = True) -> int:
        """Record a trial's score (smaller is better) and return its 0-based rank.

        ``candidate=False`` records a score that is never up for promotion: the same as ``add``
        followed at once by :meth:`withdraw`, with one sorted-list update fewer.
        """
        return self._entries.bisect_left(self.record(trial_id, score, tie_break,
                                                     candidate=candidate))

    def record(self, trial_id: int, score: float, tie_break: float = 0.0, *,
               candidate: bool = True) -> RungEntry:
        """:meth:`add` without working out the rank (a positional look-up in the sorted list,
        which schedulers that pause at every rung never need). Returns the new entry."""
        by_trial = self._by_trial
        if trial_id in by_trial:
            raise ValueError(f"trial {trial_id} already has a score at rung {self.level}")
        if math.isnan(score) or math.isnan(tie_break):
            raise ValueError(f"trial {trial_id}: score={score!r} cannot be ranked")
        entry = RungEntry(score, tie_break, self._seq, trial_id)
        self._seq += 1
        self._entries.add(entry)
        if candidate:
            self._candidates.add(entry)
        by_trial[trial_id] = entry
        self._best = None
        return entry

    def rank(self, trial_id: int) -> int:
        return self._entries.bisect_left(self._by_trial[trial_id])

    def score(self, trial_id: int) -> float:
        return self._by_trial[trial_id].score

    def is_candidate(self, trial_id: int) -> bool:
        entry = self._by_trial.get(trial_id)
        return entry is not None and entry in self._candidates

    def best_promotable(self, reduction_factor: int) -> int | None:
        """The best not-yet-promoted trial if it lies in the top floor(n / eta), else None."""
        cached = self._best
        if cached is not None and cached[0] == reduction_factor:
            return cached[1]
        best = None
        if self._candidates:
            entry = self._candidates[0]
            rank = self._entries.bisect_left(entry)
            if is_promotable(rank, len(self._entries), reduction_factor):
                best = entry.trial_id
        self._best = (reduction_factor, best)
        return best

    def top(self, reduction_factor: int) -> list[int]:
        """Trial ids in the top floor(n / eta), best first."""
        k = len(self._entries) // reduction_factor
        return [entry.trial_id for entry in self._entries.islice(0, k)]

    def withdraw(self, trial_id: int) -> None:
        """Take a trial out of the running for promotion (it was promoted, stopped or failed).

        Its score stays in the book: later arrivals are still ranked against it.
        """
        entry = self._by_trial.get(trial_id)
        if entry is not None:
            try:
                self._candidates.remove(entry)  # one search, where a membership test made two
            except ValueError:
                entry = None  # promoted or withdrawn before
        if entry is None:
            raise ValueError(f"trial {trial_id} is not a promotion candidate at rung {self.level}")
        self._best = None

    def candidates(self) -> list[int]:
        return [entry.trial_id for entry in self._candidates]
