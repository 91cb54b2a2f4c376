"""What a scheduler answers, and the states a trial moves through.

A trial is an explicit state machine (like ``concurrent.futures.Future``): an illegal transition
raises instead of silently corrupting the run. PAUSED is its own state, neither stopped nor
completed: a paused trial keeps its checkpoint and may be resumed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Decision", "Job", "Wait", "TrialStatus", "InvalidTransition", "Transition"]


class Decision(enum.Enum):
    """The answer to a trial's report."""

    CONTINUE = "continue"
    PAUSE = "pause"  # keep the checkpoint; the trial may be resumed later
    STOP = "stop"  # never resumed


@dataclass(frozen=True)
class Job:
    """Work for a free worker: run ``trial_id`` from ``resume_from`` (0 for a new trial) on.

    ``milestone`` is the resource level at which the scheduler expects to pause or finish it
    (informational: the scheduler still decides at every report). ``bracket`` is the
    Hyperband bracket s (its first rung is r_min * eta**s); ``cohort`` numbers the brackets
    synchronous successive halving runs one after another (always 0 for the others).
    """

    trial_id: int
    config: dict
    resume_from: int
    milestone: int
    bracket: int = 0
    cohort: int = 0

    @property
    def is_new(self) -> bool:
        return self.resume_from == 0


@dataclass(frozen=True)
class Wait:
    """Nothing to run now. ``reason`` says why (a rung barrier, no new trials allowed, ...)."""

    reason: str


class TrialStatus(enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"


_ALLOWED = {
    None: {TrialStatus.RUNNING},
    TrialStatus.RUNNING: {TrialStatus.PAUSED, TrialStatus.STOPPED, TrialStatus.COMPLETED,
                          TrialStatus.FAILED},
    TrialStatus.PAUSED: {TrialStatus.RUNNING, TrialStatus.STOPPED},
    TrialStatus.STOPPED: set(),
    TrialStatus.COMPLETED: set(),
    TrialStatus.FAILED: set(),
}


class InvalidTransition(RuntimeError):
    """A trial was asked to move between states where no such move exists."""


def check_transition(trial_id: int, old: TrialStatus | None, new: TrialStatus) -> None:
    if new not in _ALLOWED[old]:
        name = old.value if old else "unknown"
        raise InvalidTransition(f"trial {trial_id} cannot go from {name} to {new.value}")


@dataclass(frozen=True)
class Transition:
    """A change of a trial's state, as the scheduler saw it; the tuner turns these into events."""

    trial_id: int
    status: TrialStatus
    resource: int
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
