"""Simulated trials per second through the real Tuner + SimulatedBackend + a scheduler.

Each run starts ``n_trials`` trials on ``n_workers`` workers (StoppingCriterion(
max_num_trials_started=n_trials)) and lasts until every started trial has nothing left to do.
The clock is the wall clock around building the Tuner and ``Tuner.run()``.

Two objectives:

* ``SyntheticLeNet(max_epochs=81, straggler_spread=0.5)``: curves computed on the fly (two numpy
  generators are seeded per epoch, which is most of its cost);
* a :class:`~asha_lesson.LearningCurveTable` recorded from that same SyntheticLeNet for
  ``table_rows`` sampled configs: a lookup per epoch, like the tabulated benchmarks behind Syne
  Tune's simulator, so the time measured is the tuner's, the scheduler's and the backend's own.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from asha_lesson import (
    ASHA,
    LearningCurveTable,
    RandomSearch,
    SimulatedBackend,
    StoppingCriterion,
    SynchronousSuccessiveHalving,
    SyntheticLeNet,
    Tuner,
)
from asha_lesson.config_space import sample_config
from asha_lesson.events import dumps_event

MAX_EPOCHS = 81  # r_max; with r_min=1 and eta=3 the rungs are 1, 3, 9, 27, 81
METRIC = "validation_error"
KINDS = ("asha_stopping", "asha_promotion", "synchronous_sh", "random_search")


def synthetic() -> SyntheticLeNet:
    return SyntheticLeNet(max_epochs=MAX_EPOCHS, straggler_spread=0.5)


def table(rows: int = 1000, seed: int = 0) -> LearningCurveTable:
    """``rows`` configs sampled from SyntheticLeNet's space, their curves recorded."""
    lenet = synthetic()
    rng = np.random.default_rng(seed)
    space = {k: v for k, v in lenet.config_space.items() if k != "max_epochs"}
    configs = [sample_config(space, rng) for _ in range(rows)]
    curves = [[lenet(config, epoch) for epoch in range(1, MAX_EPOCHS + 1)] for config in configs]
    values = {name: np.array([[metrics[name] for metrics, _ in curve] for curve in curves])
              for name in curves[0][0][0]}
    seconds = np.array([[s for _, s in curve] for curve in curves])
    return LearningCurveTable(configs, values, seconds, name=f"synthetic_lenet_table_{rows}")


def make_scheduler(kind: str, config_space: dict, seed: int = 0):
    common = dict(metric=METRIC, mode="min", max_resource_attr="max_epochs", random_seed=seed,
                  grace_period=1, reduction_factor=3)
    if kind == "asha_stopping":
        return ASHA(config_space, type="stopping", **common)
    if kind == "asha_promotion":
        return ASHA(config_space, type="promotion", **common)
    if kind == "synchronous_sh":
        return SynchronousSuccessiveHalving(config_space, **common)
    if kind == "random_search":
        return RandomSearch(config_space, **common)
    raise ValueError(f"kind={kind!r} must be one of {KINDS}")


@contextlib.contextmanager
def _temporary_home():
    """ASHA_LESSON_HOME pointed at a fresh temporary folder, restored afterwards."""
    old = os.environ.get("ASHA_LESSON_HOME")
    with tempfile.TemporaryDirectory(prefix="asha-bench-") as home:
        os.environ["ASHA_LESSON_HOME"] = home
        try:
            yield Path(home)
        finally:
            if old is None:
                os.environ.pop("ASHA_LESSON_HOME", None)
            else:
                os.environ["ASHA_LESSON_HOME"] = old


def _tuner(kind: str, objective, n_trials: int, n_workers: int, save: bool, seed: int) -> Tuner:
    return Tuner(SimulatedBackend(objective), make_scheduler(kind, objective.config_space, seed),
                 StoppingCriterion(max_num_trials_started=n_trials), n_workers=n_workers,
                 save=save)


class Run(NamedTuple):
    seconds: float  # wall clock around building the tuner and Tuner.run()
    cpu_seconds: float  # this process's CPU time over the same span: far less = a busy machine
    tuner: Tuner
    lines: list[str]  # the event log as JSON lines
    written: str | None  # the text of events.jsonl, when the run saved its log


def run_once(kind: str, objective, n_trials: int, n_workers: int = 64, *, save: bool = False,
             seed: int = 0) -> Run:
    """One run; only building the tuner and running it are timed."""
    cpu, start = time.process_time(), time.perf_counter()
    tuner = _tuner(kind, objective, n_trials, n_workers, save, seed)
    tuner.run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    written = (tuner.path / "events.jsonl").read_text() if save else None
    return Run(seconds, cpu, tuner, [dumps_event(e) for e in tuner.events], written)


def measure(kind: str, objective, n_trials: int, n_workers: int = 64, *, repeats: int = 2,
            seed: int = 0) -> dict:
    """Best of ``repeats`` in-memory runs and of ``repeats`` runs saving their log (taken in
    turn), and whether every one of them logged exactly the same events."""
    memory = [run_once(kind, objective, n_trials, n_workers, seed=seed)]
    saved = []
    for i in range(repeats):
        if i:
            memory.append(run_once(kind, objective, n_trials, n_workers, seed=seed))
        with _temporary_home():
            saved.append(run_once(kind, objective, n_trials, n_workers, save=True, seed=seed))
    logs = [run.lines for run in memory + saved]
    times, saved_times = [run.seconds for run in memory], [run.seconds for run in saved]
    tuner = memory[0].tuner
    expected = "".join(line + "\n" for line in logs[0])
    reproducible = all(lines == logs[0] for lines in logs) and all(
        run.written == expected for run in saved)
    saved_seconds = min(saved_times)
    kinds = Counter(e.kind.value for e in tuner.events)
    best = min(times)
    return {
        "scheduler": kind, "objective": getattr(objective, "name", type(objective).__name__),
        "n_trials": n_trials, "n_workers": n_workers, "seed": seed,
        "seconds": best, "seconds_all": times,
        "cpu_seconds_all": [run.cpu_seconds for run in memory],
        "cpu_per_wall_of_best": min(memory, key=lambda run: run.seconds).cpu_seconds / best,
        "trials_per_second": n_trials / best, "ms_per_trial": 1e3 * best / n_trials,
        "reports": kinds["reported"], "reports_per_second": kinds["reported"] / best,
        "events": len(logs[0]), "virtual_seconds": tuner.trial_backend.clock(),
        "saved_seconds": saved_seconds, "saved_trials_per_second": n_trials / saved_seconds,
        "saved_seconds_all": saved_times,
        "saved_cpu_seconds_all": [run.cpu_seconds for run in saved],
        "saved_log_bytes": len(expected.encode()),
        "reproducible": reproducible,
        "event_counts": dict(sorted(kinds.items())),
    }


# -- where the time goes -------------------------------------------------------------------------

class _Clock:
    """Accumulates seconds per label for wrapped callables."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, label: str, fn):
        clock, seconds, calls = time.perf_counter, self.seconds, self.calls

        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[label] += clock() - t0
                calls[label] += 1
        return timed


def attribute(kind: str, objective, n_trials: int, n_workers: int = 64, *, save: bool = False,
              seed: int = 0) -> dict:
    """One run with timers around every scheduler, backend, objective and event-log call.

    The tuner's own share is what is left: the loop, Event objects, bookkeeping in tuner.py.
    Nested time is counted once: ``backend`` excludes the objective it calls, ``event_log``
    the JSON-lines writer (``storage``) it calls. The timers add a fraction of a microsecond per
    call; ``overhead_seconds`` estimates that and leaves it out of every share.
    """
    from asha_lesson import storage  # EventWriter, subscribed inside Tuner.run when saving

    clock = _Clock()
    timed_objective = clock.wrap("objective", objective)
    backend = SimulatedBackend(timed_objective)
    for name in ("open", "start", "answer", "next_event", "clock", "halt", "close"):
        setattr(backend, name, clock.wrap("backend", getattr(backend, name)))
    scheduler = make_scheduler(kind, objective.config_space, seed)
    for name in ("suggest", "on_report", "on_complete", "on_fail", "on_halt",
                 "take_transitions", "status"):
        setattr(scheduler, name, clock.wrap("scheduler", getattr(scheduler, name)))
    writer_call = storage.EventWriter.__call__
    storage.EventWriter.__call__ = clock.wrap("storage", writer_call)
    try:
        with _temporary_home() if save else contextlib.nullcontext():
            start = time.perf_counter()
            tuner = Tuner(backend, scheduler, StoppingCriterion(max_num_trials_started=n_trials),
                          n_workers=n_workers, save=save)
            tuner.events.append = clock.wrap("event_log", tuner.events.append)
            tuner.run()
            total = time.perf_counter() - start
    finally:
        storage.EventWriter.__call__ = writer_call
    # Nested timers: the backend calls the objective, the event log calls the writer.
    own = dict(clock.seconds)
    own["backend"] = own.get("backend", 0.0) - own.get("objective", 0.0)
    own["event_log"] = own.get("event_log", 0.0) - own.get("storage", 0.0)
    per_call = _timer_cost()
    overhead = per_call * sum(clock.calls.values())
    own["tuner"] = total - sum(clock.seconds[k] for k in ("backend", "scheduler", "event_log")) \
        - overhead
    return {
        "scheduler": kind, "objective": getattr(objective, "name", type(objective).__name__),
        "save": save, "n_trials": n_trials, "total_seconds": total,
        "overhead_seconds": overhead,
        "seconds": {k: round(v, 4) for k, v in sorted(own.items())},
        "share": {k: round(v / (total - overhead), 3) for k, v in sorted(own.items())},
        "calls": dict(sorted(clock.calls.items())),
        "us_per_call": {k: round(1e6 * own[k] / clock.calls[k], 2) for k in sorted(clock.calls)},
    }


def _timer_cost(n: int = 100_000) -> float:
    """Seconds a _Clock wrapper adds to one call (measured on a no-op)."""
    clock = _Clock()
    noop = clock.wrap("noop", lambda: None)
    start = time.perf_counter()
    for _ in range(n):
        noop()
    wrapped = time.perf_counter() - start
    bare = lambda: None  # noqa: E731
    start = time.perf_counter()
    for _ in range(n):
        bare()
    return max(0.0, (wrapped - (time.perf_counter() - start)) / n)


def profile_top(kind: str, objective, n_trials: int, n_workers: int = 64, *, top: int = 15,
                seed: int = 0) -> list[dict]:
    """cProfile's busiest functions (own time) for one in-memory run. cProfile inflates cheap
    calls, so read the shares as an order, not as exact fractions."""
    import cProfile
    import pstats

    tuner = _tuner(kind, objective, n_trials, n_workers, False, seed)
    profiler = cProfile.Profile()
    profiler.enable()
    tuner.run()
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = sum(row[2] for row in stats.values())
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    return [{"function": f"{path.replace(root, '')}:{line}({name})", "calls": row[1],
             "own_seconds": round(row[2], 4), "own_share": round(row[2] / total, 3),
             "cumulative_seconds": round(row[3], 4)}
            for (path, line, name), row in rows]
