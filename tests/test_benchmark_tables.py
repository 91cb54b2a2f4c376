"""The shipped LeNet-on-digits table: it loads, says how it was made, and replays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asha_lesson import ASHA, SimulatedBackend, StoppingCriterion, Tuner
from asha_lesson.benchmark_tables import load_lenet_digits_table
from asha_lesson.events import dumps_event


@pytest.fixture(scope="module")
def table():
    return load_lenet_digits_table()


def test_shape_and_space(table):
    assert len(table) >= 200
    assert table.max_epochs == 81  # r_max = eta**4 for eta = 3: rungs 1, 3, 9, 27, 81
    assert table.seconds.shape == (len(table), 81)
    for metric in ("validation_error", "validation_loss"):
        assert table.values[metric].shape == (len(table), 81)
    assert set(table.config_space) == {"config_id", "max_epochs"}
    assert table.config_space["max_epochs"] == 81
    for config in table.configs:
        assert set(config) == {"learning_rate", "batch_size", "width"}
        assert 1e-2 <= config["learning_rate"] <= 1.0
        assert 32 <= config["batch_size"] <= 256
        assert config["width"] in (1, 2, 4)


def test_values_are_sane(table):
    error = table.values["validation_error"]
    assert np.isfinite(error).all() and (error >= 0).all() and (error <= 1).all()
    assert (table.seconds > 0).all() and np.isfinite(table.seconds).all()
    # Good configs learn the digits; diverged or too-slow ones stay near chance (0.9).
    assert error[:, -1].min() < 0.1
    assert error[:, -1].max() > 0.5


def test_metadata_says_how_when_and_on_what(table):
    meta = table.metadata
    assert "record_table.py" in meta["how"]["command"]
    assert meta["how"]["n_configs"] == len(table)
    assert meta["how"]["max_epochs"] == 81
    assert {"learning_rate", "batch_size", "width"} <= set(meta["how"]["config_space"])
    assert meta["when"][:2] == "20"
    for key in ("cpu", "cores", "platform", "torch"):
        assert meta["hardware"][key]
    assert "thread_time" in meta["seconds"]
    assert np.array(meta["wall_seconds"]).shape == table.seconds.shape


def test_width_changes_the_cost_of_an_epoch_several_fold(table):
    per_epoch = {w: np.median([table.seconds[i].mean() for i, c in enumerate(table.configs)
                               if c["width"] == w]) for w in (1, 2, 4)}
    assert per_epoch[1] < per_epoch[2] < per_epoch[4]
    assert per_epoch[4] / per_epoch[1] >= 3.0


def _run(table, seed):
    scheduler = ASHA(table.config_space, metric="validation_error", mode="min",
                     type="promotion", max_resource_attr="max_epochs", grace_period=1,
                     reduction_factor=3, random_seed=seed, tie_break_metric="validation_loss")
    tuner = Tuner(SimulatedBackend(table), scheduler, StoppingCriterion(max_wallclock_time=60),
                  n_workers=4, save=False, progress=False)
    experiment = tuner.run()
    return experiment, [dumps_event(e) for e in tuner.events]


def test_simulated_asha_replays_the_table_reproducibly(table):
    experiment, log = _run(table, seed=3)
    results = experiment.results
    assert len(results) > 50
    # Every report is the table's value for that config and epoch.
    for _, row in results.head(30).iterrows():
        row_id, epoch = int(row["config_config_id"]), int(row["epoch"])
        expected = table.values["validation_error"][row_id, epoch - 1]
        assert row["validation_error"] == pytest.approx(expected)
    assert math.isfinite(experiment.best()["validation_error"])
    assert _run(table, seed=3)[1] == log
    assert _run(table, seed=4)[1] != log


def test_table_files_are_strict_json_and_round_trip(tmp_path):
    import json
    import math

    import numpy as np

    from asha_lesson import LearningCurveTable, SimulatedBackend
    from asha_lesson.benchmark_tables import load_lenet_digits_table

    table = load_lenet_digits_table()
    assert np.isnan(table.values["validation_loss"]).any()  # a diverged config, kept as recorded
    table.save(tmp_path / "t.json")

    def refuse(constant):
        raise ValueError(f"{constant} is not strict JSON")

    json.loads((tmp_path / "t.json").read_text(), parse_constant=refuse)
    again = LearningCurveTable.load(tmp_path / "t.json")
    for name, values in table.values.items():
        assert np.array_equal(values, again.values[name], equal_nan=True)
    # The simulator replays this table when given no objective.
    backend = SimulatedBackend()
    metrics, seconds = backend.objective({"config_id": 0}, 1)
    assert math.isfinite(seconds) and "validation_error" in metrics


def test_first_epochs_is_the_same_training_stopped_early(table):
    short = table.first_epochs(3)
    assert short.max_epochs == 3 and len(short) == len(table)
    assert short.config_space["max_epochs"] == 3
    assert short.configs == table.configs
    for name, values in table.values.items():
        assert np.array_equal(short.values[name], values[:, :3], equal_nan=True)
    assert np.array_equal(short.seconds, table.seconds[:, :3])
    assert f"first 3 of the {table.max_epochs}" in short.metadata["first_epochs"]
    assert np.array(short.metadata["wall_seconds"]).shape == short.seconds.shape
    assert short({"config_id": 5}, 3) == table({"config_id": 5}, 3)
    assert table.first_epochs(np.int64(table.max_epochs)).max_epochs == table.max_epochs
    assert load_lenet_digits_table(max_epochs=2).max_epochs == 2


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3", 10**6])
def test_first_epochs_rejects_what_the_table_does_not_hold(table, bad):
    with pytest.raises(ValueError, match=rf"max_epochs={bad!r} must be an integer from 1 to "
                                         rf"the table's {table.max_epochs} epochs"):
        table.first_epochs(bad)
