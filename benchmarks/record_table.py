"""Record a learning-curve table from real training: LeNet, every config to r_max epochs.

    nice -n 19 python benchmarks/record_table.py   # digits, 216 configs x 81 epochs: ~65 min here
    python benchmarks/record_table.py --configs 5 --epochs 2 --out /tmp/t.json   # a smoke test
    python benchmarks/record_table.py --data fashion_mnist       # where Fashion-MNIST is on disk

Space: the lecture's learning_rate loguniform(1e-2, 1) and batch_size randint(32, 256), plus
LeNet's channel multiplier ``width`` in {1, 2, 4}: on digits the batch size barely changes the
cost of an epoch (0.14 to 0.17 s), the width changes it several-fold (the stragglers of d2l's
text). Configs are sampled from one seeded generator and trained in ``--processes`` spawned
processes, each with one torch thread.

Seconds per epoch are the training thread's CPU time (``time.thread_time()`` around
``fit_epoch``): with one torch thread it equals the wall time on an idle machine, and unlike the
wall time it does not grow when other jobs share the cores. The wall time is recorded too, in
``metadata["wall_seconds"]``. A diverging learning rate gives a NaN or infinite validation loss;
it is kept as it is (the table's JSON writes NaN / Infinity), and its error stays finite near 0.9.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from asha_lesson.config_space import choice, loguniform, randint, sample_config  # noqa: E402
from asha_lesson.objectives import LearningCurveTable  # noqa: E402
from benchmarks.run import cpu_model  # noqa: E402

SPACE = {"learning_rate": loguniform(1e-2, 1.0), "batch_size": randint(32, 256),
         "width": choice([1, 2, 4])}
OUT = {"digits": ROOT / "asha_lesson" / "data" / "lenet_digits.json",
       "fashion_mnist": ROOT / "asha_lesson" / "data" / "lenet_fashion_mnist.json"}


def train_one(args: tuple) -> dict:
    """Train one config for ``epochs`` epochs in this process; the curves and the times."""
    index, config, epochs, data, root, seed = args
    import torch

    from asha_lesson.training import (DigitsData, FashionMNISTData, HPOTrainer, LeNet)
    torch.set_num_threads(1)
    factory = DigitsData if data == "digits" else (
        lambda b, seed=0: FashionMNISTData(b, root=root, seed=seed))
    model = LeNet(lr=config["learning_rate"], num_classes=10, width=config["width"], seed=seed)
    trainer = HPOTrainer(max_epochs=epochs)
    trainer.prepare(model, factory(int(config["batch_size"]), seed=seed))
    out = {"index": index, "validation_error": [], "validation_loss": [], "cpu_seconds": [],
           "wall_seconds": []}
    for _ in range(epochs):
        cpu, wall = time.thread_time(), time.perf_counter()
        trainer.fit_epoch()
        out["cpu_seconds"].append(time.thread_time() - cpu)
        out["wall_seconds"].append(time.perf_counter() - wall)
        metrics = trainer.validation_metrics()  # not timed: a tuner's cost is the training
        out["validation_error"].append(metrics["error"])
        out["validation_loss"].append(metrics["loss"])
    return out


def record(data: str, n_configs: int, epochs: int, processes: int, seed: int, root: str | None,
           out: Path) -> LearningCurveTable:
    import torch
    rng = np.random.default_rng(seed)
    configs = [sample_config(SPACE, rng) for _ in range(n_configs)]
    configs = [{"learning_rate": round(float(c["learning_rate"]), 6),
                "batch_size": int(c["batch_size"]), "width": int(c["width"])} for c in configs]
    jobs = [(i, c, epochs, data, root, 0) for i, c in enumerate(configs)]
    rows: list[dict | None] = [None] * n_configs
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # no fork from a process holding torch
    with cf.ProcessPoolExecutor(processes, mp_context=context) as pool:
        for done, row in enumerate(pool.map(train_one, jobs, chunksize=1), 1):
            rows[row["index"]] = row
            if done % 10 == 0 or done == n_configs:
                print(f"{done}/{n_configs} configs, {time.perf_counter() - started:.0f} s",
                      file=sys.stderr, flush=True)
    values = {m: np.array([r[m] for r in rows]) for m in ("validation_error", "validation_loss")}
    seconds = np.array([r["cpu_seconds"] for r in rows])
    wall = np.array([r["wall_seconds"] for r in rows])
    metadata = {
        "how": {
            "command": " ".join(["python", "benchmarks/record_table.py", *sys.argv[1:]]),
            "script": "benchmarks/record_table.py", "data": data,
            "config_space": {k: repr(v) for k, v in SPACE.items()}, "max_epochs": epochs,
            "n_configs": n_configs, "sample_seed": seed,
            "training_seed": "0 for every config (initial weights, split, shuffling)",
            "model": "asha_lesson.training.LeNet (ReLU, Xavier init), width multiplies channels",
            "optimizer": "d2l Classifier's SGD at learning_rate, no momentum",
            "processes": processes, "torch_threads_per_process": 1,
        },
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "hardware": {"cpu": cpu_model(), "cores": os.cpu_count(),
                     "platform": platform.platform(), "python": platform.python_version(),
                     "torch": torch.__version__},
        "seconds": ("CPU time of the training thread per epoch (time.thread_time around "
                    "fit_epoch; validation not included). One torch thread, so on an idle machine "
                    "it equals the wall time; other jobs shared this machine while recording."),
        "wall_seconds": np.round(wall, 4).tolist(),
        "wall_seconds_total": round(time.perf_counter() - started, 1),
        "non_finite": ("validation_loss is NaN or Infinity where training diverged, kept as "
                       "recorded; validation_error stays finite. Replayed through a tuner with "
                       "metric validation_loss such trials fail."),
        "values": "validation_error and validation_loss per epoch (column e-1 = after epoch e)",
    }
    table = LearningCurveTable(configs, values, seconds, metadata, name=f"lenet_{data}")
    out.parent.mkdir(parents=True, exist_ok=True)
    table.save(out)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)", file=sys.stderr)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("digits", "fashion_mnist"), default="digits")
    parser.add_argument("--root", default=None, help="folder holding FashionMNIST/raw")
    parser.add_argument("--configs", type=int, default=216)
    parser.add_argument("--epochs", type=int, default=81)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    root = args.root
    if args.data == "fashion_mnist":
        from asha_lesson.training.data import _candidate_roots, fashion_mnist_on_disk
        root = next((r for r in _candidate_roots(root) if fashion_mnist_on_disk(r)), None)
        if root is None:
            print("skipped: Fashion-MNIST is not on disk under "
                  + " or ".join(_candidate_roots(args.root))
                  + " (FashionMNIST/raw with the four IDX files); no table written")
            return 0
        root = os.path.abspath(root)
    record(args.data, args.configs, args.epochs, args.processes, args.seed, root,
           args.out or OUT[args.data])
    return 0


if __name__ == "__main__":
    sys.exit(main())
