"""Core benchmarks: ASHA decisions per second, and simulated trials per second.

    python benchmarks/run.py                  # everything (what `make bench` runs)
    python benchmarks/run.py core             # just the core part (today: the same)
    python benchmarks/run.py decisions        # one half of it; or: simulator
    python benchmarks/run.py core --quick     # fewer repeats, for a smoke test
    python -m benchmarks.run core             # the same, as a module

Prints the results as JSON and as a table, and writes the JSON to benchmarks/results/core.json
(a partial or --quick run writes core-<parts>.json instead, so it never overwrites a full run).
See benchmarks/CORE.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(ROOT))

from benchmarks import decisions, simulator  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PARTS = ("decisions", "simulator")

# From the issue. Syne Tune figures are for reference only, measured elsewhere.
TARGET_RATE = 100_000  # decisions per second at 1e5 entries
TARGET_SLOWDOWN = 2.0  # rate(1e3) / rate(1e5)
TARGET_SIM_SECONDS = 2.0  # 1e4 simulated trials on 64 workers
REFERENCE = {
    "syne_tune_0.16_asha_decisions_per_second_at_1e4": 110,
    "syne_tune_sorted_list_asha_decisions_per_second": 63_000,
    "syne_tune_simulator_ms_per_trial": 0.9,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def environment() -> dict:
    import numpy
    import sortedcontainers

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        # uncommitted changes to tracked files: the commit alone does not describe the code
        "git_dirty": None if status is None else bool(status),
        "machine": {
            "platform": platform.platform(), "machine": platform.machine(),
            "processor": cpu_model(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "packages": {"numpy": numpy.__version__, "sortedcontainers": sortedcontainers.__version__},
    }


def cpu_model() -> str:
    """The CPU's name as /proc/cpuinfo gives it, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):  # not on every platform
        return None


def run_decisions(quick: bool) -> dict:
    log("decisions per second (r_min=1, eta=3, r_max=81) ...")
    kwargs = {"repeats": 2, "min_decisions": 5_000, "min_seconds": 0.02} if quick else {}

    def progress(row: dict) -> None:
        log(f"  {row['variant']:9} {row['rung_size']:>7,}: "
            f"{row['decisions_per_second']:>9,.0f} decisions/s")

    out = decisions.run(progress=progress, **kwargs)
    return {"method": decisions.__doc__.strip(), "settings": {
        "r_min": decisions.R_MIN, "eta": decisions.ETA, "r_max": decisions.R_MAX,
        "repeats": kwargs.get("repeats", 5), "gc": "disabled while timing (as timeit)"}, **out}


def run_simulator(quick: bool) -> dict:
    n_trials, repeats = (2_000, 1) if quick else (10_000, 2)
    random_trials = n_trials // 10  # every random-search trial trains all 81 epochs
    log(f"simulated runs: {n_trials:,} trials on 64 workers, max_epochs={simulator.MAX_EPOCHS} ...")
    lenet = simulator.synthetic()
    t0 = time.perf_counter()
    table = simulator.table(200 if quick else 1000)
    table_seconds = time.perf_counter() - t0
    plan = [(kind, lenet, n_trials) for kind in simulator.KINDS[:3]]
    plan.append(("random_search", lenet, random_trials))
    plan += [(kind, table, n_trials) for kind in simulator.KINDS[:3]]
    rows = []
    for kind, objective, trials in plan:
        row = simulator.measure(kind, objective, trials, repeats=repeats)
        log(f"  {kind:15} {row['objective']:28} {trials:>6,} trials: {row['seconds']:.2f} s "
            f"in memory, {row['saved_seconds']:.2f} s saved, reproducible={row['reproducible']}")
        rows.append(row)
    attribution, profile = [], {}
    try:  # reaches into the tuner's objects; a change there must not sink the other figures
        for kind in ("asha_stopping", "asha_promotion"):
            for objective, save in ((lenet, False), (table, False), (table, True)):
                attribution.append(simulator.attribute(kind, objective, n_trials, save=save))
        profile = {"run": f"asha_promotion on {table.name}, {n_trials:,} trials, in memory",
                   "top": simulator.profile_top("asha_promotion", table, n_trials)}
    except Exception as error:  # noqa: BLE001 - report it and go on
        attribution.append({"error": repr(error)})
    return {"method": simulator.__doc__.strip(), "settings": {
        "n_workers": 64, "max_epochs": simulator.MAX_EPOCHS, "grace_period": 1,
        "reduction_factor": 3, "straggler_spread": 0.5, "stop_criterion":
        "StoppingCriterion(max_num_trials_started=N)", "repeats_in_memory": repeats,
        "table_rows": len(table), "table_build_seconds": table_seconds,
        "random_search_trials": random_trials}, "rows": rows,
        "attribution": attribution, "profile": profile}


def targets(results: dict) -> list[dict]:
    out = []
    if "decisions" in results:
        for variant, s in results["decisions"]["summary"].items():
            out.append({"target": f"{variant}: >= {TARGET_RATE:,} decisions/s at 1e5 entries",
                        "measured": round(s["rate_1e5"]), "met": s["rate_1e5"] >= TARGET_RATE})
            out.append({"target": f"{variant}: slowdown 1e3 -> 1e5 <= {TARGET_SLOWDOWN}x",
                        "measured": round(s["slowdown"], 2),
                        "met": s["slowdown"] <= TARGET_SLOWDOWN})
    if "simulator" in results:
        for row in results["simulator"]["rows"]:
            if row["scheduler"].startswith("asha") and row["n_trials"] >= 10_000:
                for label, seconds in (("in memory", row["seconds"]),
                                       ("log saved", row["saved_seconds"])):
                    out.append({"target": f"{row['scheduler']} on {row['objective']}, {label}: "
                                          f"1e4 trials / 64 workers < {TARGET_SIM_SECONDS} s",
                                "measured": round(seconds, 2),
                                "met": seconds < TARGET_SIM_SECONDS})
        rows = results["simulator"]["rows"]
        out.append({"target": "same seed, same event log (every simulated run)",
                    "measured": all(r["reproducible"] for r in rows),
                    "met": all(r["reproducible"] for r in rows)})
    return out


def table_text(results: dict) -> str:
    m = results["machine"]
    lines = [f"{m['processor']} ({m['cpu_count']} CPUs), {m['platform']}, Python {m['python']}; "
             f"commit {results['git_commit']}{' + local changes' if results['git_dirty'] else ''}"
             f"; load average {results['load_average_before']} -> "
             f"{results['load_average_after']}"]
    if "decisions" in results:
        lines += ["", "Decisions per second (ASHA, r_min=1, eta=3, r_max=81; best of "
                  f"{results['decisions']['settings']['repeats']})",
                  f"{'variant':10} {'rung size':>9} {'decisions/s':>12} {'us/decision':>11} "
                  f"{'free worker/s':>13} {'bottom rung while timed':>24} {'per CPU-s':>10}"]
        for r in results["decisions"]["rows"]:
            worker = r.get("free_worker_decisions_per_second")
            during = r["bottom_rung_during_batch"]
            lines.append(f"{r['variant']:10} {r['rung_size']:>9,} "
                         f"{r['decisions_per_second']:>12,.0f} {r['us_per_decision']:>11.2f} "
                         f"{(f'{worker:,.0f}' if worker else '-'):>13} "
                         f"{f'{during[0]:,} -> {during[1]:,}':>24} "
                         f"{max(r['repeats_decisions_per_cpu_second']):>10,.0f}")
        for variant, s in results["decisions"]["summary"].items():
            lines.append(f"  {variant}: slowdown rate(1e3)/rate(1e5) = {s['slowdown']:.2f}")
    if "simulator" in results:
        sim = results["simulator"]
        lines += ["", f"Simulated runs (64 workers, max_epochs={sim['settings']['max_epochs']}, "
                  "straggler_spread=0.5)",
                  f"{'scheduler':15} {'objective':27} {'trials':>6} {'s (memory)':>10} "
                  f"{'trials/s':>9} {'ms/trial':>8} {'s (saved)':>9} {'reports':>7} "
                  f"{'reproducible':>12} {'CPU/wall':>8}"]
        for r in sim["rows"]:
            lines.append(f"{r['scheduler']:15} {r['objective']:27} {r['n_trials']:>6,} "
                         f"{r['seconds']:>10.2f} {r['trials_per_second']:>9,.0f} "
                         f"{r['ms_per_trial']:>8.3f} {r['saved_seconds']:>9.2f} "
                         f"{r['reports']:>7,} {str(r['reproducible']):>12} "
                         f"{r['cpu_per_wall_of_best']:>8.0%}")
        if sim["attribution"] and "error" not in sim["attribution"][0]:
            lines += ["", "Where a simulated run's time goes (share of the run, timers around "
                      "each component)"]
            for a in sim["attribution"]:
                shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in a["share"].items())
                lines.append(f"  {a['scheduler']:14} {a['objective']:26} "
                             f"{'saved ' if a['save'] else 'memory'} {a['total_seconds']:.2f} s: "
                             f"{shares}")
    if results.get("targets"):
        lines += ["", "Targets"]
        for t in results["targets"]:
            lines.append(f"  [{'met' if t['met'] else 'MISSED':6}] {t['target']}: {t['measured']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", metavar="part",
                        help=f"what to run: all, core or one of {', '.join(PARTS)} "
                             "(default: core, which today is everything)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and trials")
    parser.add_argument("--out", type=Path, help="where to write the JSON")
    args = parser.parse_args(argv)
    wanted = set(args.parts or ["core"])
    unknown = wanted - {"all", "core", *PARTS}
    if unknown:  # checked here: argparse rejects an empty list when nargs="*" has choices
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from all, core, "
                     f"{', '.join(PARTS)}")
    parts = [p for p in PARTS if p in wanted or {"all", "core"} & wanted]
    results: dict = {"benchmark": "core", **environment(), "quick": args.quick,
                     "parts": parts, "reference": REFERENCE,
                     # Other work on the machine slows every figure: the load says how much
                     # there was (1, 5 and 15 minute averages of runnable processes).
                     "load_average_before": _load()}
    start = time.perf_counter()
    for part, runner in (("decisions", run_decisions), ("simulator", run_simulator)):
        if part in parts:
            t0 = time.perf_counter()
            results[part] = runner(args.quick)
            results[part]["benchmark_seconds"] = time.perf_counter() - t0
    results["load_average_after"] = _load()
    results["targets"] = targets(results)
    results["benchmark_seconds"] = time.perf_counter() - start
    out = args.out
    if out is None:
        name = "core" if parts == list(PARTS) else "core-" + "-".join(parts)
        out = RESULTS / (name + ("-quick" if args.quick else "") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    print(table_text(results))
    log(f"\nwritten to {out} ({results['benchmark_seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
