"""Decisions per second of ASHA's two variants at a given rung size.

Method (for each variant and each rung size N):

1. Prefill through the public API only. ``suggest()`` gives a job, the trial reports a random
   value (seeded generator) at the job's milestone, until the bottom rung (r_min) holds N scores.
   In the stopping variant every suggest starts a new trial; in the promotion variant suggest
   promotes whenever a rung has a promotable trial, so the prefilled state is ASHA's steady state
   (rung k holds about N / eta**k scores) rather than an artificial one.
2. Snapshot the prefilled scheduler with pickle. Each timed round restores a fresh copy
   (untimed) and times a batch of B = N // 10 decisions, so the bottom rung grows from N to at
   most 1.1 N during a timed batch. Rounds are repeated until the repeat holds at least
   ``min_decisions`` decisions and ``min_seconds`` of timed work.
3. Best of ``repeats`` repeats, taken round-robin over all cases. The garbage collector is off
   while timing, as in ``timeit``.

A decision is, for ``type="stopping"``, one ``on_report`` at a rung (insert, rank,
continue or stop); for ``type="promotion"``, one call: either ``suggest()`` (search the rungs
top down for a promotable trial, promote it or start a new one) or the report that follows it
at its milestone (insert, pause). A free worker therefore costs two promotion-variant calls.
"""

from __future__ import annotations

import gc
import pickle
import time

import numpy as np

from asha_lesson import ASHA, Job, randint

R_MIN, ETA, R_MAX = 1, 3, 81  # rungs 1, 3, 9, 27, 81
METRIC = "loss"
SPACE = {"x": randint(0, 10**6), "max_epochs": R_MAX}


def make_scheduler(variant: str, seed: int = 0) -> ASHA:
    return ASHA(SPACE, metric=METRIC, mode="min", type=variant, grace_period=R_MIN,
                reduction_factor=ETA, max_resource_attr="max_epochs", random_seed=seed)


def prefill(variant: str, size: int, extra: int, seed: int = 0) -> ASHA:
    """A scheduler whose bottom rung holds ``size`` scores. For the stopping variant, ``extra``
    trials are started (not yet reported) for the timed batch to report."""
    scheduler = make_scheduler(variant, seed)
    values = np.random.default_rng(seed + 1).random(4 * size + 10).tolist()
    bottom = scheduler.rung_book(R_MIN)
    i = 0
    while len(bottom) < size:
        job = scheduler.suggest()
        if not isinstance(job, Job):  # pragma: no cover - ASHA always has work
            raise RuntimeError(f"ASHA answered {job!r}")
        scheduler.on_report(job.trial_id, job.milestone, {METRIC: values[i]})
        i += 1
    if variant == "stopping":
        for _ in range(extra):
            scheduler.suggest()
    scheduler.take_transitions()  # the tuner would have logged them
    return scheduler


def _time_stopping(scheduler: ASHA, values: list[float]) -> tuple[float, float, int]:
    """Time one on_report at r_min for each of the started, not yet reported trials."""
    first = len(scheduler._trials) - len(values)  # noqa: SLF001 - the ids the prefill started
    report = scheduler.on_report
    metrics = [{METRIC: v} for v in values]
    trial_ids = range(first, first + len(values))
    cpu, start = time.process_time(), time.perf_counter()
    for trial_id, m in zip(trial_ids, metrics, strict=True):
        report(trial_id, R_MIN, m)
    return time.perf_counter() - start, time.process_time() - cpu, len(values)


def _time_promotion(scheduler: ASHA, values: list[float]) -> tuple[float, float, int]:
    """Time ``len(values)`` free workers: suggest, then the report at the job's milestone."""
    suggest, report = scheduler.suggest, scheduler.on_report
    metrics = [{METRIC: v} for v in values]
    cpu, start = time.process_time(), time.perf_counter()
    for m in metrics:
        job = suggest()
        report(job.trial_id, job.milestone, m)
    return time.perf_counter() - start, time.process_time() - cpu, 2 * len(values)


def _time_promotion_split(scheduler: ASHA, values: list[float]) -> tuple[float, float, int]:
    """Like :func:`_time_promotion`, timing suggest and report separately (adds timer calls)."""
    suggest, report, clock = scheduler.suggest, scheduler.on_report, time.perf_counter
    metrics = [{METRIC: v} for v in values]
    t_suggest = t_report = 0.0
    new = 0
    for m in metrics:
        t0 = clock()
        job = suggest()
        t1 = clock()
        report(job.trial_id, job.milestone, m)
        t2 = clock()
        t_suggest += t1 - t0
        t_report += t2 - t1
        new += job.is_new
    return t_suggest, t_report, new


class _Case:
    """One (variant, rung size): the prefilled scheduler as a pickle, and the rates so far."""

    def __init__(self, variant: str, size: int, seed: int) -> None:
        self.variant, self.size = variant, size
        self.batch = max(1, size // 10)  # the bottom rung grows by at most 10% while timed
        t0 = time.perf_counter()
        scheduler = prefill(variant, size, self.batch, seed)
        self.prefill_seconds = time.perf_counter() - t0
        self.prefilled = {level: len(scheduler.rung_book(level))
                          for level in scheduler.rung_levels_}
        self.snapshot = pickle.dumps(scheduler, pickle.HIGHEST_PROTOCOL)
        self.timer = _time_stopping if variant == "stopping" else _time_promotion
        self.rng = np.random.default_rng(seed + 2)
        self.rates: list[float] = []
        self.cpu_rates: list[float] = []  # the same on CPU time: far above rates = a busy machine
        self.largest = size

    def repeat(self, min_decisions: int, min_seconds: float) -> None:
        """Time fresh copies of the prefilled scheduler until there is enough to go on."""
        seconds, cpu_seconds, decisions = 0.0, 0.0, 0
        while decisions < min_decisions or seconds < min_seconds:
            scheduler = pickle.loads(self.snapshot)
            dt, cpu, n = self.timer(scheduler, self.rng.random(self.batch).tolist())
            seconds += dt
            cpu_seconds += cpu
            decisions += n
            self.largest = max(self.largest, len(scheduler.rung_book(R_MIN)))
            del scheduler
        self.rates.append(decisions / seconds)
        self.cpu_rates.append(decisions / cpu_seconds if cpu_seconds else float("nan"))

    def result(self) -> dict:
        best = max(self.rates)
        out = {
            "variant": self.variant, "rung_size": self.size, "batch": self.batch,
            "bottom_rung_during_batch": [self.size, self.largest],
            "rung_sizes_prefilled": self.prefilled,
            "decisions_per_second": best, "us_per_decision": 1e6 / best,
            "repeats_decisions_per_second": self.rates,
            "repeats_decisions_per_cpu_second": self.cpu_rates,
            "prefill_seconds": self.prefill_seconds,
        }
        if self.variant == "promotion":
            out["free_worker_decisions_per_second"] = best / 2  # suggest + report
            out["us_per_free_worker"] = 2e6 / best
            t_suggest, t_report, new = _time_promotion_split(
                pickle.loads(self.snapshot), self.rng.random(self.batch).tolist())
            out["split_with_timers"] = {"suggest_us": 1e6 * t_suggest / self.batch,
                                        "report_us": 1e6 * t_report / self.batch,
                                        "share_new_trials": new / self.batch}
        return out


def run(sizes=(1_000, 10_000, 100_000), variants=("stopping", "promotion"), *, repeats: int = 5,
        min_decisions: int = 20_000, min_seconds: float = 0.1, seed: int = 0,
        progress=None) -> dict:
    """Every (variant, size), repeats taken round-robin so that a burst of other work on the
    machine slows all sizes alike instead of skewing the slowdown ratio."""
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # as timeit does; restoring snapshots also goes faster without it
    try:
        cases = [_Case(v, n, seed) for v in variants for n in sizes]
        for _ in range(repeats):
            for case in cases:
                case.repeat(min_decisions, min_seconds)
        rows = []
        for case in cases:
            rows.append(case.result())
            if progress:
                progress(rows[-1])
    finally:
        if gc_was_enabled:
            gc.enable()
        gc.collect()
    summary = {}
    for v in variants:
        rate = {r["rung_size"]: r["decisions_per_second"] for r in rows if r["variant"] == v}
        lo, hi = min(rate), max(rate)
        summary[v] = {**{f"rate_{n:.0e}".replace("+0", ""): rate[n] for n in sorted(rate)},
                      "slowdown": rate[lo] / rate[hi], "slowdown_from": lo, "slowdown_to": hi}
    return {"rows": rows, "summary": summary}


if __name__ == "__main__":
    import json
    print(json.dumps(run(), indent=1))
