"""Time to target on the shipped LeNet-on-digits table: ASHA (both variants), synchronous SH and
random search, 1 to 64 workers, 30 seeds each, on the simulated backend.

    python benchmarks/time_to_target.py             # writes benchmarks/results/time_to_target.json
                                                    # and benchmarks/figures/ttt_*.png
    python benchmarks/time_to_target.py --seeds 3 --workers 1 8 --out /tmp/ttt   # a smoke test

Fixed in advance, from the table alone:

* target: the error only the best 5% of the table's configs reach at r_max, i.e. the
  ceil(0.05 n)-th smallest final (epoch r_max) validation error;
* near-best: the table's best final error + 0.01, and the time to train that best config alone
  (the sum of its r_max epochs' seconds); the target is reaching near-best within 2x that time.

A run's time to a threshold is the first simulated time (st_tuner_time) at which the incumbent,
the best validation error reported so far at any epoch, is at or below it; NaN if never within
the budget (misses are counted). Schedulers share r_min = 1, eta = 3 (Syne Tune's defaults;
rungs 1, 3, 9, 27, 81 on the 81-epoch table) and rank ties in validation_error by
validation_loss. Synchronous SH starts max(eta**(K-1), n_workers) configs per bracket for K rungs
(eta**(K-1) takes one config to r_max; more workers than that would otherwise idle from the start).
Each run's budget is the table's mean time to train one config to r_max times max(36, 240 / n)
for n workers: long enough that the baselines mostly reach the target (misses are counted).

Mispromotion (ASHA promotion variant): a promotion out of rung k is a mispromotion if, at the end
of the run, the promoted trial is not in the top floor(n_k / eta) of rung k's final book (n_k
entries). Counted per final rung size n_k, pooled over all seeds and worker counts, and over 12
budgets per run (10 s to the run's budget, log-spaced): a run cut at time t is the prefix of a
longer one, so each cut is the end of a shorter run. Points from one run are correlated.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from asha_lesson import (ASHA, LearningCurveTable, RandomSearch, SimulatedBackend,  # noqa: E402
                         StoppingCriterion, SynchronousSuccessiveHalving, Tuner)
from asha_lesson.benchmark_tables import load_lenet_digits_table  # noqa: E402
from asha_lesson.events import EventKind, dumps_event  # noqa: E402
from asha_lesson.rungs import rung_levels  # noqa: E402

SCHEDULERS = ("asha_promotion", "asha_stopping", "synchronous_sh", "random_search")
EXTRA_8_WORKERS = ("synchronous_sh_x3",)  # sync SH with 3x the configs per bracket, 8 workers only
WORKERS = (1, 2, 4, 8, 16, 32, 64)
METRIC, TIE_BREAK = "validation_error", "validation_loss"
R_MIN, ETA = 1, 3
RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "benchmarks" / "figures"
GRID = np.geomspace(1.0, 100_000.0, 101)  # seconds at which incumbent curves are sampled
BUCKETS = (3, 10, 30, 100, 300, 1000, 3000, 10**9)  # final rung sizes for mispromotions
TARGETS = {"asha_vs_sync_sh": 0.5, "asha_vs_random": 0.3, "near_best_vs_single_model": 2.0}


def budget(n_workers: int, table: LearningCurveTable) -> float:
    """Simulated seconds per run: long enough that the baselines mostly reach the target.
    Random search trains 240 configs in it on any number of workers up to 6 (each ends at the
    target with about 5% chance), and a worker trains 36 configs on more."""
    one_config = float(table.seconds.sum(axis=1).mean())
    return round(one_config * max(36.0, 240.0 / n_workers), 1)


def bracket_size(n_workers: int, table: LearningCurveTable, r_min: int = R_MIN,
                 eta: int = ETA) -> int:
    """Synchronous SH's configs per bracket: enough to take one config to r_max, or one per
    worker if there are more workers than that."""
    return max(eta ** (len(rung_levels(r_min, table.max_epochs, eta)) - 1), n_workers)


def thresholds(table: LearningCurveTable) -> dict:
    final = table.values[METRIC][:, -1]
    k = math.ceil(0.05 * len(final))
    order = np.lexsort((table.seconds.sum(axis=1), final))  # best final error, then fastest
    best = int(order[0])
    target = float(np.sort(final)[k - 1])
    return {"target": target, "configs_reaching_target": int((final <= target).sum()),
            "best_final_error": float(final[best]), "near_best": float(final[best] + 0.01),
            "best_config_id": best, "best_config": table.configs[best],
            "best_config_seconds": float(table.seconds[best].sum()),
            "floor_time_to_target": _floor(table, target),
            "floor_time_to_near_best": _floor(table, float(final[best] + 0.01))}


def _floor(table: LearningCurveTable, threshold: float) -> dict:
    """The fastest any scheduler could get there: the config that reaches ``threshold`` (at
    any epoch) soonest, started at time 0. Also how many configs ever reach it."""
    hit = table.values[METRIC] <= threshold
    elapsed = np.cumsum(table.seconds, axis=1)
    first = np.where(hit.any(axis=1), elapsed[np.arange(len(hit)), hit.argmax(axis=1)], np.inf)
    return {"seconds": float(first.min()), "configs_ever_reaching": int(hit.any(axis=1).sum())}


def rank_correlations(table: LearningCurveTable) -> dict:
    """Spearman correlation between the error after epoch r and after r_max, over configs:
    how well an early rung predicts the final ranking (ties ranked by order; rough)."""
    error = table.values[METRIC]

    def ranks(x):
        return np.argsort(np.argsort(x, kind="stable"), kind="stable")

    final = ranks(error[:, -1])
    return {str(r): float(np.corrcoef(ranks(error[:, r - 1]), final)[0, 1])
            for r in range(1, table.max_epochs)}


def make_scheduler(kind: str, table: LearningCurveTable, n_workers: int, seed: int,
                   r_min: int = R_MIN, eta: int = ETA):
    space = table.config_space
    common = dict(metric=METRIC, mode="min", max_resource_attr="max_epochs", random_seed=seed,
                  grace_period=r_min, reduction_factor=eta, tie_break_metric=TIE_BREAK)
    if kind.startswith("asha_"):
        return ASHA(space, type=kind[5:], **common)
    if kind == "synchronous_sh":
        return SynchronousSuccessiveHalving(
            space, num_configs=bracket_size(n_workers, table, r_min, eta), **common)
    if kind == "synchronous_sh_x3":  # a sensitivity check: a larger bracket
        return SynchronousSuccessiveHalving(
            space, num_configs=3 * bracket_size(n_workers, table, r_min, eta), **common)
    if kind == "random_search":
        return RandomSearch(space, **common)
    raise ValueError(f"kind={kind!r} must be one of {SCHEDULERS}")


def run_tuner(table: LearningCurveTable, kind: str, n_workers: int, seed: int,
              r_min: int = R_MIN, eta: int = ETA) -> Tuner:
    tuner = Tuner(SimulatedBackend(table), make_scheduler(kind, table, n_workers, seed, r_min,
                                                          eta),
                  StoppingCriterion(max_wallclock_time=budget(n_workers, table)),
                  n_workers=n_workers,
                  save=False, progress=False)
    tuner.run()
    return tuner


def _first_time(times: np.ndarray, values: np.ndarray, threshold: float) -> float:
    hit = np.nonzero(values <= threshold)[0]
    return float(times[hit[0]]) if len(hit) else math.nan


def mispromotions(tuner: Tuner, cutoffs) -> list[tuple[float, int, int, int, int]]:
    """(cutoff, rung level, rung size n_k, promotions out of it, mispromotions among them) as
    if the run had ended at each cutoff time. A run stopped by its time budget at t is exactly
    the prefix up to t of a longer run, so one run gives the counts for every shorter budget."""
    reports: dict[int, list[tuple]] = {}  # level -> (time, score, tie_break, seq, trial_id)
    promotions: dict[int, list[tuple[float, int]]] = {}
    levels = set(tuner.scheduler.rung_levels_[:-1])
    for seq, e in enumerate(tuner.events):
        if e.kind is EventKind.REPORTED and e.resource in levels:
            m = e.data["metrics"]
            tie = m.get(TIE_BREAK)
            tie = tie if tie is not None and math.isfinite(tie) else math.inf
            reports.setdefault(e.resource, []).append((e.time, m[METRIC], tie, seq, e.trial_id))
        elif e.kind is EventKind.PROMOTED:
            promotions.setdefault(e.resource, []).append((e.time, e.trial_id))
    rows = []
    for level, promoted in sorted(promotions.items()):
        book = np.array([r[:4] for r in reports[level]], dtype=float)
        trial = np.array([r[4] for r in reports[level]])
        for cutoff in cutoffs:
            inside = book[:, 0] <= cutoff
            n = int(inside.sum())
            mine = [t for time_, t in promoted if time_ <= cutoff]
            if not mine:
                continue
            ranked = np.lexsort((book[inside, 3], book[inside, 2], book[inside, 1]))
            top = set(trial[inside][ranked[: n // ETA]].tolist())
            rows.append((float(cutoff), level, n, len(mine), sum(t not in top for t in mine)))
    return rows


def _incumbent_trace(tuner: Tuner) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) at which the best finite METRIC reported so far improved."""
    times, values, best = [], [], math.inf
    for e in tuner.events:
        if e.kind is EventKind.REPORTED:
            value = e.data["metrics"].get(METRIC)
            if value is not None and math.isfinite(value) and value < best:
                best = value
                times.append(e.time)
                values.append(value)
    return np.array(times), np.array(values)


def one_run(args: tuple) -> dict:
    spec, kind, n_workers, seed, limits = args
    table = _table(spec)
    started = time.perf_counter()
    tuner = run_tuner(table, kind, n_workers, seed)
    times_a, values_a = _incumbent_trace(tuner)
    best = float(values_a[-1]) if len(values_a) else math.inf
    at = np.searchsorted(times_a, GRID, side="right") - 1  # incumbent at each grid time
    curve = np.where(at >= 0, values_a[np.maximum(at, 0)] if len(values_a) else np.nan, np.nan)
    experiment = tuner.experiment
    busy = experiment.busy_fraction()
    span = experiment.events[-1].time
    return {
        "scheduler": kind, "n_workers": n_workers, "seed": seed, "budget": budget(n_workers, table),
        "time_to_target": _first_time(times_a, values_a, limits["target"]),
        "time_to_near_best": _first_time(times_a, values_a, limits["near_best"]),
        "final_incumbent": best, "busy_fraction": busy,
        "idle_seconds_per_worker": (1.0 - busy) * span,
        "trials_started": sum(e.kind is EventKind.TRIAL_STARTED for e in tuner.events),
        "reports": sum(e.kind is EventKind.REPORTED for e in tuner.events),
        "curve": [None if not math.isfinite(v) else round(float(v), 5) for v in curve],
        "mispromotions": mispromotions(tuner, np.geomspace(10.0, budget(n_workers, table), 12))
        if kind == "asha_promotion" else [],
        "wall_seconds": time.perf_counter() - started,
    }


def sensitivity_run(args: tuple) -> dict:
    """Time to target and to near-best for one (scheduler, r_min, eta, seed) at 8 workers."""
    spec, kind, r_min, eta, seed, limits = args
    tuner = run_tuner(_table(spec), kind, 8, seed, r_min, eta)
    t, v = _incumbent_trace(tuner)
    return {"scheduler": kind, "r_min": r_min, "eta": eta, "seed": seed,
            "time_to_target": _first_time(t, v, limits["target"]),
            "time_to_near_best": _first_time(t, v, limits["near_best"])}


SENSITIVITY = ((1, 2), (2, 2), (1, 3), (2, 3), (1, 4))  # (r_min, eta); d2l uses (2, 2)


_TABLES: dict[str, LearningCurveTable] = {}


def _table(spec: tuple[str | None, int | None]) -> LearningCurveTable:
    """The table a run replays, from ``(path or None for the shipped one, max_epochs or None
    for all)``; loaded once per process."""
    if spec not in _TABLES:
        path, max_epochs = spec
        table = LearningCurveTable.load(path) if path else load_lenet_digits_table()
        _TABLES[spec] = table if max_epochs is None else table.first_epochs(max_epochs)
    return _TABLES[spec]


def reproducible(spec: tuple, n_workers: int = 8, seed: int = 0) -> dict:
    """Run each scheduler twice from the same seed; compare the event logs line by line."""
    out = {}
    for kind in SCHEDULERS:
        logs = [[dumps_event(e) for e in run_tuner(_table(spec), kind, n_workers,
                                                    seed).events] for _ in range(2)]
        out[kind] = logs[0] == logs[1]
    return out


# -- summaries ------------------------------------------------------------------------------------

def _quantiles(values) -> dict:
    v = np.array(values, dtype=float)
    hit = v[np.isfinite(v)]
    if len(hit) == 0:
        return {"median": None, "q25": None, "q75": None, "misses": int(len(v))}
    # Misses count as +inf: the median is honest as long as fewer than half the runs missed.
    filled = np.where(np.isfinite(v), v, np.inf)
    q = np.quantile(filled, [0.25, 0.5, 0.75])
    clean = [None if not math.isfinite(x) else float(x) for x in q]
    return {"median": clean[1], "q25": clean[0], "q75": clean[2], "min": float(hit.min()),
            "max": float(hit.max()), "misses": int((~np.isfinite(v)).sum())}


def summarise(rows: list[dict], limits: dict) -> dict:
    summary: dict = {}
    for kind in SCHEDULERS + EXTRA_8_WORKERS:
        for w in sorted({r["n_workers"] for r in rows}):
            mine = [r for r in rows if r["scheduler"] == kind and r["n_workers"] == w]
            if not mine:
                continue
            summary.setdefault(kind, {})[str(w)] = {
                "seeds": len(mine),
                "time_to_target": _quantiles([r["time_to_target"] for r in mine]),
                "time_to_near_best": _quantiles([r["time_to_near_best"] for r in mine]),
                "busy_fraction": float(np.median([r["busy_fraction"] for r in mine])),
                "idle_seconds_per_worker": float(np.median([r["idle_seconds_per_worker"]
                                                            for r in mine])),
                "budget": mine[0]["budget"],
                "trials_started": float(np.median([r["trials_started"] for r in mine])),
            }
    return summary


def verdicts(summary: dict, limits: dict, workers: int = 8) -> dict:
    def med(kind, what):
        return summary.get(kind, {}).get(str(workers), {}).get(what, {}).get("median")

    sync, rand = med("synchronous_sh", "time_to_target"), med("random_search", "time_to_target")
    out = {"sensitivity_sync_sh_3x_bracket_median_time_to_target":
           med("synchronous_sh_x3", "time_to_target")}
    for kind in ("asha_promotion", "asha_stopping"):
        asha = med(kind, "time_to_target")
        near = med(kind, "time_to_near_best")
        ratio_sync = asha / sync if asha and sync else None
        ratio_rand = asha / rand if asha and rand else None
        ratio_near = near / limits["best_config_seconds"] if near else None
        out[kind] = {
            "vs_sync_sh": {"ratio": ratio_sync, "target": TARGETS["asha_vs_sync_sh"],
                           "met": ratio_sync is not None
                           and ratio_sync <= TARGETS["asha_vs_sync_sh"]},
            "vs_random": {"ratio": ratio_rand, "target": TARGETS["asha_vs_random"],
                          "met": ratio_rand is not None
                          and ratio_rand <= TARGETS["asha_vs_random"]},
            "near_best_vs_single_model": {
                "ratio": ratio_near, "target": TARGETS["near_best_vs_single_model"],
                "met": ratio_near is not None
                and ratio_near <= TARGETS["near_best_vs_single_model"]},
        }
    return out


def mispromotion_table(rows: list[dict]) -> list[dict]:
    out = []
    for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:]):
        promotions = wrong = rungs = 0
        sizes = []
        for r in rows:
            for _, level, n, p, m in r["mispromotions"]:
                if lo <= n < hi:
                    promotions += p
                    wrong += m
                    rungs += 1
                    sizes.append(n)
        if promotions:
            out.append({"rung_size": [lo, hi if hi < 10**9 else None], "rungs": rungs,
                        "median_rung_size": float(np.median(sizes)), "promotions": promotions,
                        "mispromotions": wrong, "fraction": wrong / promotions})
    return out


# -- figures --------------------------------------------------------------------------------------

COLORS = {"asha_promotion": "tab:blue", "asha_stopping": "tab:cyan",
          "synchronous_sh": "tab:orange", "random_search": "tab:gray",
          "synchronous_sh_x3": "tab:red"}
LABELS = {"asha_promotion": "ASHA (promotion)", "asha_stopping": "ASHA (stopping)",
          "synchronous_sh": "synchronous SH", "random_search": "random search",
          "synchronous_sh_x3": "synchronous SH, 3x the bracket"}


def figures(result: dict, folder: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    summary, limits, rows = result["summary"], result["thresholds"], result["runs"]
    paths = []

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    panels = ((axes[0], "time_to_target",
               f"to target: error <= {limits['target']:.3f} (best 5% of configs)"),
              (axes[1], "time_to_near_best",
               f"to near-best: error <= {limits['near_best']:.3f} (best + 0.01)"))
    for ax, what, title in panels:
        for kind in SCHEDULERS:
            ws = sorted(int(w) for w in summary.get(kind, {}))
            q = [summary[kind][str(w)][what] for w in ws]
            med = [x["median"] if x["median"] is not None else np.nan for x in q]
            lo = [x["q25"] if x["q25"] is not None else np.nan for x in q]
            hi = [x["q75"] if x["q75"] is not None else np.nan for x in q]
            ax.plot(ws, med, "o-", color=COLORS[kind], label=LABELS[kind])
            ax.fill_between(ws, lo, hi, color=COLORS[kind], alpha=0.18, lw=0)
        floor = limits.get(f"floor_{what}", {}).get("seconds")
        if floor:
            ax.axhline(floor, color="k", ls=":", lw=1,
                       label=f"fastest possible: {floor:.2f} s (best-placed config at t = 0)")
        if what == "time_to_near_best":
            ax.axhline(2 * limits["best_config_seconds"], color="k", ls="--", lw=1,
                       label=f"2 x {limits['best_config_seconds']:.1f} s "
                "(the best config trained alone)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("workers")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("simulated seconds (median, band: 25-75%)")
    fig.suptitle(f"Time to target on the LeNet-digits table ({result['seeds']} seeds per point)")
    fig.tight_layout()
    paths.append(_save(fig, folder / "ttt_time_to_target.png"))

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    w8 = [r for r in rows if r["n_workers"] == 8]
    for kind in SCHEDULERS + EXTRA_8_WORKERS:
        curves = np.array([[np.nan if v is None else v for v in r["curve"]]
                           for r in w8 if r["scheduler"] == kind], dtype=float)
        if not len(curves):
            continue
        keep = GRID <= result["budget_seconds"]["8"]
        with np.errstate(all="ignore"):
            q = np.nanquantile(np.where(np.isnan(curves), 1.0, curves), [0.25, 0.5, 0.75],
                               axis=0)
        ax.plot(GRID[keep], q[1][keep], color=COLORS[kind], label=LABELS[kind])
        ax.fill_between(GRID[keep], q[0][keep], q[2][keep], color=COLORS[kind], alpha=0.18,
                        lw=0)
    ax.axhline(limits["target"], color="k", ls="--", lw=1, label="target (best 5%)")
    ax.axhline(limits["near_best"], color="k", ls=":", lw=1, label="table's best + 0.01")
    ax.set_xscale("log")
    ax.set_ylim(max(0.0, limits["best_final_error"] - 0.005), 0.2)
    ax.set_xlabel("simulated seconds")
    ax.set_ylabel("incumbent validation error")
    ax.set_title("Anytime incumbent, 8 workers (median, band: 25-75% over seeds)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(_save(fig, folder / "ttt_incumbent_8_workers.png"))

    fig, ax = plt.subplots(figsize=(7.5, 4))
    for kind in SCHEDULERS:
        ws = sorted(int(w) for w in summary.get(kind, {}))
        ax.plot(ws, [summary[kind][str(w)]["busy_fraction"] for w in ws], "o-",
                color=COLORS[kind], label=LABELS[kind])
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("workers")
    ax.set_ylabel("busy fraction (median over seeds)")
    ax.set_title("Share of worker time spent training", fontsize=10)
    ax.text(0.98, 0.72, "ASHA (both variants) and random search: busy 100%\n"
            "of the time at every worker count (lines overlap at 1.0)",
            transform=ax.transAxes, fontsize=8, ha="right", va="top")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(_save(fig, folder / "ttt_busy_fraction.png"))

    table = result["mispromotions"]
    if table:
        fig, ax = plt.subplots(figsize=(7.5, 4))
        n = np.array([t["median_rung_size"] for t in table])
        frac = np.array([t["fraction"] for t in table])
        err = np.array([math.sqrt(f * (1 - f) / t["promotions"]) for f, t in zip(frac, table)])
        ax.errorbar(n, frac, yerr=err, fmt="o-", color="tab:blue", capsize=3,
                    label="ASHA (promotion): measured")
        mid = len(n) // 2
        scale = frac[mid] * math.sqrt(n[mid])
        ax.plot(n, scale / np.sqrt(n), "k--", lw=1,
                label=r"$\propto 1/\sqrt{n}$ (through the middle bucket)")
        for x, y, t in zip(n, frac, table):
            ax.annotate(f"{t['promotions']}", (x, y), textcoords="offset points", xytext=(4, 6),
                        fontsize=7, color="tab:blue")
        ax.set_xscale("log")
        ax.set_yscale("log")
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
        ax.yaxis.set_major_locator(FixedLocator([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("final rung size n_k (median of the bucket)")
        ax.set_ylabel("mispromotions / promotions")
        ax.set_title("Promotions not in the final top n_k/eta of their rung "
                     "(labels: promotions counted)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, folder / "ttt_mispromotions.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path


def markdown(result: dict) -> str:
    """The summary as Markdown tables, for BENCHMARKS.md."""
    summary = {k: v for k, v in result["summary"].items() if k in SCHEDULERS}
    lines = []
    workers = sorted({int(w) for kind in summary.values() for w in kind})

    def cell(q):
        if q["median"] is None:
            return f"never ({q['misses']} misses)"
        hi = "inf" if q["q75"] is None else f"{q['q75']:.0f}"
        miss = f", {q['misses']} miss" if q["misses"] else ""
        return f"{q['median']:.1f} [{q['q25']:.0f}-{hi}{miss}]"

    for what in ("time_to_target", "time_to_near_best"):
        lines += [f"{what} (s): median [25%-75%]", "",
                  "| workers | " + " | ".join(LABELS[k] for k in summary) + " |",
                  "|---|" + "---|" * len(summary)]
        for w in workers:
            lines.append(f"| {w} | " + " | ".join(cell(summary[k][str(w)][what])
                                                   for k in summary) + " |")
        lines.append("")
    lines += ["busy fraction / idle s per worker (medians)", "",
              "| workers | " + " | ".join(LABELS[k] for k in summary) + " |",
              "|---|" + "---|" * len(summary)]
    for w in workers:
        lines.append(f"| {w} | " + " | ".join(
            f"{summary[k][str(w)]['busy_fraction']:.3f} / "
            f"{summary[k][str(w)]['idle_seconds_per_worker']:.1f}" for k in summary) + " |")
    lines += ["", "| final rung size | rungs | promotions | mispromotions | fraction |",
              "|---|---|---|---|---|"]
    for t in result["mispromotions"]:
        lo, hi = t["rung_size"]
        lines.append(f"| {lo}-{hi or ''} | {t['rungs']} | {t['promotions']} | "
                     f"{t['mispromotions']} | {t['fraction']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKERS))
    parser.add_argument("--schedulers", nargs="+", default=list(SCHEDULERS))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--no-sensitivity", dest="sensitivity", action="store_false",
                        help="skip the 8-worker check over (r_min, eta)")
    parser.add_argument("--table", default=None, help="a table JSON (default: the shipped one)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="replay only the table's first epochs (r_max); default: all")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the JSON and figures (default: benchmarks/results, "
                             "benchmarks/figures)")
    parser.add_argument("--figures-only", action="store_true",
                        help="redraw the figures from the JSON of the last run")
    args = parser.parse_args(argv)
    if args.figures_only:
        result = json.loads(((args.out or RESULTS) / "time_to_target.json").read_text())
        for path in figures(result, args.out or FIGURES):
            print(f"wrote {path}", file=sys.stderr)
        return 0
    spec = (args.table, args.max_epochs)
    table = _table(spec)
    limits = thresholds(table)
    print(json.dumps(limits), file=sys.stderr)
    jobs = [(spec, kind, w, seed, limits) for w in sorted(args.workers, reverse=True)
            for kind in args.schedulers for seed in range(args.seeds)]
    if 8 in args.workers:
        jobs += [(spec, kind, 8, seed, limits) for kind in EXTRA_8_WORKERS
                 for seed in range(args.seeds)]
    started = time.perf_counter()
    rows = []
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(args.processes, mp_context=context) as pool:
        for i, row in enumerate(pool.map(one_run, jobs, chunksize=2), 1):
            rows.append(row)
            if i % 50 == 0 or i == len(jobs):
                print(f"{i}/{len(jobs)} runs, {time.perf_counter() - started:.0f} s",
                      file=sys.stderr, flush=True)
    summary = summarise(rows, limits)
    sensitivity = []
    if args.sensitivity and 8 in args.workers:
        jobs = [(spec, kind, r_min, eta, seed, limits) for r_min, eta in SENSITIVITY
                for kind in ("asha_promotion", "asha_stopping", "synchronous_sh")
                for seed in range(args.seeds)]
        with cf.ProcessPoolExecutor(args.processes, mp_context=context) as pool:
            runs = list(pool.map(sensitivity_run, jobs, chunksize=4))
        for r_min, eta in SENSITIVITY:
            for kind in ("asha_promotion", "asha_stopping", "synchronous_sh"):
                mine = [r for r in runs if (r["scheduler"], r["r_min"], r["eta"]) ==
                        (kind, r_min, eta)]
                sensitivity.append({"scheduler": kind, "r_min": r_min, "eta": eta,
                                    "time_to_target": _quantiles(
                                        [r["time_to_target"] for r in mine]),
                                    "time_to_near_best": _quantiles(
                                        [r["time_to_near_best"] for r in mine])})
    from benchmarks.run import environment
    result = {
        "command": "python benchmarks/time_to_target.py " + " ".join(argv or sys.argv[1:]),
        "environment": environment(), "table": table.name, "table_when": table.metadata.get(
            "when"), "seeds": args.seeds, "r_min": R_MIN, "eta": ETA,
        "max_epochs": table.max_epochs, "budget_seconds": {str(w): budget(w, table)
                                                           for w in args.workers},
        "sync_sh_num_configs": {str(w): bracket_size(w, table) for w in args.workers},
        "thresholds": limits, "targets": TARGETS, "summary": summary,
        "rank_correlation_with_final": rank_correlations(table),
        "sensitivity_8_workers": sensitivity,
        "verdicts_8_workers": verdicts(summary, limits),
        "mispromotions": mispromotion_table(rows),
        "reproducible_from_seed": reproducible(spec),
        "grid_seconds": GRID.tolist(),
        # per run; its mispromotion counts are summed up above, not repeated here
        "runs": [{k: v for k, v in r.items() if k != "mispromotions"} for r in rows],
        "wall_seconds": time.perf_counter() - started,
    }
    results = args.out or RESULTS
    results.mkdir(parents=True, exist_ok=True)
    (results / "time_to_target.json").write_text(json.dumps(result, separators=(",", ":")))
    for path in figures(result, args.out or FIGURES):
        print(f"wrote {path}", file=sys.stderr)
    print(json.dumps({"thresholds": limits, "verdicts_8_workers": result["verdicts_8_workers"],
                      "mispromotions": result["mispromotions"],
                      "reproducible_from_seed": result["reproducible_from_seed"]}, indent=1))
    print(markdown(result))
    print(json.dumps({"rank_correlation_with_final": result["rank_correlation_with_final"]}))
    for row in sensitivity:
        print(f"sensitivity 8 workers: {row['scheduler']} r_min={row['r_min']} eta={row['eta']}: "
              f"median to target {row['time_to_target']['median']}, to near-best "
              f"{row['time_to_near_best']['median']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
