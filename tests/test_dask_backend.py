"""The Dask backend: the thread backend's scenarios on a `distributed` cluster.

Most tests share one LocalCluster of threads (quick to start) passed in as a user's client; one
test lets the backend start and close a LocalCluster of processes, to prove that tune functions,
reports, decisions and checkpoints cross process boundaries. The tune functions live at module
level so that worker processes can import them by name.
"""

import logging
import math
import multiprocessing
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from asha_lesson import (ASHA, EventKind, RandomSearch, Reporter,  # noqa: E402
                         SimulatedBackend, StoppingCriterion, SynchronousSuccessiveHalving,
                         SyntheticLeNet, Tuner, load_experiment, uniform)
from asha_lesson.backends.base import Ended, Outcome, Report, RunSettings  # noqa: E402
from asha_lesson.backends.dask import DaskBackend  # noqa: E402
from asha_lesson.decisions import Decision, Job  # noqa: E402

BENCH = SyntheticLeNet(max_epochs=9)
QUIET = {"dashboard_address": None, "silence_logs": logging.ERROR}


@pytest.fixture(scope="module", autouse=True)
def _quiet_distributed():
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture(scope="module")
def client(_quiet_distributed):
    """A user's cluster: two single-threaded workers in this process."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  **QUIET) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield client


def leftovers_on_the_scheduler(client):
    """Queues and events a run left on a user's scheduler (after the workers' releases, which
    travel asynchronously, had 5 s to arrive): there should be none."""
    def names(dask_scheduler):
        return (list(dask_scheduler.extensions["queues"].queues)
                + list(dask_scheduler.extensions["events"]._events))
    deadline = time.monotonic() + 5
    while (left := client.run_on_scheduler(names)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def no_reader_threads_left():
    return not [t for t in threading.enumerate() if t.name.startswith("asha-dask")]


def curve_function(learning_rate, batch_size, max_epochs):
    """A deterministic objective that keeps its state in a checkpoint."""
    report = Reporter()
    state = report.load_checkpoint() or {"epoch": 0, "weights": []}
    if state["epoch"]:  # without it, the Reporter would replay from epoch 1 and hide the loss
        print(f"restored the checkpoint of epoch {state['epoch']}")
    report.on_pause(lambda: {"epoch": state["epoch"], "weights": list(state["weights"])})
    for epoch in range(state["epoch"] + 1, max_epochs + 1):
        state["epoch"] = epoch
        state["weights"].append(epoch)  # what a resumed run must find again
        metrics, _ = BENCH({"learning_rate": learning_rate, "batch_size": batch_size}, epoch)
        if state["weights"] != list(range(1, epoch + 1)):
            raise RuntimeError(f"weights were not restored: {state['weights']}")
        print(f"epoch {epoch}: {metrics}")
        report(epoch=epoch, **metrics)


def assert_resumed_runs_restored_their_checkpoints(tuner, experiment):
    results = experiment.results
    resumed = [e for e in experiment.events if e.kind is EventKind.RESUMED]
    checked = 0
    for event in resumed:
        ran_on = results[(results["trial_id"] == event.trial_id)
                         & (results["epoch"] == event.resource + 1)]
        if len(ran_on):  # not halted before it trained again
            log = (tuner.path / "trials" / f"{event.trial_id}.log").read_text()
            assert f"restored the checkpoint of epoch {event.resource}" in log
            checked += 1
    assert checked >= 3


def asha(kind="promotion", seed=0, **kw):
    return ASHA(BENCH.config_space, metric="validation_error", max_resource_attr="max_epochs",
                reduction_factor=3, type=kind, random_seed=seed, **kw)


def test_pause_and_resume_across_worker_processes(capsys):
    """The one test with worker processes: the backend starts its own LocalCluster and closes it."""
    backend = DaskBackend(curve_function, cluster_kwargs=QUIET)
    tuner = Tuner(backend, asha(), StoppingCriterion(max_num_results=60), n_workers=2,
                  progress=False)
    experiment = tuner.run()
    assert experiment.failures().empty, experiment.failures()["reason"].tolist()
    resumed = [e.trial_id for e in experiment.events if e.kind is EventKind.RESUMED]
    assert_resumed_runs_restored_their_checkpoints(tuner, experiment)
    for _, rows in experiment.results.groupby("trial_id"):
        assert list(rows["epoch"]) == list(range(1, len(rows) + 1))
    # Worker processes wrote what trials printed into the trials' logs, next to the experiment.
    log = (tuner.path / "trials" / f"{resumed[0]}.log").read_text()
    assert "epoch 1:" in log and "epoch 2:" in log and "tcp://" in log
    assert "epoch 1:" not in capsys.readouterr().out
    # The cluster the backend started is gone: no worker processes, no reader thread.
    assert backend._cluster is None and not multiprocessing.active_children()
    assert no_reader_threads_left()


def dies_once(marker, x, max_epochs):
    """The first trial to reach epoch 2 kills its worker process (as an out-of-memory kill
    would); every other trial trains normally."""
    import os
    report = Reporter()
    for epoch in range(1, max_epochs + 1):
        if epoch == 2:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                os._exit(1)
            except FileExistsError:
                pass
        report(epoch=epoch, validation_error=x / epoch)


def test_a_trial_whose_worker_dies_fails_and_the_run_goes_on(tmp_path):
    marker = str(tmp_path / "died")
    space = {"marker": marker, "x": uniform(0, 1), "max_epochs": 3}
    scheduler = RandomSearch(space, metric="validation_error", max_resource_attr="max_epochs",
                             random_seed=0)
    tuner = Tuner(DaskBackend(dies_once, cluster_kwargs=QUIET), scheduler,
                  StoppingCriterion(max_num_results=12), n_workers=2, progress=False)
    experiment = tuner.run()
    failures = experiment.failures()
    assert len(failures) == 1, failures
    dead = int(failures["trial_id"].iloc[0])
    assert "the Dask task failed" in failures["reason"].iloc[0]
    assert "KilledWorker" in failures["reason"].iloc[0]
    results = experiment.results
    # What the dead trial reported stays; it was not run again from the start.
    assert list(results[results["trial_id"] == dead]["epoch"]) == [1]
    for _, rows in results.groupby("trial_id"):
        assert list(rows["epoch"]) == list(range(1, len(rows) + 1))
    assert len(results) >= 12  # the other worker, and the restarted one, went on


def test_pause_and_resume_continue_the_epoch_count_and_the_state(client):
    tuner = Tuner(DaskBackend(curve_function, client), asha(),
                  StoppingCriterion(max_num_results=120), n_workers=2, progress=False)
    experiment = tuner.run()
    assert experiment.failures().empty, experiment.failures()["reason"].tolist()
    assert sum(e.kind is EventKind.RESUMED for e in experiment.events) >= 5
    assert_resumed_runs_restored_their_checkpoints(tuner, experiment)
    for _, rows in experiment.results.groupby("trial_id"):
        assert list(rows["epoch"]) == list(range(1, len(rows) + 1))
    assert client.status == "running"  # a user's client is used, never closed
    assert leftovers_on_the_scheduler(client) == []
    assert no_reader_threads_left()


def test_a_trial_promoted_before_its_last_run_ended_waits_for_its_checkpoint(client, tmp_path):
    """Driven by hand: resume trial 0 on worker 1 the moment worker 0 was told to pause it."""
    backend = DaskBackend(curve_function, client)
    backend.open(RunSettings(2, "epoch", 9, str(tmp_path)))
    config = {"learning_rate": 0.1, "batch_size": 64, "max_epochs": 9}
    try:
        backend.start(0, Job(0, config, resume_from=0, milestone=1))
        first = backend.next_event(None)
        assert (type(first), first.worker, first.metrics["epoch"]) == (Report, 0, 1)
        backend.answer(first, Decision.PAUSE)
        backend.start(1, Job(0, config, resume_from=1, milestone=3))
        paused = backend.next_event(None)
        assert (type(paused), paused.worker, paused.outcome) == (Ended, 0, Outcome.UNWOUND)
        resumed = backend.next_event(None)
        assert (type(resumed), resumed.worker, resumed.metrics["epoch"]) == (Report, 1, 2)
        backend.answer(resumed, Decision.STOP)
        stopped = backend.next_event(None)
        assert (type(stopped), stopped.worker, stopped.outcome) == (Ended, 1, Outcome.UNWOUND)
        assert stopped.error == ""  # curve_function raises if its weights were not restored
    finally:
        backend.close()
    log = (tmp_path / "trials" / "0.log").read_text()
    assert "from epoch 1" in log and "restored the checkpoint of epoch 1" in log
    assert "epoch 2:" in log


def test_halt_answers_a_waiting_report_and_stops_trials_before_they_start(client, tmp_path):
    backend = DaskBackend(curve_function, client)
    backend.open(RunSettings(2, "epoch", 9, str(tmp_path)))
    config = {"learning_rate": 0.1, "batch_size": 64, "max_epochs": 9}
    try:
        backend.start(0, Job(0, config, resume_from=0, milestone=9))
        assert isinstance(backend.next_event(None), Report)  # left unanswered
        backend.halt()
        ended = backend.next_event(5.0)
        assert isinstance(ended, Ended) and ended.outcome is Outcome.UNWOUND
        backend.start(1, Job(1, config, resume_from=0, milestone=9))
        ended = backend.next_event(5.0)  # no report: the task saw the halt before training
        assert isinstance(ended, Ended) and ended.trial_id == 1
    finally:
        backend.close()
    log = (tmp_path / "trials" / "1.log").read_text()
    assert "--- trial 1" in log and "epoch 1:" not in log


def test_stopped_trials_unwind_and_the_worker_moves_on(client):
    experiment = Tuner(DaskBackend(curve_function, client), asha("stopping"),
                       StoppingCriterion(max_num_results=60), n_workers=2, progress=False).run()
    assert (experiment.trial_statuses() == "stopped").sum() >= 3
    assert experiment.results["trial_id"].nunique() > 5


def flaky_function(learning_rate, batch_size, max_epochs):
    report = Reporter()
    for epoch in range(1, max_epochs + 1):
        if batch_size % 3 == 0 and epoch == 2:
            raise RuntimeError(f"boom in epoch {epoch}")
        value = math.nan if learning_rate > 0.3 else 0.5 / epoch
        report(epoch=epoch, validation_error=value)


def test_failures_are_recorded_and_the_run_goes_on(client):
    tuner = Tuner(DaskBackend(flaky_function, client), asha("stopping", seed=1),
                  StoppingCriterion(max_num_results=40), n_workers=2, progress=False)
    experiment = tuner.run()
    reasons = " ".join(experiment.failures()["reason"])
    assert "RuntimeError: boom in epoch 2" in reasons and "Traceback" in reasons
    assert experiment.events[-1].data["reason"] == "max_num_results=40 reached"
    failed = experiment.failures()
    raised = failed[failed["reason"].str.contains("boom")]["trial_id"].iloc[0]
    assert "RuntimeError: boom" in (tuner.path / "trials" / f"{raised}.log").read_text()


def slow_function(learning_rate, max_epochs):
    report = Reporter()
    for epoch in range(1, 1000):
        time.sleep(0.02)
        report(epoch=epoch, validation_error=1.0 / epoch + learning_rate)


def test_stop_from_another_thread_ends_the_run_promptly(client):
    tuner = Tuner(DaskBackend(slow_function, client),
                  ASHA({"learning_rate": BENCH.config_space["learning_rate"], "max_epochs": 999},
                       metric="validation_error", max_resource_attr="max_epochs", type="stopping",
                       random_seed=0),
                  StoppingCriterion(), n_workers=2, progress=False)
    threading.Timer(0.5, tuner.stop).start()
    started = time.monotonic()
    experiment = tuner.run()
    assert time.monotonic() - started < 1.5
    assert experiment.events[-1].data["reason"] == "stopped by request"
    assert len(experiment.results) > 10
    on_disk = load_experiment(tuner.name)
    assert on_disk.events == experiment.events
    assert set(on_disk.trial_statuses()) == {"stopped"}
    assert leftovers_on_the_scheduler(client) == []
    assert no_reader_threads_left()


def decisions(experiment):
    """Every event but its time: what was decided, in order."""
    return [(e.kind, e.trial_id, e.worker, e.resource,
             (e.data or {}).get("decision"), (e.data or {}).get("config"))
            for e in experiment.events[1:-1]]


@pytest.mark.parametrize("make", [lambda: asha("promotion", seed=4),
                                  lambda: asha("stopping", seed=4),
                                  lambda: SynchronousSuccessiveHalving(
                                      BENCH.config_space, metric="validation_error",
                                      max_resource_attr="max_epochs", reduction_factor=3,
                                      random_seed=4)],
                         ids=["asha-promotion", "asha-stopping", "synchronous-sh"])
def test_one_worker_dask_and_simulator_decide_the_same(client, make):
    criterion = StoppingCriterion(max_num_results=150)
    on_dask = Tuner(DaskBackend(curve_function, client), make(), criterion, n_workers=1,
                    progress=False).run()
    simulated = Tuner(SimulatedBackend(BENCH), make(), criterion, n_workers=1).run()
    assert len(on_dask.results) == 150
    assert decisions(on_dask) == decisions(simulated)


@pytest.mark.parametrize("kwargs, message", [
    ({"tune_function": 3}, "tune_function=3 must be a callable"),
    ({"tune_function": curve_function, "client": "tcp://x:8786"}, "must be a distributed.Client"),
    ({"tune_function": curve_function, "torch_threads": 0}, "torch_threads=0 must be a positive"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DaskBackend(**kwargs)


def test_cluster_options_do_not_apply_to_a_users_client(client):
    with pytest.raises(ValueError, match="cluster_kwargs=.* only apply to the LocalCluster"):
        DaskBackend(curve_function, client, cluster_kwargs={"memory_limit": "1GB"})
