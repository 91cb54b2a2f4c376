"""Real training on the thread backend: throughput, busy time and the tuner's own overhead.

    python benchmarks/threads.py              # 2-minute runs (about 9 minutes in all)
    python benchmarks/threads.py --seconds 30 # a quicker look
    python benchmarks/threads.py --dask       # also DaskBackend's worker processes (+5 minutes)

Measures, on this machine, LeNet on scikit-learn's digits under ASHA (promotion):
- epochs per second with 1 worker and with 2 workers (target: 2 workers >= 1.8x one);
- the fraction of worker time spent training (target >= 97% for ASHA), and synchronous SH's in
  the same setting, whose idle time is the lesson;
- the tuner's overhead per decision: a report's round trip from a trial to the scheduler and
  back, with the event written to disk, measured with a function that does no training;
- with --dask, the same ASHA run on DaskBackend (one process per worker) with 1 and 2 workers,
  which shares no interpreter lock between workers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asha_lesson import (ASHA, PythonBackend, Reporter, StoppingCriterion,  # noqa: E402
                         SynchronousSuccessiveHalving, Tuner, loguniform, randint)

SPACE = {"learning_rate": loguniform(1e-2, 1), "batch_size": randint(32, 256), "max_epochs": 10}


def scheduler(kind: str, seed: int):
    common = dict(metric="validation_error", mode="min", max_resource_attr="max_epochs",
                  grace_period=1, reduction_factor=2, random_seed=seed)
    if kind == "synchronous_sh":
        return SynchronousSuccessiveHalving(SPACE, **common)
    return ASHA(SPACE, type="promotion", **common)


def training_run(kind: str, n_workers: int, seconds: float, seed: int, torch_threads=None,
                 backend: str = "threads"):
    from asha_lesson.training import DigitsData, hpo_objective_lenet
    objective = partial(hpo_objective_lenet, data=DigitsData)
    if backend == "dask":  # one process per worker, one torch thread each: no shared GIL
        from asha_lesson import DaskBackend
        trial_backend = DaskBackend(objective, torch_threads=torch_threads or 1)
    else:
        trial_backend = PythonBackend(objective, torch_threads=torch_threads)
    tuner = Tuner(trial_backend, scheduler(kind, seed),
                  StoppingCriterion(max_wallclock_time=seconds), n_workers=n_workers,
                  progress=False)
    experiment = tuner.run()
    epochs = len(experiment.results)
    default_threads = 1 if backend == "dask" else max(1, (os.cpu_count() or 1) // n_workers)
    return {"scheduler": kind, "backend": backend, "n_workers": n_workers,
            "torch_threads_per_worker": torch_threads or default_threads,
            "seconds": seconds, "epochs": epochs, "epochs_per_second": round(epochs / seconds, 3),
            "trials": int(experiment.results["trial_id"].nunique()),
            "busy_fraction": round(experiment.busy_fraction(), 4),
            # None when the budget ended before any epoch did (a very short --seconds)
            "best_validation_error": round(float(experiment.best()["validation_error"]), 4)
            if epochs else None}


def _no_training(n_reports: int, max_epochs: int) -> None:
    report = Reporter()
    for epoch in range(1, n_reports + 1):
        report(epoch=epoch, validation_error=1.0 / epoch)


def overhead_per_decision(n_reports: int = 20_000) -> dict:
    space = {"n_reports": n_reports, "max_epochs": n_reports}
    s = ASHA(space, metric="validation_error", max_resource_attr="max_epochs", type="stopping",
             grace_period=1, reduction_factor=3, random_seed=0)
    tuner = Tuner(PythonBackend(_no_training), s, StoppingCriterion(max_num_results=n_reports),
                  n_workers=1, progress=False)
    started = time.perf_counter()
    experiment = tuner.run()
    elapsed = time.perf_counter() - started
    return {"reports": len(experiment.results), "seconds": round(elapsed, 3),
            "microseconds_per_decision": round(1e6 * elapsed / len(experiment.results), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/threads.json")
    parser.add_argument("--dask", action="store_true",
                        help="also run ASHA on DaskBackend (worker processes) with 1 and 2 workers")
    args = parser.parse_args()
    os.environ.setdefault("ASHA_LESSON_HOME", tempfile.mkdtemp(prefix="bench-threads-"))
    runs = [training_run("asha_promotion", 1, args.seconds, args.seed),
            training_run("asha_promotion", 1, args.seconds, args.seed, torch_threads=1),
            training_run("asha_promotion", 2, args.seconds, args.seed),
            training_run("synchronous_sh", 2, args.seconds, args.seed)]
    one, one_thread, two, sync = runs
    dask_runs = [training_run("asha_promotion", n, args.seconds, args.seed, backend="dask")
                 for n in (1, 2)] if args.dask else []
    runs += dask_runs
    summary = {
        "command": "python " + " ".join(sys.argv),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "runs": runs,
        "speedup_2_workers_vs_1": round(two["epochs"] / one["epochs"], 3),
        "speedup_2_workers_vs_1_at_one_thread": round(two["epochs"] / one_thread["epochs"], 3),
        "dask_speedup_2_workers_vs_1": round(dask_runs[1]["epochs"] / dask_runs[0]["epochs"], 3)
        if dask_runs else None,
        "overhead": overhead_per_decision(),
        "targets": {"speedup_2_vs_1": ">= 1.8", "asha_busy_fraction": ">= 0.97"},
    }
    print(json.dumps(summary, indent=2))
    print(f"\n{'scheduler':16} {'backend':>7} {'workers':>7} {'threads':>7} {'epochs/s':>9} "
          f"{'busy':>7} {'trials':>6} {'best':>7}")
    for r in runs:
        print(f"{r['scheduler']:16} {r['backend']:>7} {r['n_workers']:>7} "
              f"{r['torch_threads_per_worker']:>7} {r['epochs_per_second']:>9.2f} "
              f"{r['busy_fraction']:>7.1%} {r['trials']:>6} "
              f"{r['best_validation_error'] or float('nan'):>7.3f}")
    print(f"2 workers vs 1: {summary['speedup_2_workers_vs_1']}x "
          f"(vs 1 worker on one thread: {summary['speedup_2_workers_vs_1_at_one_thread']}x); "
          f"tuner overhead {summary['overhead']['microseconds_per_decision']} us per decision")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
