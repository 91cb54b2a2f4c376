"""The seed lecture's ASHA code, with only its import lines changed to asha_lesson.

Below the marked block is the lecture's code as the slides give it (Syne Tune's classic API, d2l's
LeNet, HPOTrainer and FashionMNIST). ``python benchmarks/seed_lecture.py`` runs it for 40 s on two
workers on scikit-learn's digits written in Fashion-MNIST's format under a scratch ``../data``,
and prints how many epochs were reported: the figure issue 3 compares with Syne Tune 0.13
(24 to 33 epochs in the same setting).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# ---- the seed lecture's code; only the import lines differ --------------------------------
from d2l import torch as d2l
import logging
logging.basicConfig(level=logging.INFO)
import matplotlib.pyplot as plt
from asha_lesson import loguniform, randint
from asha_lesson import PythonBackend
from asha_lesson import ASHA
from asha_lesson import Tuner, StoppingCriterion
from asha_lesson import load_experiment


def hpo_objective_lenet_synetune(learning_rate, batch_size, max_epochs):
    from d2l import torch as d2l
    from asha_lesson import Reporter

    model = d2l.LeNet(lr=learning_rate, num_classes=10)
    trainer = d2l.HPOTrainer(max_epochs=1, num_gpus=1)
    data = d2l.FashionMNIST(batch_size=batch_size)
    model.apply_init([next(iter(data.get_dataloader(True)))[0]], d2l.init_cnn)
    report = Reporter()
    for epoch in range(1, max_epochs + 1):
        if epoch == 1:
            # Initialize the state of Trainer
            trainer.fit(model=model, data=data)
        else:
            trainer.fit_epoch()
        validation_error = d2l.numpy(trainer.validation_error().cpu())
        report(epoch=epoch, validation_error=float(validation_error))


def run_lecture(max_wallclock_time=2 * 60, n_workers=2, random_seed=None):
    config_space = {
        "learning_rate": loguniform(1e-2, 1),
        "batch_size": randint(32, 256),
        "max_epochs": 10,
    }
    scheduler = ASHA(
        config_space,
        metric="validation_error",
        mode="min",
        points_to_evaluate=[{"learning_rate": 0.1, "batch_size": 128}],
        max_resource_attr="max_epochs",
        resource_attr="epoch",
        grace_period=2,
        reduction_factor=2,
        random_seed=random_seed,
    )
    trial_backend = PythonBackend(
        tune_function=hpo_objective_lenet_synetune,
        config_space=config_space,
    )
    stop_criterion = StoppingCriterion(max_wallclock_time=max_wallclock_time)
    tuner = Tuner(
        trial_backend=trial_backend,
        scheduler=scheduler,
        stop_criterion=stop_criterion,
        n_workers=n_workers,
        print_update_interval=int(max_wallclock_time * 0.6),
    )
    tuner.run()
    d = load_experiment(tuner.name)
    d.plot()
    return tuner, d
# ---- end of the seed lecture's code --------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/seed_lecture.json")
    args = parser.parse_args()
    from asha_lesson.training import write_digits_as_fashion_mnist

    out = Path(args.out).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="seed-lecture-"))
    write_digits_as_fashion_mnist(scratch / "data")  # d2l.FashionMNIST reads ../data
    (scratch / "work").mkdir()
    os.chdir(scratch / "work")
    os.environ.setdefault("ASHA_LESSON_HOME", str(scratch / "experiments"))
    started = time.monotonic()
    tuner, d = run_lecture(args.seconds, args.workers, args.seed)
    wall = time.monotonic() - started
    summary = {
        "command": "python " + " ".join(sys.argv),
        "budget_s": args.seconds, "n_workers": args.workers, "seed": args.seed,
        "wall_s": round(wall, 2), "epochs_reported": int(len(d.results)),
        "trials": int(d.results["trial_id"].nunique()),
        "busy_fraction": round(d.busy_fraction(), 4),
        "best_validation_error": float(d.best()["validation_error"]),
        "data": "scikit-learn digits written as Fashion-MNIST IDX files",
    }
    print(json.dumps(summary, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
