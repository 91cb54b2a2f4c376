"""Rung books rebuilt from the event log, event by event.

The scheduler keeps its own books to decide; views rebuild them from events so that the same
picture can be drawn live, during a run, and afterwards from disk, at any moment in the run.
The rules mirror the scheduler's: a trial enters a rung at its first valid report at or above the
rung's level, scores are ranked smaller-is-better (negated in max mode), ties by tie-break metric
then by arrival.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .events import Event, EventKind

__all__ = ["BookEntry", "RungBooks"]


@dataclass
class BookEntry:
    trial_id: int
    value: float  # the metric as reported
    score: tuple  # what ranks it: (signed value, signed tie-break, arrival)
    time: float  # when it entered the rung
    status: str  # paused, promoted, continued (stopping variant), stopped, finished (at r_max)


@dataclass
class _TrialView:
    levels: list[int]
    key_prefix: tuple
    next_rung: int = 0
    resource: int = 0
    last_level: int | None = None
    failed: bool = False


@dataclass
class RungBooks:
    """Feed events with :meth:`apply`; read books with :meth:`book` and :meth:`keys`."""

    metadata: dict
    books: dict = field(default_factory=dict)  # (cohort, bracket, level) -> {trial_id: entry}
    _trials: dict = field(default_factory=dict)
    _seq: int = 0

    @classmethod
    def from_events(cls, events, until: float | None = None) -> "RungBooks":
        events = list(events)
        if not events or events[0].kind is not EventKind.RUN_STARTED:
            raise ValueError("an event log starts with a run_started event holding the metadata")
        books = cls(events[0].data)
        for event in events:
            if until is not None and event.time > until:
                break
            books.apply(event)
        return books

    @property
    def reduction_factor(self) -> int:
        return int(self.metadata["reduction_factor"])

    def apply(self, event: Event) -> None:
        kind = event.kind
        if kind is EventKind.TRIAL_STARTED:
            data = event.data or {}
            bracket, cohort = data.get("bracket", 0), data.get("cohort", 0)
            levels = self.metadata["rung_levels"][bracket:]
            self._trials[event.trial_id] = _TrialView(levels, (cohort, bracket))
        elif kind is EventKind.REPORTED:
            self._on_report(event)
        elif kind in (EventKind.PROMOTED, EventKind.STOPPED):
            # A promotion, or synchronous SH stopping a trial that waited paused at a rung.
            view = self._trials.get(event.trial_id)
            if view is None or view.last_level is None:
                return
            entry = self.books[view.key_prefix + (view.last_level,)].get(event.trial_id)
            if entry is not None and entry.status == "paused":
                entry.status = "promoted" if kind is EventKind.PROMOTED else "stopped"

    def _on_report(self, event: Event) -> None:
        view = self._trials.get(event.trial_id)
        if view is None:
            return
        metric, mode = self.metadata["metric"], self.metadata["mode"]
        metrics = event.data["metrics"]
        value, resource = metrics.get(metric), event.resource
        if not isinstance(value, (int, float)) or not math.isfinite(value) or resource is None \
                or resource <= view.resource:
            return  # the scheduler failed this trial: it never entered a book
        view.resource = resource
        if view.next_rung >= len(view.levels) or resource < view.levels[view.next_rung]:
            return
        level = view.levels[view.next_rung]
        view.next_rung += 1
        view.last_level = level
        sign = 1.0 if mode == "min" else -1.0
        tie_name = self.metadata.get("tie_break_metric")
        tie = metrics.get(tie_name) if tie_name else 0.0
        tie = sign * tie if isinstance(tie, (int, float)) and math.isfinite(tie) else math.inf
        if not tie_name:
            tie = 0.0
        decision = event.data.get("decision")
        status = {"pause": "paused", "stop": "stopped", "continue": "continued"}[decision]
        if level >= self.metadata["max_resource"]:
            status = "finished"
        self._seq += 1
        key = view.key_prefix + (level,)
        self.books.setdefault(key, {})[event.trial_id] = BookEntry(
            event.trial_id, float(value), (sign * value, tie, self._seq), event.time, status)

    def keys(self) -> list[tuple]:
        """(cohort, bracket, level) of every book, in order."""
        return sorted(self.books)

    def entry_of(self, trial_id: int) -> tuple[tuple, BookEntry] | None:
        """The key (cohort, bracket, level) and entry of the highest rung ``trial_id`` has
        entered, or None before it entered any (views use it to tell what an event changed)."""
        view = self._trials.get(trial_id)
        if view is None or view.last_level is None:
            return None
        key = view.key_prefix + (view.last_level,)
        return key, self.books[key][trial_id]

    def levels(self, bracket: int = 0) -> list[int]:
        return self.metadata["rung_levels"][bracket:]

    def latest_cohort(self) -> int:
        return max((key[0] for key in self.books), default=0)

    def book(self, level: int, bracket: int = 0, cohort: int | None = None) -> list[BookEntry]:
        """Entries at ``level`` from best to worst (empty if none yet)."""
        if cohort is None:
            cohort = self.latest_cohort()
        entries = self.books.get((cohort, bracket, level), {})
        return sorted(entries.values(), key=lambda e: e.score)

    def top_count(self, level: int, bracket: int = 0, cohort: int | None = None) -> int:
        """floor(n / eta): how many of the book's entries the promotion rule keeps."""
        return len(self.book(level, bracket, cohort)) // self.reduction_factor
