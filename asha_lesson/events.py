"""Everything observable about a run is an :class:`Event` in an append-only log.

Rung books, the incumbent curve, learning curves, the worker timeline and the results table are
all derived from the log (see :mod:`asha_lesson.experiment`), live during a run or replayed from
disk afterwards. Times are seconds since the run started, on the backend's clock (wall clock for
threads, virtual time for the simulator).
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

__all__ = ["EventKind", "Event", "EventLog", "dumps_event", "loads_event"]


class EventKind(str, enum.Enum):
    RUN_STARTED = "run_started"  # data: the run's metadata (scheduler, seed, rung levels, ...)
    TRIAL_STARTED = "trial_started"  # data: config, bracket, cohort
    REPORTED = "reported"  # resource; data: metrics, decision
    PROMOTED = "promoted"  # resource: the rung it leaves; data: to (the next rung)
    RESUMED = "resumed"  # resource: where training picks up
    PAUSED = "paused"
    STOPPED = "stopped"  # data: reason
    COMPLETED = "completed"
    FAILED = "failed"  # data: reason (a traceback when the function raised)
    WORKER_IDLE = "worker_idle"  # worker; data: reason
    RUN_ENDED = "run_ended"  # data: reason


@dataclass(frozen=True, slots=True)
class Event:
    time: float
    kind: EventKind
    trial_id: int | None = None
    worker: int | None = None
    resource: int | None = None
    data: dict | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"time": self.time, "kind": self.kind.value}
        for name in ("trial_id", "worker", "resource", "data"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def _jsonable(value):
    """numpy scalars and non-finite floats, made safe for strict JSON."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": kept readable rather than dropped
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


_ENCODER = json.JSONEncoder(default=_jsonable, allow_nan=False, separators=(",", ":"))


def dumps_event(event: Event) -> str:
    raw = event.to_dict()
    try:
        return _ENCODER.encode(raw)
    except ValueError:  # a NaN or infinity somewhere: spell it out (rare, so not done first)
        return _ENCODER.encode(_clean(raw))


def loads_event(line: str) -> Event:
    raw = json.loads(line)
    return Event(raw["time"], EventKind(raw["kind"]), raw.get("trial_id"), raw.get("worker"),
                 raw.get("resource"), raw.get("data"))


class EventLog:
    """An append-only list of events that tells its subscribers about each one as it lands."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._events: list[Event] = list(events)
        self._subscribers: list[Callable[[Event], None]] = []

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self):
        return iter(self._events)

    def __getitem__(self, index):
        return self._events[index]

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        self._subscribers.append(callback)

    def append(self, event: Event) -> None:
        self._events.append(event)
        for callback in self._subscribers:
            callback(event)

    def snapshot(self) -> list[Event]:
        """A copy that later appends do not change (safe to hand to a view)."""
        return list(self._events)
