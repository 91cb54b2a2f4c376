"""The rung books' view-model: plain data a renderer turns into HTML, with no widget in sight.

:class:`BookModel` wraps :class:`~asha_lesson.rung_replay.RungBooks` (which ranks the entries the
way the scheduler does) and remembers two things the books alone do not say:

* which entries changed most recently (a trial entering a rung, a trial promoted or stopped), so
  that a view can highlight "what just happened" and a promotion visibly moves a trial up;
* which trials are training toward each rung right now ("on the way"), so that a promoted trial
  shows up at the next rung the moment it leaves its rung, before it has a score there.

Everything depends only on the sequence of events, never on when a view happened to redraw: fed
live or replayed, the same events give the same :class:`BooksFrame`.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

from ..events import Event, EventKind
from ..rung_replay import RungBooks

__all__ = ["STATUSES", "Row", "Column", "BooksFrame", "BookModel"]

# Every status an entry can have, in legend order (see rung_replay.BookEntry).
STATUSES = ("paused", "promoted", "continued", "stopped", "finished")

_LONG_FLOAT = re.compile(r"\d+\.\d{5,}")  # 11.771568680256685 reads better as 11.77
_ENDED = (EventKind.PAUSED, EventKind.STOPPED, EventKind.COMPLETED, EventKind.FAILED)


@dataclass(frozen=True)
class Row:
    rank: int  # 1-based, in the whole book
    trial_id: int
    value: float  # the metric as reported
    status: str  # one of STATUSES
    in_top: bool  # among the best floor(n / eta) of the book
    age: int | None  # 0: the latest change anywhere in the books; None: not a recent change
    change: str  # what that recent change was: "new", "promoted", "stopped", ... ("" if none)
    promoted_to: int | None  # the rung a promoted entry went on to


@dataclass(frozen=True)
class Column:
    """One rung's book as shown: the best ``max_rows`` entries, then any recent change below."""

    level: int
    n: int
    top_count: int  # floor(n / eta)
    is_last: bool  # r_max: nothing is promoted from here
    rows: tuple[Row, ...]
    hidden: int  # entries not shown
    hidden_statuses: tuple[tuple[str, int], ...]  # their statuses, counted
    cut_after: int  # show the "..." gap after this many rows (rows after it are recent changes)
    incoming: tuple[tuple[int, int | None], ...]  # (trial_id, rung it left) training toward here


@dataclass(frozen=True)
class BooksFrame:
    """Everything a rung-books view draws at one moment of a run."""

    started: bool
    scheduler: str
    metric: str
    mode: str
    resource_attr: str  # what the rung levels count ("epoch")
    eta: int
    bracket: int
    cohort: int
    columns: tuple[Column, ...]
    time: float  # seconds since the start, of the last event applied
    n_events: int
    caption: str  # the last change, in words
    ended: bool


class BookModel:
    """Rung books rebuilt from events, plus what changed recently and who is on the way.

    Args:
        metadata: the run's metadata (the ``run_started`` event's data); when None, it is taken
            from the first event applied, which must then be ``run_started``.
        recent: how many of the latest book changes count as "recent" (highlighted).
    """

    def __init__(self, metadata: dict | None = None, *, recent: int = 3) -> None:
        if isinstance(recent, bool) or not isinstance(recent, int) or recent < 0:
            raise ValueError(f"recent={recent!r} must be an integer >= 0")
        self.recent = recent
        self.books: RungBooks | None = RungBooks(metadata) if metadata is not None else None
        self.n_events = 0
        self.n_changes = 0  # book changes so far: a view redraws only when this moves
        self.time = 0.0
        self.ended = False
        self.caption = ""
        self._changes: deque = deque(maxlen=max(recent, 1))  # (key, trial_id, change, number)
        self._prefix: dict[int, tuple[int, int]] = {}  # trial_id -> (cohort, bracket)
        self._heading: dict[int, tuple[tuple, int | None]] = {}  # trial_id -> (key, from level)

    @classmethod
    def from_events(cls, events, *, recent: int = 3) -> "BookModel":
        model = cls(recent=recent)
        for event in events:
            model.apply(event)
        return model

    @property
    def metadata(self) -> dict | None:
        return self.books.metadata if self.books is not None else None

    # -- feeding -------------------------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Take one event; return True when the books (or who is on the way) changed."""
        self.n_events += 1
        self.time = event.time
        kind = event.kind
        if self.books is None:
            if kind is not EventKind.RUN_STARTED:
                raise ValueError(f"the first event must be run_started (got {kind.value}), or "
                                 "give BookModel the run's metadata")
            self.books = RungBooks(event.data)
            return True
        if kind is EventKind.RUN_STARTED:
            return False
        if kind is EventKind.RUN_ENDED:
            self.ended = True
            self._heading.clear()
            reason = _LONG_FLOAT.sub(lambda m: f"{float(m.group()):.4g}",
                                     str((event.data or {}).get("reason", "")))
            self.caption = f"the run ended: {reason}"
            return True
        tid = event.trial_id
        before = self._state(tid)
        self.books.apply(event)
        after = self._state(tid)
        changed = self._track_heading(event)
        if after != before:
            key, status = after
            if before is None or before[0] != key:
                self._note(key, tid, "new",
                           f"trial {tid} entered rung {key[2]} ({self._value(key, tid)}), {status}")
            else:
                self._note(key, tid, status, self._status_caption(event, key, status))
            changed = True
        return changed

    def _state(self, trial_id: int | None) -> tuple[tuple, str] | None:
        if trial_id is None:
            return None
        found = self.books.entry_of(trial_id)
        return None if found is None else (found[0], found[1].status)

    def _value(self, key: tuple, trial_id: int) -> str:
        return f"{self.books.metadata['metric']} {self.books.books[key][trial_id].value:.4g}"

    def _status_caption(self, event: Event, key: tuple, status: str) -> str:
        tid, level = event.trial_id, key[2]
        if status == "promoted":
            to = (event.data or {}).get("to")
            return f"trial {tid} promoted from rung {level} to rung {to}"
        if status == "stopped":
            reason = (event.data or {}).get("reason")
            return f"trial {tid} stopped at rung {level}" + (f": {reason}" if reason else "")
        return f"trial {tid} at rung {level}: {status}"

    def _note(self, key: tuple, trial_id: int, change: str, caption: str) -> None:
        self.n_changes += 1
        self._changes.append((key, trial_id, change, self.n_changes))
        self.caption = caption

    def _track_heading(self, event: Event) -> bool:
        """Keep ``_heading``: the rung each training trial is on its way to."""
        kind, tid, data = event.kind, event.trial_id, event.data or {}
        metadata = self.books.metadata
        if kind is EventKind.TRIAL_STARTED:
            cohort, bracket = data.get("cohort", 0), data.get("bracket", 0)
            self._prefix[tid] = (cohort, bracket)
            first = metadata["rung_levels"][bracket]
            self._heading[tid] = ((cohort, bracket, first), None)
            return True
        if kind is EventKind.PROMOTED and tid in self._prefix:
            self._heading[tid] = (self._prefix[tid] + (data.get("to"),), event.resource)
            return True
        if kind is EventKind.REPORTED:
            heading = self._heading.get(tid)
            found = self.books.entry_of(tid)
            if heading is None or found is None or found[0] != heading[0]:
                return False
            del self._heading[tid]  # it arrived
            key, entry = found
            if entry.status == "continued":  # stopping variant: it trains on to the next rung
                levels = metadata["rung_levels"][key[1]:]
                nxt = levels.index(key[2]) + 1
                if nxt < len(levels):
                    self._heading[tid] = (key[:2] + (levels[nxt],), key[2])
            return True
        if kind in _ENDED and tid in self._heading:
            del self._heading[tid]
            return True
        return False

    # -- reading -------------------------------------------------------------------------------

    def frame(self, *, max_rows: int = 15, bracket: int = 0,
              cohort: int | None = None) -> BooksFrame:
        """The books of one bracket (and, for synchronous SH, one cohort: by default the
        latest) as plain data; at most ``max_rows`` entries per rung plus recent changes."""
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
            raise ValueError(f"max_rows={max_rows!r} must be an integer >= 1")
        books = self.books
        if books is None:
            return BooksFrame(False, "", "", "min", "", 0, bracket, 0, (), self.time, self.n_events,
                              "waiting for the run to start", False)
        metadata = books.metadata
        if cohort is None:
            cohort = max([key[0] for key in books.books if key[1] == bracket] +
                         [c for c, b in self._prefix.values() if b == bracket], default=0)
        ages = {}  # (key, trial_id) -> (age, change), the latest change of each entry
        for key, tid, change, number in self._changes:
            age = self.n_changes - number
            if age < self.recent:
                ages[(key, tid)] = (age, change)
        incoming: dict[tuple, list] = {}
        for tid, (key, source) in self._heading.items():
            incoming.setdefault(key, []).append((tid, source))
        levels = books.levels(bracket)
        eta = books.reduction_factor
        columns = []
        for level in levels:
            key = (cohort, bracket, level)
            entries = books.book(level, bracket, cohort)
            n, top = len(entries), len(entries) // eta
            rows = []
            for rank, entry in enumerate(entries, 1):
                shown = rank <= max_rows
                recent = ages.get((key, entry.trial_id))
                if not shown and recent is None:
                    continue
                in_top = rank <= top and level != levels[-1]  # nothing is promoted from r_max
                rows.append(Row(rank, entry.trial_id, entry.value, entry.status, in_top,
                                recent[0] if recent else None, recent[1] if recent else "",
                                _next_level(levels, level) if entry.status == "promoted"
                                else None))
            cut = min(n, max_rows)
            hidden = n - len(rows)
            counts: dict[str, int] = {}
            for entry in entries[max_rows:]:
                if (key, entry.trial_id) not in ages:
                    counts[entry.status] = counts.get(entry.status, 0) + 1
            columns.append(Column(level, n, top, level == levels[-1], tuple(rows), hidden,
                                  tuple((s, counts[s]) for s in STATUSES if s in counts), cut,
                                  tuple(sorted(incoming.get(key, ())))))
        return BooksFrame(True, metadata.get("scheduler", ""), metadata["metric"],
                          metadata["mode"], metadata.get("resource_attr", ""), eta, bracket,
                          cohort, tuple(columns), self.time, self.n_events, self.caption,
                          self.ended)


def _next_level(levels: list[int], level: int) -> int | None:
    index = levels.index(level) + 1
    return levels[index] if index < len(levels) else None
