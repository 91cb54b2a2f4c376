"""A discrete-event backend on virtual time: runs of thousands of trials in seconds.

The objective is a callable ``objective(config, epoch) -> (metrics, seconds)``: the metrics
reported after training ``config`` for its ``epoch``-th epoch, and how many seconds that epoch
took. :class:`~asha_lesson.benchmarks.LearningCurveTable` and the synthetic benchmarks are such
callables. Pending events sit in a heap of ``(time, seq, ...)``; ``seq`` only grows, so ties in
time resolve the same way on every run and a seed reproduces the event log byte for byte.
"""

from __future__ import annotations

import heapq
import traceback
from typing import Callable

from ..decisions import Decision, Job
from .base import Backend, Ended, Outcome, Report, RunSettings

__all__ = ["SimulatedBackend"]

_REPORT, _ENDED = 0, 1


class SimulatedBackend(Backend):
    """Run trials against ``objective`` on a virtual clock; no thread, no sleep, no polling.

    Without an objective it replays the learning curves of LeNet on digits recorded with the
    package (:func:`~asha_lesson.benchmark_tables.load_lenet_digits_table`); its config space
    is ``backend.objective.config_space``.
    """

    realtime = False

    def __init__(self, objective: Callable[[dict, int], tuple[dict, float]] | None = None
                 ) -> None:
        if objective is None:  # by default, replay LeNet's curves recorded on digits
            from ..benchmark_tables import load_lenet_digits_table
            objective = load_lenet_digits_table()
        if not callable(objective):
            raise ValueError(f"objective={objective!r} must be callable as "
                             "objective(config, epoch) -> (metrics, seconds)")
        self.objective = objective
        self._now = 0.0

    def describe(self) -> dict:
        return {"backend": "SimulatedBackend", "objective": getattr(
            self.objective, "name", type(self.objective).__name__)}

    def open(self, settings: RunSettings) -> None:
        self._settings = settings
        self._now = 0.0
        self._seq = 0
        self._heap: list[tuple] = []
        # A trial may be resumed (a new run) before its last run's end is popped: key by run.
        self._runs: dict[int, list] = {}  # run id -> [worker, config, epoch, trial_id]
        self._run_of: dict[int, int] = {}  # trial_id -> its latest run id

    def clock(self) -> float:
        return self._now

    def _push(self, time: float, kind: int, run: int, payload) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, kind, run, payload))

    def _schedule_epoch(self, run: int) -> None:
        state = self._runs[run]
        state[2] += 1
        try:
            metrics, seconds = self.objective(state[1], state[2])
            seconds = float(seconds)
            if not seconds >= 0:
                raise ValueError(f"objective returned seconds={seconds!r}; it must be >= 0")
        except Exception:  # a broken objective fails its trial, not the run
            self._push(self._now, _ENDED, run, (Outcome.RAISED, traceback.format_exc()))
            return
        metrics = dict(metrics)
        metrics[self._settings.resource_attr] = state[2]
        self._push(self._now + seconds, _REPORT, run, metrics)

    def start(self, worker: int, job: Job) -> None:
        run = self._seq + 1
        self._runs[run] = [worker, job.config, job.resume_from, job.trial_id]
        self._run_of[job.trial_id] = run
        self._schedule_epoch(run)

    def answer(self, report: Report, decision: Decision) -> None:
        run = self._run_of[report.trial_id]
        if decision is not Decision.CONTINUE:
            self._push(self._now, _ENDED, run, (Outcome.UNWOUND, ""))
        elif self._runs[run][2] >= self._settings.max_resource:
            self._push(self._now, _ENDED, run, (Outcome.RETURNED, ""))
        else:
            self._schedule_epoch(run)

    def next_event(self, until: float | None) -> Report | Ended | None:
        if not self._heap:
            return None
        if until is not None and self._heap[0][0] > until:
            self._now = max(self._now, until)
            return None
        time, _, kind, run, payload = heapq.heappop(self._heap)
        self._now = time
        worker, _, _, trial_id = self._runs[run]
        if kind == _REPORT:
            return Report(trial_id, worker, time, payload)
        del self._runs[run]
        outcome, error = payload
        return Ended(trial_id, worker, time, outcome, error)

    def halt(self) -> None:
        self._heap.clear()
        self._runs.clear()
        self._run_of.clear()
