"""The seed lecture's code (benchmarks/seed_lecture.py: the slides' code, imports changed) runs
on a tiny Fashion-MNIST that the test writes in IDX format, offline.

It runs in a fresh interpreter, as in a student's kernel: d2l's FashionMNIST forks four
DataLoader processes per epoch, and forking the test process, which other tests have left with
threads of their own (distributed's, for one), can deadlock the child.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("d2l")

ROOT = Path(__file__).resolve().parents[1]

RUN = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("seed_lecture", sys.argv[1])
seed_lecture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seed_lecture)
tuner, d = seed_lecture.run_lecture(max_wallclock_time=8, n_workers=2, random_seed=3592025114)
print(json.dumps({"path": str(tuner.path)}))
"""


def test_the_seed_lectures_code_runs_with_only_its_imports_changed(tmp_path):
    from asha_lesson import load_experiment
    from asha_lesson.training import write_fashion_mnist_idx

    rng = np.random.default_rng(0)
    for train, n in ((True, 256), (False, 64)):
        labels = rng.integers(0, 10, n)
        images = (rng.random((n, 28, 28)) * 40 + labels[:, None, None] * 20).astype(np.uint8)
        write_fashion_mnist_idx(tmp_path / "data", images, labels, train=train)
    (tmp_path / "work").mkdir()
    done = subprocess.run(  # d2l.FashionMNIST reads ../data, so run from tmp/work
        [sys.executable, "-c", RUN, str(ROOT / "benchmarks" / "seed_lecture.py")],
        cwd=tmp_path / "work", capture_output=True, text=True, timeout=300,
        env={**os.environ, "ASHA_LESSON_HOME": str(tmp_path / "experiments"),
             "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-3000:]

    assert "max_resource_level = 10, as inferred from config_space" in done.stderr
    assert "Master random_seed = 3592025114" in done.stderr
    path = Path(json.loads(done.stdout.strip().splitlines()[-1])["path"])
    d = load_experiment(path)
    results = d.results
    assert {"trial_id", "st_tuner_time", "epoch", "validation_error"} <= set(results.columns)
    assert len(results) >= 4 and results["trial_id"].nunique() >= 2
    assert d.failures().empty, d.failures()["reason"].tolist()
    assert d.configs[0]["learning_rate"] == 0.1 and d.configs[0]["batch_size"] == 128
    for _, rows in results.groupby("trial_id"):
        assert list(rows["epoch"]) == list(range(1, len(rows) + 1))
    assert (results["st_tuner_time"] <= 8.0).all()
    # d2l's ProgressBoard drew from the worker threads: into the trial logs, not the notebook.
    logs = "".join(p.read_text() for p in (path / "trials").glob("*.log"))
    assert "[display]" in logs
