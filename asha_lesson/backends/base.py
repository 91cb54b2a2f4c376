"""The interface between the tuner's loop and whatever runs the trials.

A backend owns time. The tuner starts jobs on workers, answers reports, and waits for the next
:class:`Report` or :class:`Ended` with :meth:`Backend.next_event`. The thread backend blocks on a
queue against the wall clock; the simulated backend pops a heap and jumps its virtual clock.
"""

from __future__ import annotations

import enum
import queue
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ..decisions import Decision, Job
from ..reporter import TrialPaused, TrialStopped

__all__ = ["Backend", "Report", "Ended", "Outcome", "RunSettings", "get_until",
           "call_tune_function"]


@dataclass(frozen=True)
class Report:
    trial_id: int
    worker: int
    time: float
    metrics: dict


class Outcome(enum.Enum):
    RETURNED = "returned"  # the tune function finished on its own
    UNWOUND = "unwound"  # it ended because it was told to pause or stop
    RAISED = "raised"  # it raised an exception of its own


@dataclass(frozen=True)
class Ended:
    """A trial's function is no longer running on ``worker``; the worker is free."""

    trial_id: int
    worker: int
    time: float
    outcome: Outcome
    error: str = ""
    checkpoint: Any = None


@dataclass(frozen=True)
class RunSettings:
    """What a backend needs to know about the run it serves."""

    n_workers: int
    resource_attr: str
    max_resource: int
    experiment_dir: str | None = None


class Backend(ABC):
    """Base class of the backends. ``realtime`` backends run on the wall clock."""

    realtime = True

    @abstractmethod
    def open(self, settings: RunSettings) -> None:
        """Get ready to run trials for the run ``settings`` describes; start the clock."""

    @abstractmethod
    def clock(self) -> float:
        """Seconds since :meth:`open`."""

    @abstractmethod
    def start(self, worker: int, job: Job) -> None:
        """Run ``job`` on ``worker`` (which is free); its reports come from :meth:`next_event`."""

    @abstractmethod
    def answer(self, report: Report, decision: Decision) -> None:
        """Give the trial that sent ``report`` the scheduler's ``decision``."""

    @abstractmethod
    def next_event(self, until: float | None) -> Report | Ended | None:
        """The next thing that happens, or None once ``until`` (seconds) passes first, or when
        :meth:`wake` was called."""

    def halt(self) -> None:
        """Ask every running trial to stop at its next report: the run is over."""

    def wake(self) -> None:
        """Make a waiting :meth:`next_event` return None soon (from any thread)."""

    def close(self) -> None:
        """Release workers and resources."""

    def describe(self) -> dict:
        return {"backend": type(self).__name__}


def get_until(events: queue.SimpleQueue, until: float | None, clock) -> object | None:
    """The next item of a real-time backend's queue, or None once ``until`` (seconds on
    ``clock``) has passed."""
    timeout = None if until is None else max(0.0, until - clock())
    try:
        return events.get(timeout=timeout)
    except queue.Empty:
        return None


def call_tune_function(tune_function, job: Job, context, halted: bool) -> tuple[Outcome, str, Any]:
    """Run one trial's function to its end on this thread and say how it ended: ``(outcome,
    error, saved)``, where ``saved`` is the checkpoint a pause left in ``context``. A failure is
    printed (into the trial's log) and returned; it never propagates, so the worker goes on."""
    try:
        if halted:
            raise TrialStopped("the run ended before this trial started")
        tune_function(**job.config)
    except TrialPaused:
        return Outcome.UNWOUND, "", context.saved
    except TrialStopped:
        return Outcome.UNWOUND, "", None
    except BaseException:  # the trial fails; the worker and the run go on
        error = traceback.format_exc()
        print(error)
        return Outcome.RAISED, error, None
    return Outcome.RETURNED, "", None
