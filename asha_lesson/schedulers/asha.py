"""Asynchronous successive halving (Li et al., MLSys 2020), in both of its variants.

* ``type="promotion"`` (the paper's Algorithm 2): a trial pauses at every rung. When a worker
  frees up, the rungs are searched from the top down for the best not-yet-promoted trial in the
  top floor(n_k / eta) of its rung; that trial is resumed from its checkpoint up to the next rung.
  If no rung has one, a new config starts at r_min. The bottom rung grows without bound.
* ``type="stopping"`` (what Ray Tune and Syne Tune do by default): a trial reaching a rung goes on
  only if its score is in the top floor(n / eta) of the scores recorded there so far, its own
  included; with fewer than eta scores there is nothing to compare with and it goes on.

With ``brackets > 1`` this is asynchronous Hyperband: each new trial draws its bracket s from the
scheduler's own seeded generator, and bracket s starts at rung r_min * eta**s.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..decisions import Decision, Job, TrialStatus, Wait
from ..rungs import is_promotable
from .base import Scheduler, _Trial

__all__ = ["ASHA"]

TYPES = ("stopping", "promotion")


class ASHA(Scheduler):
    """Asynchronous successive halving. See the module docstring for the two variants.

    The arguments are those of :class:`~asha_lesson.schedulers.base.Scheduler` (``grace_period``
    is r_min, ``reduction_factor`` is eta) plus ``type`` and ``brackets``. Defaults follow Syne
    Tune's classic ``ASHA``: stopping variant, grace_period=1, reduction_factor=3, one bracket.
    """

    def __init__(self, config_space: Mapping[str, Any], metric: str, mode: str = "min", *,
                 type: str = "stopping", brackets: int = 1, **kwargs) -> None:
        if type not in TYPES:
            raise ValueError(f"type={type!r} must be one of {TYPES}")
        super().__init__(config_space, metric, mode, **kwargs)
        if isinstance(brackets, bool) or not isinstance(brackets, (int, np.integer)) or not (
                1 <= brackets <= len(self.rung_levels_)):
            raise ValueError(f"brackets={brackets!r} must be an integer from 1 to the number of "
                             f"rung levels ({len(self.rung_levels_)}: {self.rung_levels_})")
        self.type = type
        self.brackets = int(brackets)
        self.name = f"asha_{type}"
        self._bracket_probs = self._hyperband_weights()
        # Where a free worker looks for a promotable trial: each bracket's rungs from the top
        # down, r_max excluded (nothing lies above it). These are the keys of self._books.
        self._promotion_search = [
            (bracket, level) for bracket in range(self.brackets)
            for level in reversed(self._levels_of[bracket][:-1])]

    @property
    def num_brackets(self) -> int:
        return self.brackets

    def metadata(self) -> dict:
        return {**super().metadata(), "type": self.type}

    def _hyperband_weights(self) -> np.ndarray:
        # Hyperband starts about eta**m / (m + 1) configs in a bracket with m halvings.
        eta, top = self.reduction_factor_, len(self.rung_levels_) - 1
        weights = np.array([eta ** (top - s) / (top - s + 1) for s in range(self.brackets)])
        return weights / weights.sum()

    def _sample_bracket(self) -> int:
        if self.brackets == 1:
            return 0
        return int(self._rng.choice(self.brackets, p=self._bracket_probs))

    def _next_job(self, allow_new: bool) -> Job | Wait:
        if self.type == "promotion":
            books, eta = self._books, self.reduction_factor_
            for key in self._promotion_search:
                book = books.get(key)
                if book is not None:
                    trial_id = book.best_promotable(eta)
                    if trial_id is not None:
                        return self._resume(self._trials[trial_id], book)
        if not allow_new:
            return Wait("no new trials may start and no paused trial is promotable")
        return self._new_trial(self._sample_bracket())

    def _on_rung(self, trial: _Trial, level: int, score: float, tie_break: float) -> Decision:
        book = self.rung_book(level, trial.bracket)
        if level >= self.max_resource_:
            book.record(trial.trial_id, score, tie_break, candidate=False)  # nothing above r_max
            return Decision.CONTINUE
        if self.type == "promotion":
            book.record(trial.trial_id, score, tie_break)
            self._set(trial, TrialStatus.PAUSED, f"reached rung {level}")
            return Decision.PAUSE
        # The stopping variant decides now, once: the trial is never a promotion candidate.
        rank = book.add(trial.trial_id, score, tie_break, candidate=False)
        n = len(book)
        if n < self.reduction_factor_ or is_promotable(rank, n, self.reduction_factor_):
            return Decision.CONTINUE
        self._set(trial, TrialStatus.STOPPED,
                  f"rank {rank + 1} of {n} at rung {level}: not in the top {n // self.reduction_factor_}")
        return Decision.STOP
