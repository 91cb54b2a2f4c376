"""asha_lesson against its peers: decision cost vs rung size, and simulator speed.

    python benchmarks/peers.py                     # writes benchmarks/results/peers.json
    /work/peers-venv/bin/python benchmarks/peers.py  # the same, with the peers installed
    python benchmarks/peers.py simulator           # one part; the other is kept in the file

The peers are the optional ``bench-peers`` extra (``pip install asha_lesson[bench-peers]``:
syne-tune, optuna). A peer that is not importable is skipped with a message; asha_lesson is
always measured, so ratios appear only where both ran in the same process.

1. Decision cost at a rung holding N = 1e3, 1e4, 1e5 scores (random values, r_min = 1, eta = 3):
   * asha_lesson: ``benchmarks/decisions.py`` (one ``on_report`` at r_min, stopping variant;
     ``suggest`` + report, promotion variant);
   * Syne Tune ``ASHA`` (stopping): one ``on_trial_result`` at r_min for a new trial. Its rung is
     prefilled by writing the N scores into the bracket's rung dict (what N results would leave
     there; reporting them one by one costs O(N^2 log N) because each decision sorts the rung);
   * Optuna ``SuccessiveHalvingPruner``: one ``trial.should_prune()`` after ``trial.report(v, 1)``
     in an in-memory study holding N completed trials that passed rung 0. Each timed call is
     followed (untimed) by ``study.tell(trial, PRUNED)``.
   Peers' calls are timed until ``--cap`` seconds or 2,000 calls per N, best of 3 rounds.
2. The simulator: the shipped LeNet-digits table's first 10 epochs, 8 workers, ASHA stopping
   variant (r_min 1, eta 3, r_max 10), a fixed simulated budget; wall time of the whole run in
   each library, and whether two runs from the same seed give the same results.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import logging
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks import decisions  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
R_MIN, ETA, R_MAX = 1, 3, 10
RESULTS = ROOT / "benchmarks" / "results"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def versions() -> dict:
    out = {}
    for name in ("syne_tune", "optuna"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "unknown")
        except ImportError:
            out[name] = None
    return out


# -- decision cost --------------------------------------------------------------------------------

def _timed_rounds(call_once, cap: float, max_calls: int = 2000, rounds: int = 3) -> dict:
    """Best calls-per-second over ``rounds`` rounds, each timed until ``cap`` s or max_calls."""
    rates = []
    for _ in range(rounds):
        spent, calls = 0.0, 0
        while spent < cap and calls < max_calls:
            spent += call_once()
            calls += 1
        rates.append(calls / spent)
    return {"decisions_per_second": max(rates), "us_per_decision": 1e6 / max(rates),
            "rounds_decisions_per_second": rates, "calls_last_round": calls}


def syne_tune_decisions(size: int, cap: float, seed: int = 0) -> dict:
    from syne_tune.backend.trial_status import Trial
    from syne_tune.config_space import randint
    from syne_tune.optimizer.baselines import ASHA

    scheduler = ASHA({"x": randint(0, 10**6), "epochs": R_MAX}, metric="loss",
                     time_attr="epoch", max_t=R_MAX, grace_period=R_MIN, reduction_factor=ETA,
                     random_seed=seed)
    rng = np.random.default_rng(seed + 1)
    bracket = scheduler.brackets[0]
    milestone, recorded = bracket.rungs[-1]  # rungs are kept top down: the last is r_min
    if milestone != R_MIN:
        raise RuntimeError(f"Syne Tune's bottom rung is {milestone}, expected {R_MIN}")
    for i, value in enumerate(rng.random(size)):
        recorded[-1 - i] = {"loss": float(value)}  # ids that never clash with new trials
    now = datetime.now()
    state = {"next": 0}

    def call_once() -> float:
        trial = Trial(trial_id=state["next"], config={"x": 1, "epochs": R_MAX},
                      creation_time=now)
        state["next"] += 1
        scheduler.on_trial_add(trial)
        result = {"loss": float(rng.random()), "epoch": R_MIN}
        start = time.perf_counter()
        scheduler.on_trial_result(trial, result)
        return time.perf_counter() - start

    out = _timed_rounds(call_once, cap)
    out["rung_size_after"] = len(recorded)
    return out


def optuna_decisions(size: int, cap: float, seed: int = 0) -> dict:
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=R_MIN, reduction_factor=ETA,
                                                    min_early_stopping_rate=0)
    study = optuna.create_study(direction="minimize", pruner=pruner,
                                storage=optuna.storages.InMemoryStorage())
    rng = np.random.default_rng(seed + 1)
    t0 = time.perf_counter()
    study.add_trials([create_trial(state=TrialState.COMPLETE, value=float(v),
                                   intermediate_values={R_MIN: float(v)},
                                   system_attrs={"completed_rung_0": float(v)})
                      for v in rng.random(size)])
    prefill = time.perf_counter() - t0

    def call_once() -> float:
        trial = study.ask()
        trial.report(float(rng.random()), R_MIN)
        start = time.perf_counter()
        trial.should_prune()
        spent = time.perf_counter() - start
        study.tell(trial, state=TrialState.PRUNED)
        return spent

    out = _timed_rounds(call_once, cap)
    out["prefill_seconds"] = prefill
    out["trials_after"] = len(study.get_trials(deepcopy=False))
    return out


def decision_costs(sizes, cap: float, available: dict) -> dict:
    log("asha_lesson decisions ...")
    ours = decisions.run(sizes, ("stopping", "promotion"), repeats=3, min_decisions=5000)
    rows = {"asha_lesson_stopping": {}, "asha_lesson_promotion": {}}
    for row in ours["rows"]:
        rows[f"asha_lesson_{row['variant']}"][str(row["rung_size"])] = {
            "decisions_per_second": row["decisions_per_second"],
            "us_per_decision": row["us_per_decision"]}
    peers = {"syne_tune_asha_stopping": (syne_tune_decisions, "syne_tune"),
             "optuna_successive_halving_pruner": (optuna_decisions, "optuna")}
    skipped = {}
    for label, (measure, module) in peers.items():
        if not available[module]:
            skipped[label] = f"skipped: {module.replace('_', '-')} not installed"
            log(skipped[label])
            continue
        rows[label] = {}
        for size in sizes:
            log(f"{label} at N={size} ...")
            gc.collect()
            gc.disable()
            try:
                rows[label][str(size)] = measure(size, cap)
            finally:
                gc.enable()
    ratios = {}
    base = rows["asha_lesson_stopping"]
    for label in peers:
        if label in rows:
            ratios[f"asha_lesson_stopping_vs_{label}"] = {
                size: base[size]["decisions_per_second"] / rows[label][size][
                    "decisions_per_second"] for size in rows[label]}
    slowdown = {label: r[str(min(sizes))]["decisions_per_second"]
                / r[str(max(sizes))]["decisions_per_second"] for label, r in rows.items()}
    return {"rows": rows, "ratios_rate": ratios, "slowdown_1e3_to_1e5": slowdown,
            "skipped": skipped}


# -- simulators -----------------------------------------------------------------------------------

def ours_simulated(table, n_workers: int, budget: float, seed: int) -> tuple[float, list]:
    from asha_lesson import ASHA, SimulatedBackend, StoppingCriterion, Tuner
    from asha_lesson.events import EventKind

    start = time.perf_counter()
    scheduler = ASHA(table.config_space, metric="validation_error", mode="min",
                     type="stopping", max_resource_attr="max_epochs", grace_period=R_MIN,
                     reduction_factor=ETA, random_seed=seed)
    tuner = Tuner(SimulatedBackend(table), scheduler,
                  StoppingCriterion(max_wallclock_time=budget), n_workers=n_workers,
                  save=False, progress=False)
    tuner.run()
    seconds = time.perf_counter() - start
    configs = {e.trial_id: e.data["config"]["config_id"] for e in tuner.events
               if e.kind is EventKind.TRIAL_STARTED}
    results = [(e.trial_id, configs[e.trial_id], e.resource, round(e.time, 6))
               for e in tuner.events if e.kind is EventKind.REPORTED]
    return seconds, results


def syne_tune_simulated(table, n_workers: int, budget: float, seed: int,
                        tuner_sleep_time: float = 5.0) -> tuple[float, list]:
    """Syne Tune's own simulator. ``tuner_sleep_time`` (simulated seconds the clock advances
    each time the tuner loop finds nothing new; 5 s is Syne Tune's default) quantises when a
    free worker gets its next job."""
    import pandas as pd
    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.blackbox_repository.blackbox_tabular import BlackboxTabular
    from syne_tune.blackbox_repository.simulated_tabular_backend import UserBlackboxBackend
    from syne_tune.config_space import randint
    from syne_tune.optimizer.baselines import ASHA

    n = len(table)
    # A constant second column: with one hyperparameter column, BlackboxTabular's look-up
    # (.loc[tuple] on a flat pandas Index) raises under pandas 3.
    space = {"config_id": randint(0, n - 1), "pad": randint(0, 0)}
    elapsed = np.cumsum(table.seconds, axis=1)  # Syne Tune wants time since the trial started
    loss = np.where(np.isfinite(table.values["validation_loss"]),
                    table.values["validation_loss"], 1e6)
    evaluations = np.stack([table.values["validation_error"], loss, elapsed], axis=-1)
    blackbox = BlackboxTabular(
        hyperparameters=pd.DataFrame({"config_id": np.arange(n), "pad": np.zeros(n, int)}),
        configuration_space=space,
        fidelity_space={"epoch": randint(1, table.max_epochs)},
        objectives_evaluations=evaluations[:, None, :, :],
        objectives_names=["validation_error", "validation_loss", "elapsed_time"])
    start = time.perf_counter()
    backend = UserBlackboxBackend(blackbox=blackbox, elapsed_time_attr="elapsed_time", seed=0,
                                  tuner_sleep_time=tuner_sleep_time)
    scheduler = ASHA(space, metric="validation_error", time_attr="epoch",
                     max_t=table.max_epochs, grace_period=R_MIN, reduction_factor=ETA,
                     random_seed=seed)
    logging.getLogger("syne_tune").setLevel(logging.ERROR)  # its status tables, not timed
    callback = SimulatorCallback()
    tuner = Tuner(trial_backend=backend, scheduler=scheduler,
                  stop_criterion=StoppingCriterion(max_wallclock_time=budget),
                  n_workers=n_workers, sleep_time=0, callbacks=[callback],
                  results_update_interval=1e9, print_update_interval=1e9, save_tuner=False)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        tuner.run()
    seconds = time.perf_counter() - start
    frame = callback.dataframe()
    results = [(int(r.trial_id), int(r.config_config_id), int(r.epoch),
                round(float(r.st_tuner_time), 6)) for r in frame.itertuples()]
    return seconds, results


def simulators(available: dict, n_workers: int, budget: float, seed: int = 0,
               table_path: str | None = None) -> dict:
    from asha_lesson import LearningCurveTable
    from asha_lesson.benchmark_tables import load_lenet_digits_table
    # The lecture's r_max: the shipped table's first 10 epochs.
    table = (LearningCurveTable.load(table_path) if table_path
             else load_lenet_digits_table()).first_epochs(10)
    out = {"table": table.name, "n_workers": n_workers, "budget_simulated_seconds": budget,
           "scheduler": "ASHA stopping, r_min 1, eta 3, r_max 10", "seed": seed}
    runs = {"asha_lesson": ours_simulated}
    if available["syne_tune"]:
        runs["syne_tune"] = syne_tune_simulated  # its default tuner_sleep_time, 5 s
        runs["syne_tune_sleep_0.05"] = functools.partial(syne_tune_simulated,
                                                         tuner_sleep_time=0.05)
    else:
        out["syne_tune"] = "skipped: syne-tune not installed"
        log(out["syne_tune"])
    for label, run in runs.items():
        log(f"{label} simulator ...")
        with tempfile.TemporaryDirectory(prefix="peers-") as folder:
            os.environ["SYNETUNE_FOLDER"] = folder  # keep Syne Tune's files out of ~
            first = run(table, n_workers, budget, seed)
            second = run(table, n_workers, budget, seed)
        seconds = min(first[0], second[0])
        out[label] = {"wall_seconds": seconds, "wall_seconds_both": [first[0], second[0]],
                      "reports": len(first[1]),
                      "trials": len({r[0] for r in first[1]}),
                      "reports_per_second": len(first[1]) / seconds,
                      "reproducible_from_seed": first[1] == second[1]}
    if "syne_tune" in runs:
        for label in ("syne_tune", "syne_tune_sleep_0.05"):
            out[f"asha_lesson_vs_{label}"] = {
                "reports_per_second": out["asha_lesson"]["reports_per_second"]
                / out[label]["reports_per_second"],
                "wall_seconds": out[label]["wall_seconds"] / out["asha_lesson"]["wall_seconds"]}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", metavar="part",
                        help="decisions and/or simulator (default: both)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--cap", type=float, default=2.0,
                        help="seconds of timed calls per peer, rung size and round")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--budget", type=float, default=600.0,
                        help="simulated seconds per simulator run")
    parser.add_argument("--table", default=None, help="a table JSON (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=RESULTS / "peers.json")
    args = parser.parse_args(argv)
    args.parts = args.parts or ["decisions", "simulator"]
    unknown = sorted(set(args.parts) - {"decisions", "simulator"})
    if unknown:
        parser.error(f"unknown parts {unknown}: choose from decisions, simulator")
    found = versions()
    available = {k: v is not None for k, v in found.items()}
    for name, version in found.items():
        if version is None:
            print(f"skipped: {name.replace('_', '-')} not installed "
                  "(pip install 'asha_lesson[bench-peers]')")
    from benchmarks.run import environment
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result.update({"environment": environment(), "versions": found})
    if "decisions" in args.parts:
        result["decisions"] = decision_costs(args.sizes, args.cap, available)
        print(json.dumps({k: result["decisions"][k] for k in (
            "ratios_rate", "slowdown_1e3_to_1e5", "skipped")}, indent=1))
    if "simulator" in args.parts:
        result["simulator"] = simulators(available, args.workers, args.budget,
                                         table_path=args.table)
        print(json.dumps(result["simulator"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float))
    log(f"wrote {args.out} (parts: {', '.join(args.parts)}; others kept from the last run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
