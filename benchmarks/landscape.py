"""How varied is the lecture's objective? Final errors of random configs, and the cost of an epoch.

    .venv/bin/python benchmarks/landscape.py [--configs 20] [--epochs 10] [--seed 0]
        [--learning-rate 0.01 1.0] [--batch-size 32 256] [--no-timing]
        [--out benchmarks/results/landscape.json]

1. Samples ``--configs`` configs from the lecture's space (learning_rate loguniform(1e-2, 1),
   batch_size randint(32, 256); other bounds with ``--learning-rate``/``--batch-size``), trains
   each on the digits for ``--epochs`` epochs on one torch thread, and prints each config's
   final validation error, the best one over the epochs, and the spread of final errors (the
   issue's target: from under 0.05 to over 0.5).
   It also prints how well early errors rank the configs (Spearman's rho between the errors at
   epochs 2 and 4 and the final ones): ASHA only works if early ranks mean something.
2. Times an epoch (seconds, median of 3) for batch sizes 32 and 256, and for LeNet's ``width``
   multiplier 1, 2 and 4, on the digits and on a Fashion-MNIST-sized set (60,000 random 28x28
   images: cost does not depend on the pixel values).

Seconds depend on the machine and on whatever else runs on it; the 1-minute load average at the
start is recorded with them.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from d2l import torch as d2l
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from asha_lesson.config_space import loguniform, randint, sample_config  # noqa: E402
from asha_lesson.training import DigitsData, HPOTrainer, LeNet  # noqa: E402

DEAD = 0.85  # a final error this high means the network learnt (almost) nothing


def train_curve(learning_rate, batch_size, epochs, data=None, width=1):
    """Validation errors after each epoch, and the seconds each epoch's training took."""
    trainer = HPOTrainer(max_epochs=epochs)
    trainer.prepare(LeNet(lr=learning_rate, width=width), data or DigitsData(batch_size))
    errors, seconds = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        trainer.fit_epoch()
        seconds.append(time.perf_counter() - start)
        errors.append(trainer.validation_error())
    return errors, seconds


class RandomImages(d2l.DataModule):
    """Fashion-MNIST's shape and size (60,000 train, 10,000 validation), random content."""

    def __init__(self, batch_size, n_train=60_000, n_val=10_000):
        super().__init__(root=None, num_workers=0)
        self.save_hyperparameters()
        generator = torch.Generator().manual_seed(0)
        n = n_train + n_val
        self.X = torch.rand(n, 1, 28, 28, generator=generator)
        self.y = torch.randint(0, 10, (n,), generator=generator)

    def get_dataloader(self, train):
        part = slice(0, self.n_train) if train else slice(self.n_train, None)
        return self.get_tensorloader((self.X, self.y), train, part)


def landscape(config_space, configs, epochs, seed):
    rng = np.random.default_rng(seed)
    rows = []
    print(f"{'lr':>8} {'batch':>5} {'err@2':>6} {'err@4':>6} {'final':>6} {'best':>6} "
          f"{'s/epoch':>7}")
    for _ in range(configs):
        config = sample_config(config_space, rng)
        errors, seconds = train_curve(config["learning_rate"], config["batch_size"], epochs)
        row = dict(config, errors=errors, final_error=errors[-1], best_error=min(errors),
                   seconds_per_epoch=statistics.median(seconds))
        rows.append(row)
        at = lambda e: errors[min(e, epochs) - 1]  # noqa: E731
        print(f"{row['learning_rate']:8.4f} {row['batch_size']:5d} {at(2):6.3f} {at(4):6.3f} "
              f"{row['final_error']:6.3f} {row['best_error']:6.3f} "
              f"{row['seconds_per_epoch']:7.3f}", flush=True)
    final = [r["final_error"] for r in rows]
    summary = {
        "min_final_error": min(final), "max_final_error": max(final),
        "median_final_error": statistics.median(final),
        "configs_below_0.05": sum(e < 0.05 for e in final),
        "configs_above_0.5": sum(e > 0.5 for e in final),
        f"dead_configs_final_error_above_{DEAD}": sum(e > DEAD for e in final),
        "median_seconds_per_epoch": statistics.median(r["seconds_per_epoch"] for r in rows),
    }
    for early in (2, 4):
        if early < epochs:
            rho = spearmanr([r["errors"][early - 1] for r in rows], final).statistic
            summary[f"spearman_epoch{early}_vs_final"] = float(rho)
    print("spread of final errors: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float)
                                                  else f"{k} {v}" for k, v in summary.items()))
    return rows, summary


def epoch_seconds(batch_size, width, data, repeats=3):
    _, seconds = train_curve(0.1, batch_size, repeats, data=data, width=width)
    return statistics.median(seconds)


def timings():
    table = []
    print(f"\n{'data':>14} {'batch':>5} {'width':>5} {'s/epoch':>8}")
    for name in ("digits", "fashion-sized"):
        for batch_size, width in ((32, 1), (256, 1), (64, 1), (64, 2), (64, 4)):
            data = DigitsData(batch_size) if name == "digits" else RandomImages(batch_size)
            repeats = 3 if name == "digits" else 1  # a Fashion-sized epoch takes seconds
            seconds = epoch_seconds(batch_size, width, data, repeats)
            table.append({"data": name, "batch_size": batch_size, "width": width,
                          "seconds_per_epoch": seconds})
            print(f"{name:>14} {batch_size:5d} {width:5d} {seconds:8.3f}", flush=True)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, nargs=2, default=[1e-2, 1.0],
                        metavar=("LOW", "HIGH"), help="loguniform bounds")
    parser.add_argument("--batch-size", type=int, nargs=2, default=[32, 256],
                        metavar=("LOW", "HIGH"), help="randint bounds, both included")
    parser.add_argument("--no-timing", action="store_true", help="skip the epoch timings")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "landscape.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one trial per core, as the thread backend runs them
    load = os.getloadavg()[0]
    (lr_low, lr_high), (bs_low, bs_high) = args.learning_rate, args.batch_size
    config_space = {"learning_rate": loguniform(lr_low, lr_high),
                    "batch_size": randint(bs_low, bs_high)}
    space = {"learning_rate": f"loguniform({lr_low:g}, {lr_high:g})",
             "batch_size": f"randint({bs_low}, {bs_high})"}
    print(f"digits, {args.configs} configs x {args.epochs} epochs, seed {args.seed}, "
          f"{space}, 1 torch thread, load average {load:.2f} on {os.cpu_count()} cores")
    rows, summary = landscape(config_space, args.configs, args.epochs, args.seed)
    result = {"config_space": space,
              "configs": args.configs, "epochs": args.epochs, "seed": args.seed,
              "torch_threads": 1, "load_average_at_start": load, "cpu_count": os.cpu_count(),
              "summary": summary, "trials": rows}
    if not args.no_timing:
        result["epoch_timings"] = timings()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
