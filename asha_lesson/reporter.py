"""How a tune function talks to the tuner: ``report = Reporter(); report(epoch=1, ...)``.

A backend runs each trial with a :class:`TrialContext` set for the thread it runs on. Inside a
trial, a report blocks until the scheduler has decided, then either returns (continue) or unwinds
the function by raising :class:`TrialPaused` or :class:`TrialStopped`. Both derive from
``BaseException`` so that a tune function's own ``except Exception`` cannot swallow them.

Outside any backend (calling the objective by hand in a notebook), a Reporter just keeps what it
was told in ``.results``.

Pause and resume: a function that can save its state registers it with ``report.on_pause(fn)``;
``fn()`` is called when the trial is paused and its return value handed back by
``report.load_checkpoint()`` when the trial resumes. A function without a checkpoint is run again
from the start when resumed, and its reports up to where it paused are not sent again.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any, Callable

from .decisions import Decision

__all__ = ["Reporter", "TrialContext", "TrialPaused", "TrialStopped", "current_trial"]


class TrialPaused(BaseException):
    """Raised inside a tune function whose trial the scheduler paused."""


class TrialStopped(BaseException):
    """Raised inside a tune function whose trial the scheduler (or the end of the run) stopped."""


@dataclass
class TrialContext:
    """What a backend tells the code of one running trial.

    ``send(metrics) -> Decision`` delivers a report and returns the scheduler's answer.
    """

    trial_id: int
    config: dict
    resource_attr: str
    resume_from: int
    send: Callable[[dict], Decision]
    checkpoint: Any = None
    pause_hook: Callable[[], Any] | None = None
    saved: Any = field(default=None, repr=False)  # what pause_hook returned, for the backend


_CURRENT: contextvars.ContextVar[TrialContext | None] = contextvars.ContextVar(
    "asha_lesson_trial", default=None)


def current_trial() -> TrialContext | None:
    """The context of the trial running on this thread, or None outside a backend."""
    return _CURRENT.get()


def set_current_trial(context: TrialContext | None) -> contextvars.Token:
    return _CURRENT.set(context)


class Reporter:
    """Report metrics after each unit of resource (each epoch, here)."""

    def __init__(self) -> None:
        self._context = current_trial()
        self.results: list[dict] = []

    @property
    def trial_id(self) -> int | None:
        return self._context.trial_id if self._context else None

    def load_checkpoint(self) -> Any:
        """The state saved when this trial was last paused, or None on a fresh start."""
        return self._context.checkpoint if self._context else None

    def on_pause(self, save: Callable[[], Any]) -> None:
        """Register ``save``: called with no arguments if the trial is paused; what it returns is
        given back by :meth:`load_checkpoint` when the trial resumes."""
        if self._context is not None:
            self._context.pause_hook = save

    def __call__(self, **metrics: Any) -> None:
        self.results.append(dict(metrics))
        context = self._context
        if context is None:
            return
        resource = metrics.get(context.resource_attr)
        if context.checkpoint is None and isinstance(resource, int) and resource <= context.resume_from:
            return  # replaying up to where a checkpoint-less trial was paused
        decision = context.send(metrics)
        if decision is Decision.CONTINUE:
            return
        if decision is Decision.PAUSE:
            if context.pause_hook is not None:
                context.saved = context.pause_hook()
            raise TrialPaused(f"trial {context.trial_id} paused at "
                              f"{context.resource_attr}={resource}")
        raise TrialStopped(f"trial {context.trial_id} stopped at {context.resource_attr}={resource}")
