"""The thread backend with plain-Python tune functions (no torch): pause/resume, stop,
failures, interrupts, output capture, and agreement with the simulator."""

import math
import threading
import time

import pytest

from asha_lesson import (ASHA, EventKind, PythonBackend, Reporter, SimulatedBackend,
                         StoppingCriterion, SynchronousSuccessiveHalving, SyntheticLeNet, Tuner,
                         load_experiment)

BENCH = SyntheticLeNet(max_epochs=9)


def curve_function(learning_rate, batch_size, max_epochs):
    """A deterministic objective that keeps its state in a checkpoint."""
    report = Reporter()
    state = report.load_checkpoint()
    if state is not None:
        print(f"restored the checkpoint of epoch {state['epoch']}")
    state = state or {"epoch": 0, "weights": []}
    report.on_pause(lambda: {"epoch": state["epoch"], "weights": list(state["weights"])})
    for epoch in range(state["epoch"] + 1, max_epochs + 1):
        state["epoch"] = epoch
        state["weights"].append(epoch)  # what a resumed run must find again
        metrics, _ = BENCH({"learning_rate": learning_rate, "batch_size": batch_size}, epoch)
        assert state["weights"] == list(range(1, epoch + 1)), "weights were not restored"
        print(f"epoch {epoch}: {metrics}")
        report(epoch=epoch, **metrics)


def asha(kind="promotion", seed=0, **kw):
    return ASHA(BENCH.config_space, metric="validation_error", max_resource_attr="max_epochs",
                reduction_factor=3, type=kind, random_seed=seed, **kw)


def test_pause_and_resume_continue_the_epoch_count_and_the_state(capsys):
    tuner = Tuner(PythonBackend(curve_function), asha(), StoppingCriterion(max_num_results=120),
                  n_workers=2)
    experiment = tuner.run()
    assert experiment.failures().empty, experiment.failures()["reason"].tolist()
    resumed = [e.trial_id for e in experiment.events if e.kind is EventKind.RESUMED]
    assert len(resumed) >= 5
    for trial_id, rows in experiment.results.groupby("trial_id"):
        assert list(rows["epoch"]) == list(range(1, len(rows) + 1))
    # What trials printed went to their logs, not to the notebook/console.
    assert "epoch 1:" not in capsys.readouterr().out
    log = (tuner.path / "trials" / f"{resumed[0]}.log").read_text()
    assert "epoch 1:" in log and "epoch 2:" in log
    # Resumed from the checkpoint, not replayed from epoch 1.
    assert "restored the checkpoint of epoch 1" in log
    assert log.count("\nepoch 1:") == 1


def no_checkpoint_function(learning_rate, batch_size, max_epochs):
    report = Reporter()
    for epoch in range(1, max_epochs + 1):
        metrics, _ = BENCH({"learning_rate": learning_rate, "batch_size": batch_size}, epoch)
        report(epoch=epoch, **metrics)


def test_a_function_without_checkpoint_is_replayed_not_restarted():
    experiment = Tuner(PythonBackend(no_checkpoint_function), asha(),
                       StoppingCriterion(max_num_results=80), n_workers=2).run()
    assert experiment.failures().empty
    assert any(e.kind is EventKind.RESUMED for e in experiment.events)
    for trial_id, rows in experiment.results.groupby("trial_id"):
        assert list(rows["epoch"]) == list(range(1, len(rows) + 1))


def test_stopped_trials_unwind_and_the_worker_moves_on():
    experiment = Tuner(PythonBackend(curve_function), asha("stopping"),
                       StoppingCriterion(max_num_results=60), n_workers=2).run()
    statuses = experiment.trial_statuses()
    assert (statuses == "stopped").sum() >= 3
    assert experiment.results["trial_id"].nunique() > 5


def flaky_function(learning_rate, batch_size, max_epochs):
    report = Reporter()
    for epoch in range(1, max_epochs + 1):
        if batch_size % 3 == 0 and epoch == 2:
            raise RuntimeError(f"boom in epoch {epoch}")
        value = math.nan if learning_rate > 0.3 else 0.5 / epoch
        report(epoch=epoch, validation_error=value)


def test_failures_are_recorded_and_the_run_goes_on():
    tuner = Tuner(PythonBackend(flaky_function), asha("stopping", seed=1),
                  StoppingCriterion(max_num_results=40), n_workers=2)
    experiment = tuner.run()
    reasons = " ".join(experiment.failures()["reason"])
    assert "RuntimeError: boom in epoch 2" in reasons and "Traceback" in reasons
    assert "reported validation_error=nan, which must be a finite number" in reasons
    assert experiment.events[-1].data["reason"] == "max_num_results=40 reached"
    # The failing trial's traceback also sits in its log.
    failed = experiment.failures()
    raised = failed[failed["reason"].str.contains("boom")]["trial_id"].iloc[0]
    assert "RuntimeError: boom" in (tuner.path / "trials" / f"{raised}.log").read_text()


def slow_function(learning_rate, max_epochs):
    report = Reporter()
    for epoch in range(1, 1000):
        time.sleep(0.02)
        report(epoch=epoch, validation_error=1.0 / epoch + learning_rate)


def test_stop_from_another_thread_ends_every_worker_within_an_epoch():
    tuner = Tuner(PythonBackend(slow_function),
                  ASHA({"learning_rate": BENCH.config_space["learning_rate"], "max_epochs": 999},
                       metric="validation_error", max_resource_attr="max_epochs", type="stopping",
                       random_seed=0),
                  StoppingCriterion(), n_workers=2)
    threading.Timer(0.5, tuner.stop).start()
    started = time.monotonic()
    experiment = tuner.run()
    assert time.monotonic() - started < 1.5
    assert experiment.events[-1].data["reason"] == "stopped by request"
    assert not [t for t in threading.enumerate() if t.name.startswith("asha-worker")]
    on_disk = load_experiment(tuner.name)
    assert on_disk.events == experiment.events  # everything recorded reached the disk
    assert set(on_disk.trial_statuses()) == {"stopped"}


def test_keyboard_interrupt_keeps_what_was_recorded():
    count = {"n": 0}

    def ctrl_c_on_the_tenth_report(event):
        if event.kind is EventKind.REPORTED:
            count["n"] += 1
            if count["n"] == 10:
                raise KeyboardInterrupt

    tuner = Tuner(PythonBackend(slow_function),
                  ASHA({"learning_rate": BENCH.config_space["learning_rate"], "max_epochs": 999},
                       metric="validation_error", max_resource_attr="max_epochs", random_seed=0),
                  StoppingCriterion(max_wallclock_time=30), n_workers=2,
                  callbacks=[ctrl_c_on_the_tenth_report])
    with pytest.raises(KeyboardInterrupt):
        tuner.run()
    on_disk = load_experiment(tuner.name)
    assert len(on_disk.results) == 10
    assert on_disk.events[-1].kind is EventKind.RUN_ENDED
    assert on_disk.events[-1].data["reason"] == "interrupted (KeyboardInterrupt)"
    assert not [t for t in threading.enumerate() if t.name.startswith("asha-worker")]


def decisions(experiment):
    """Every event but its time: what was decided, in order."""
    return [(e.kind, e.trial_id, e.worker, e.resource,
             (e.data or {}).get("decision"), (e.data or {}).get("config"))
            for e in experiment.events[1:-1]]


@pytest.mark.parametrize("make", [lambda: asha("promotion", seed=4), lambda: asha("stopping", seed=4),
                                  lambda: SynchronousSuccessiveHalving(
                                      BENCH.config_space, metric="validation_error",
                                      max_resource_attr="max_epochs", reduction_factor=3,
                                      random_seed=4)])
def test_one_worker_threads_and_simulator_decide_the_same(make):
    criterion = StoppingCriterion(max_num_results=150)
    threaded = Tuner(PythonBackend(curve_function), make(), criterion, n_workers=1).run()
    simulated = Tuner(SimulatedBackend(BENCH), make(), criterion, n_workers=1).run()
    assert len(threaded.results) == 150
    assert decisions(threaded) == decisions(simulated)


def fast_function(learning_rate, batch_size, max_epochs):
    report = Reporter()
    state = report.load_checkpoint() or {"epoch": 0}
    report.on_pause(lambda: dict(state))
    for epoch in range(state["epoch"] + 1, max_epochs + 1):
        state["epoch"] = epoch
        report(epoch=epoch, validation_error=BENCH({"learning_rate": learning_rate,
                                                    "batch_size": batch_size}, epoch)[0][
            "validation_error"])


@pytest.mark.parametrize("kind", ["promotion", "stopping"])
def test_stress_many_workers_many_tiny_trials(kind):
    """Thousands of reports from 8 threads: the log stays consistent."""
    experiment = Tuner(PythonBackend(fast_function), asha(kind, seed=9),
                       StoppingCriterion(max_num_results=3000), n_workers=8, progress=False).run()
    assert len(experiment.results) == 3000
    assert experiment.failures().empty
    running = {}
    for e in experiment.events:
        if e.kind in (EventKind.TRIAL_STARTED, EventKind.RESUMED):
            assert e.worker not in running.values(), "two trials on one worker"
            running[e.trial_id] = e.worker
        elif e.kind in (EventKind.PAUSED, EventKind.STOPPED, EventKind.COMPLETED):
            running.pop(e.trial_id, None)
        assert len(running) <= 8
    for _, rows in experiment.results.groupby("trial_id"):
        assert list(rows["epoch"]) == list(range(1, len(rows) + 1))


def test_start_runs_in_the_background_and_stop_ends_it():
    tuner = Tuner(PythonBackend(slow_function),
                  ASHA({"learning_rate": BENCH.config_space["learning_rate"], "max_epochs": 999},
                       metric="validation_error", max_resource_attr="max_epochs", random_seed=0),
                  StoppingCriterion(max_wallclock_time=60), n_workers=2, progress=False)
    tuner.start()
    time.sleep(0.4)
    assert tuner.running and len(tuner.experiment.results) > 0  # a live view of the run so far
    tuner.stop()
    experiment = tuner.wait(timeout=5)
    assert not tuner.running
    assert experiment.events[-1].data["reason"] == "stopped by request"
    with pytest.raises(RuntimeError, match="was already started"):
        tuner.start()
