"""What every scheduler shares: validation, seeding, trial bookkeeping and rung books.

A scheduler is a pure state machine. The tuner tells it what happened (``on_report``,
``on_complete``, ``on_fail``, ``on_halt``) and asks it what a free worker should do
(``suggest``). It never sleeps, reads a clock, prints or touches files; every change of a
trial's state is queued as a :class:`Transition` for the tuner to record as an event.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..config_space import Domain, sample_config, validate_config_space
from ..decisions import (Decision, Job, Transition, TrialStatus, Wait, check_transition)
from ..rungs import RungBook, rung_levels

__all__ = ["Scheduler"]

logger = logging.getLogger("asha_lesson")


class _Trial:
    __slots__ = ("trial_id", "config", "bracket", "status", "resource", "next_rung")

    def __init__(self, trial_id: int, config: dict, bracket: int) -> None:
        self.trial_id = trial_id
        self.config = config
        self.bracket = bracket
        self.status: TrialStatus | None = None
        self.resource = 0  # the last resource level reported (epochs trained so far)
        self.next_rung = 0  # index into the bracket's levels of the next rung to reach


def _infer_max_resource(config_space: Mapping[str, Any], max_t, max_resource_attr) -> int:
    if max_t is not None:
        return int(max_t)
    if max_resource_attr is None:
        raise ValueError("give max_t or max_resource_attr (the config key holding r_max, "
                         "like 'max_epochs')")
    if max_resource_attr not in config_space:
        raise ValueError(f"max_resource_attr={max_resource_attr!r} is not a key of the config "
                         f"space (keys: {sorted(config_space)})")
    value = config_space[max_resource_attr]
    if isinstance(value, Domain) or isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"config_space[{max_resource_attr!r}]={value!r} must be a constant "
                         "integer: it is the maximum resource r_max")
    return int(value)


class Scheduler(ABC):
    """Base class. Subclasses decide in :meth:`_on_rung` and :meth:`_next_job`.

    Args:
        config_space: dict of names to domains or constants.
        metric: name of the reported value to optimise, e.g. ``"validation_error"``.
        mode: ``"min"`` or ``"max"``.
        resource_attr: name of the reported resource, e.g. ``"epoch"``.
        max_resource_attr: config key whose constant value is r_max (e.g. ``"max_epochs"``).
        max_t: r_max given directly instead.
        grace_period: r_min, the first rung level.
        reduction_factor: eta, the ratio between rung levels (only the top 1/eta go on).
        points_to_evaluate: configs to try first; missing keys are sampled.
        random_seed: master seed; drawn at random (and logged) when None.
        tie_break_metric: an optional second reported value (same mode) ranking equal scores,
            e.g. ``"validation_loss"`` when many trials share an error of exactly 0.9.
    """

    name = "scheduler"

    def __init__(self, config_space: Mapping[str, Any], metric: str, mode: str = "min", *,
                 resource_attr: str = "epoch", max_resource_attr: str | None = None,
                 max_t: int | None = None, grace_period: int = 1, reduction_factor: int = 3,
                 points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
                 random_seed: int | None = None, tie_break_metric: str | None = None) -> None:
        validate_config_space(config_space)
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"metric={metric!r} must be the name of a reported value")
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r} must be 'min' or 'max'")
        if random_seed is not None and (isinstance(random_seed, bool) or not isinstance(
                random_seed, (int, np.integer)) or not 0 <= random_seed < 2**32):
            raise ValueError(f"random_seed={random_seed!r} must be an integer in [0, 2**32)")
        self.config_space = dict(config_space)
        self.metric = metric
        self.mode = mode
        self.resource_attr = resource_attr
        self.max_resource_attr = max_resource_attr
        self.max_t = max_t
        self.grace_period = grace_period
        self.reduction_factor = reduction_factor
        self.points_to_evaluate = [dict(p) for p in (points_to_evaluate or [])]
        self.random_seed = random_seed
        self.tie_break_metric = tie_break_metric

        self.max_resource_ = _infer_max_resource(self.config_space, max_t, max_resource_attr)
        self.rung_levels_ = rung_levels(grace_period, self.max_resource_, reduction_factor)
        # bracket s climbs rung_levels_[s:]; computed once, since every report needs them
        self._levels_of = [tuple(self.rung_levels_[s:]) for s in range(len(self.rung_levels_))]
        self.reduction_factor_ = int(reduction_factor)
        for point in self.points_to_evaluate:
            unknown = sorted(set(point) - set(self.config_space))
            if unknown:
                raise ValueError(f"points_to_evaluate entry {point!r} has keys {unknown} that are "
                                 "not in the config space")
        self.random_seed_ = (int(np.random.SeedSequence().entropy % 2**32)
                             if random_seed is None else int(random_seed))
        self._rng = np.random.default_rng(self.random_seed_)
        self._sign = 1.0 if mode == "min" else -1.0
        self._trials: dict[int, _Trial] = {}
        self._books: dict[tuple[int, int], RungBook] = {}
        self._transitions: list[Transition] = []
        self._pending_points = list(self.points_to_evaluate)
        if max_t is None:
            logger.info("max_resource_level = %d, as inferred from config_space", self.max_resource_)
        logger.info("Master random_seed = %d", self.random_seed_)

    # -- what the tuner calls ------------------------------------------------------------------

    def suggest(self, allow_new: bool = True) -> Job | Wait:
        """What a free worker should run next: a new trial, a promoted one, or nothing yet."""
        return self._next_job(allow_new)

    def on_report(self, trial_id: int, resource: int, metrics: Mapping[str, Any]) -> Decision:
        """A running trial reports ``metrics`` after training to ``resource``; decide at once."""
        trial = self._running(trial_id)
        if isinstance(resource, bool) or not isinstance(resource, (int, np.integer)):
            return self._fail(trial, f"reported {self.resource_attr}={resource!r}, "
                                     "which must be a whole number")
        resource = int(resource)
        if resource <= trial.resource:
            return self._fail(trial, f"reported {self.resource_attr}={resource} after "
                                     f"{self.resource_attr}={trial.resource}: the resource must grow")
        value = metrics.get(self.metric)
        if not _is_number(value) or not math.isfinite(value):
            return self._fail(trial, f"reported {self.metric}={value!r}, which must be a finite "
                                     "number")
        tie_break = 0.0
        if self.tie_break_metric is not None:
            tie = metrics.get(self.tie_break_metric)
            tie_break = self._sign * tie if _is_number(tie) and math.isfinite(tie) else math.inf
        trial.resource = resource
        levels = self._levels_of[trial.bracket]
        next_rung = trial.next_rung
        if next_rung < len(levels) and resource >= levels[next_rung]:
            trial.next_rung = next_rung + 1
            return self._on_rung(trial, levels[next_rung], self._sign * float(value), tie_break)
        return Decision.CONTINUE

    def on_complete(self, trial_id: int) -> None:
        """The trial's function returned: it trained as far as it wanted to."""
        self._set(self._running(trial_id), TrialStatus.COMPLETED)

    def on_fail(self, trial_id: int, reason: str) -> None:
        """The trial's function raised, or its run broke; it will not be resumed."""
        self._fail(self._running(trial_id), reason)

    def on_halt(self, trial_id: int, reason: str = "the run ended") -> None:
        """The tuner stopped a running trial from outside (the run is over)."""
        self._set(self._running(trial_id), TrialStatus.STOPPED, reason)

    def take_transitions(self) -> list[Transition]:
        """Every change of a trial's state since the last call, oldest first."""
        out, self._transitions = self._transitions, []
        return out

    def rung_book(self, level: int, bracket: int = 0) -> RungBook:
        """The book of scores at ``level`` in ``bracket`` (created empty on first use)."""
        key = (bracket, level)
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = RungBook(level)
        return book

    def bracket_levels(self, bracket: int) -> list[int]:
        return self.rung_levels_[bracket:]

    def status(self, trial_id: int) -> TrialStatus | None:
        return self._trials[trial_id].status

    def metadata(self) -> dict:
        """Everything needed to repeat the run and to read its log."""
        return {
            "scheduler": self.name, "metric": self.metric, "mode": self.mode,
            "resource_attr": self.resource_attr, "max_resource_attr": self.max_resource_attr,
            "max_resource": self.max_resource_, "grace_period": self.grace_period,
            "reduction_factor": self.reduction_factor_, "rung_levels": self.rung_levels_,
            "brackets": self.num_brackets, "random_seed": self.random_seed_,
            "tie_break_metric": self.tie_break_metric,
        }

    @property
    def num_brackets(self) -> int:
        return 1

    # -- what subclasses implement ---------------------------------------------------------------

    @abstractmethod
    def _next_job(self, allow_new: bool) -> Job | Wait:
        """What a free worker runs next (``allow_new``: may a new trial start?)."""

    @abstractmethod
    def _on_rung(self, trial: _Trial, level: int, score: float, tie_break: float) -> Decision:
        """Decide for ``trial``, which just reached rung ``level`` with ``score``."""

    # -- shared helpers ------------------------------------------------------------------------

    def _new_trial(self, bracket: int = 0, cohort: int = 0) -> Job:
        trial_id = len(self._trials)
        config = sample_config(self.config_space, self._rng)
        if self._pending_points:
            config.update(self._pending_points.pop(0))
        trial = _Trial(trial_id, config, bracket)
        trial.next_rung = 0
        self._trials[trial_id] = trial
        self._set(trial, TrialStatus.RUNNING, "started")
        return Job(trial_id, config, 0, self._levels_of[bracket][0], bracket, cohort)

    def _resume(self, trial: _Trial, book: RungBook, cohort: int = 0) -> Job:
        book.withdraw(trial.trial_id)
        milestone = self._levels_of[trial.bracket][trial.next_rung]
        self._set(trial, TrialStatus.RUNNING, "promoted", {"from": book.level, "to": milestone})
        return Job(trial.trial_id, trial.config, trial.resource, milestone, trial.bracket, cohort)

    def _set(self, trial: _Trial, status: TrialStatus, reason: str = "", extra=None) -> None:
        check_transition(trial.trial_id, trial.status, status)
        trial.status = status
        self._transitions.append(Transition(trial.trial_id, status, trial.resource, reason,
                                            extra or {}))

    def _fail(self, trial: _Trial, reason: str) -> Decision:
        self._set(trial, TrialStatus.FAILED, reason)
        self._on_failed(trial)
        return Decision.STOP

    def _on_failed(self, trial: _Trial) -> None:
        """Hook for schedulers that wait on trials (synchronous SH)."""

    def _running(self, trial_id: int) -> _Trial:
        trial = self._trials.get(trial_id)
        if trial is None:
            raise KeyError(f"trial {trial_id} was never started by this scheduler")
        if trial.status is not TrialStatus.RUNNING:
            raise ValueError(f"trial {trial_id} is {trial.status.value}, not running")
        return trial

    def _sample_bracket(self) -> int:
        return 0


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
