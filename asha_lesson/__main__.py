"""``python -m asha_lesson``: run an experiment headless and write its figures.

    python -m asha_lesson run --scheduler asha-promotion --eta 2 --workers 2 --budget 120
    python -m asha_lesson run --backend simulated --workers 32 --budget 600
    python -m asha_lesson figures NAME_OR_PATH

A run prints a progress bar, stores the experiment (events.jsonl, metadata.json, trial logs) and
writes PNG figures beside it: the incumbent curve, per-trial curves over wall-clock time, the
worker timeline and the rung books.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

SCHEDULERS = ("asha-promotion", "asha-stopping", "synchronous-sh", "random-search")


def make_scheduler(name: str, config_space: dict, args) -> object:
    from . import ASHA, RandomSearch, SynchronousSuccessiveHalving
    common = dict(metric="validation_error", mode="min", max_resource_attr="max_epochs",
                  grace_period=args.r_min, reduction_factor=args.eta, random_seed=args.seed)
    if name == "random-search":
        return RandomSearch(config_space, **common)
    if name == "synchronous-sh":
        return SynchronousSuccessiveHalving(config_space, **common)
    return ASHA(config_space, type=name.split("-")[1], **common)


def write_figures(experiment, folder: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    drawings = {"incumbent": experiment.plot, "trials": experiment.plot_trials,
                "timeline": experiment.plot_timeline,
                "rung_books": lambda: experiment.plot_rung_books()}
    written = []
    for name, draw in drawings.items():
        result = draw()
        figure = (result[0] if hasattr(result, "__len__") else result).figure
        path = folder / f"{name}.png"
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def run(args) -> int:
    from . import PythonBackend, SimulatedBackend, StoppingCriterion, SyntheticLeNet, Tuner
    if args.backend == "simulated":
        objective = SyntheticLeNet(max_epochs=args.r_max, straggler_spread=args.stragglers,
                                   seed=args.seed)
        backend, config_space = SimulatedBackend(objective), objective.config_space
        describe = "SyntheticLeNet on the simulated backend (virtual seconds)"
    else:
        from functools import partial

        from . import loguniform, randint
        from .training import choose_data, hpo_objective_lenet
        factory, describe = choose_data(args.data)
        config_space = {"learning_rate": loguniform(1e-2, 1), "batch_size": randint(32, 256),
                        "max_epochs": args.r_max}
        backend = PythonBackend(partial(hpo_objective_lenet, data=factory))
    print(describe, file=sys.stderr)
    scheduler = make_scheduler(args.scheduler, config_space, args)
    tuner = Tuner(backend, scheduler, StoppingCriterion(max_wallclock_time=args.budget),
                  n_workers=args.workers, experiment_root=args.root, progress=True)
    try:
        experiment = tuner.run()
    except KeyboardInterrupt:
        from .experiment import load_experiment
        experiment = load_experiment(tuner.path)
        print("interrupted: the experiment is saved up to this moment", file=sys.stderr)
    report(experiment, tuner.path)
    return 0


def report(experiment, path: Path) -> None:
    figures = write_figures(experiment, path / "figures")
    results = experiment.results
    print(f"experiment: {path}")
    print(f"trials: {results['trial_id'].nunique() if len(results) else 0}, "
          f"reports: {len(results)}, workers busy: {experiment.busy_fraction():.1%}")
    if len(results):
        best = experiment.best()
        print(f"best {experiment.metric}: {best[experiment.metric]:.4f} "
              f"(trial {int(best['trial_id'])}, {experiment.best_config()})")
    for figure in figures:
        print(f"figure: {figure}")


def figures(args) -> int:
    from .experiment import load_experiment
    experiment = load_experiment(args.experiment, root=args.root)
    report(experiment, experiment.path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asha_lesson", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run an experiment and write its figures")
    p.add_argument("--scheduler", choices=SCHEDULERS, default="asha-promotion")
    p.add_argument("--backend", choices=("threads", "simulated"), default="threads")
    p.add_argument("--data", choices=("auto", "digits", "fashion_mnist"), default="auto",
                   help="training data for the thread backend (auto: Fashion-MNIST when on "
                        "disk, else scikit-learn's digits)")
    p.add_argument("--eta", type=int, default=2, help="reduction factor (default 2)")
    p.add_argument("--r-min", type=int, default=1, help="first rung, in epochs (default 1)")
    p.add_argument("--r-max", type=int, default=10, help="max epochs (default 10)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--budget", type=float, default=120.0, help="seconds (virtual for the "
                   "simulated backend; default 120)")
    p.add_argument("--stragglers", type=float, default=0.5,
                   help="straggler spread of the simulated objective (default 0.5)")
    p.add_argument("--seed", type=int, default=None, help="master random seed (default: drawn "
                   "and logged)")
    p.add_argument("--root", default=None, help="experiment folder root (default: "
                   "$ASHA_LESSON_HOME or ~/asha-lesson/experiments)")
    p.set_defaults(handler=run)
    f = sub.add_parser("figures", help="write the figures of a stored experiment")
    f.add_argument("experiment", help="name or path")
    f.add_argument("--root", default=None)
    f.set_defaults(handler=figures)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    try:
        return args.handler(args)
    except ValueError as error:  # bad settings: say which and why, no traceback
        parser.error(str(error))


if __name__ == "__main__":
    sys.exit(main())
