"""Synchronous successive halving: the baseline ASHA improves on.

A bracket starts ``num_configs`` trials at r_0 = r_min. Each trial pauses at the rung. Only when
every trial of the rung has reported (or failed) are the best floor(n_i / eta) of them promoted to
the next rung and the rest stopped. Until then a free worker gets :class:`Wait`: the barrier at
which workers idle while a straggler finishes. When the last rung (r_max) is done, the next bracket
starts.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Mapping

from ..decisions import Decision, Job, TrialStatus, Wait
from .base import Scheduler, _Trial

__all__ = ["SynchronousSuccessiveHalving"]


class SynchronousSuccessiveHalving(Scheduler):
    """Successive halving with a barrier at every rung.

    ``num_configs`` is n, the trials per bracket; by default eta**(number of rungs - 1), so that
    one trial reaches r_max. Each rung keeps floor(n_i / eta) trials, and always at least one so
    that every bracket finishes a model.
    """

    name = "synchronous_sh"

    def __init__(self, config_space: Mapping[str, Any], metric: str, mode: str = "min", *,
                 num_configs: int | None = None, **kwargs) -> None:
        super().__init__(config_space, metric, mode, **kwargs)
        default = self.reduction_factor_ ** (len(self.rung_levels_) - 1)
        if num_configs is None:
            num_configs = default
        if isinstance(num_configs, bool) or not isinstance(num_configs, int) or num_configs < 1:
            raise ValueError(f"num_configs={num_configs!r} must be a positive integer")
        self.num_configs = num_configs
        self.bracket_count_ = 0  # brackets started so far
        self._rung = 0  # index of the rung the current bracket is filling
        self._to_start = 0  # new trials of the current bracket not handed out yet
        self._queue: deque[int] = deque()  # promoted trials waiting for a worker
        self._waiting: set[int] = set()  # trials the current rung still waits for
        self._members: list[int] = []  # trials that entered the current rung

    def metadata(self) -> dict:
        return {**super().metadata(), "num_configs": self.num_configs}

    def _next_job(self, allow_new: bool) -> Job | Wait:
        if self._to_start and not allow_new:
            self._to_start = 0  # the bracket is cut short: rank the rung with who is in it
            self._close_rung_if_full()
        if self._to_start:
            self._to_start -= 1
            job = self._new_trial(0, cohort=self.bracket_count_ - 1)
            self._waiting.add(job.trial_id)
            self._members.append(job.trial_id)
            return job
        if self._queue:
            trial = self._trials[self._queue.popleft()]
            cohort = self.bracket_count_ - 1
            return self._resume(trial, self.rung_book(self.rung_levels_[self._rung - 1], cohort),
                                cohort)
        if self._waiting:
            level = self.rung_levels_[self._rung]
            return Wait(f"rung {level}: {len(self._members) - len(self._waiting)} of "
                        f"{len(self._members)} results in; waiting for the rest")
        if not allow_new:
            return Wait("no new trials may start")
        self._start_bracket()
        return self._next_job(allow_new)

    def _start_bracket(self) -> None:
        self.bracket_count_ += 1
        self._rung = 0
        self._to_start = self.num_configs
        self._members = []

    def _on_rung(self, trial: _Trial, level: int, score: float, tie_break: float) -> Decision:
        # Every trial of a bracket sits in bracket 0's levels; books are kept per bracket run.
        self.rung_book(level, self.bracket_count_ - 1).record(trial.trial_id, score, tie_break)
        self._waiting.discard(trial.trial_id)
        if level >= self.max_resource_:
            decision = Decision.CONTINUE
        else:
            self._set(trial, TrialStatus.PAUSED, f"reached rung {level}")
            decision = Decision.PAUSE
        self._close_rung_if_full()
        return decision

    def _on_failed(self, trial: _Trial) -> None:
        self._waiting.discard(trial.trial_id)
        if trial.trial_id in self._members:
            self._close_rung_if_full()

    def _close_rung_if_full(self) -> None:
        if self._waiting or self._to_start or not self._members:
            return
        level = self.rung_levels_[self._rung]
        book = self.rung_book(level, self.bracket_count_ - 1)
        if level >= self.max_resource_ or len(book) == 0:
            self._members = []  # the bracket is done
            return
        n = len(book)
        keep = set(book.top(self.reduction_factor_) or book.top(n))  # floor(n/eta), at least 1
        for entry in list(book):
            if entry.trial_id in keep:
                self._queue.append(entry.trial_id)
            else:
                book.withdraw(entry.trial_id)
                self._set(self._trials[entry.trial_id], TrialStatus.STOPPED,
                          f"not in the top {len(keep)} of {n} at rung {level}")
        self._rung += 1
        self._members = list(self._queue)
        self._waiting = set(self._queue)
