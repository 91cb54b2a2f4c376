"""Random search: every trial trains to r_max. The baseline the lecture starts from."""

from __future__ import annotations

from ..decisions import Decision, Job, Wait
from .base import Scheduler, _Trial

__all__ = ["RandomSearch"]


class RandomSearch(Scheduler):
    """Sample a fresh config for every free worker and train it to the maximum resource.

    Scores still go into the rung books at the rung levels, so views can show what successive
    halving would have done with the same results.
    """

    name = "random_search"

    def _next_job(self, allow_new: bool) -> Job | Wait:
        if not allow_new:
            return Wait("no new trials may start")
        job = self._new_trial()
        return Job(job.trial_id, job.config, 0, self.max_resource_, 0)

    def _on_rung(self, trial: _Trial, level: int, score: float, tie_break: float) -> Decision:
        self.rung_book(level).record(trial.trial_id, score, tie_break)
        return Decision.CONTINUE
