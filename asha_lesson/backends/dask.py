"""Run each trial as a task on a Dask ``distributed`` cluster: the thread backend, grown past one
machine.

The tuner's loop does not change. As with :class:`~asha_lesson.backends.threads.PythonBackend`, a
report travels from the trial to the tuner and the trial waits for the decision; only the
transport differs. By default the backend starts a ``LocalCluster`` of ``n_workers`` processes with
one thread each when the run opens and closes it when the run ends; pass a ``Client`` of your own
cluster instead and it is used, never closed.

How reports and decisions travel (all through the scheduler, using distributed's coordination
primitives; nothing else is opened between driver and workers):

* Reports: one ``distributed.Queue`` per run. Many tasks put, one driver thread gets; a queue is
  FIFO, blocks without polling and delivers each item exactly once. Items travel as pickled bytes
  because queue items must be msgpack-encodable and metrics may hold numpy scalars.
* Decisions: one ``distributed.Queue`` per worker slot. A slot runs one trial at a time and a trial
  waits for one answer per report, so its queue carries exactly one item per report. The
  alternatives are worse fits: a ``Variable`` keeps only the latest value (two PAUSE answers in a
  row would need a version counter), ``Pub``/``Sub`` drops messages published before the
  subscriber registered, and an ``Event`` carries no payload.
* Halting: one ``distributed.Event`` per run, checked once when a task starts (a task that was
  queued on a busy cluster stops before training). Reports that arrive after :meth:`halt` are
  answered STOP by the driver and never reach the tuner, as in the thread backend.
* Endings: each task returns ``(outcome, error, checkpoint)``. ``Future.add_done_callback`` only
  drops a marker on the local event queue; :meth:`next_event`, on the tuner's thread, gathers the
  result. A paused trial's checkpoint therefore lives in the driver's memory until the trial
  resumes, and a trial promoted before its previous run unwound is submitted from that thread
  once the run has ended and its checkpoint is known.

Requirements and costs:

* The tune function is pickled and sent to the workers. Module-level functions work when their
  module is importable on the workers; functions defined in a notebook or ``__main__`` are pickled
  by value (cloudpickle), together with what they reference. Lambdas capturing open files, locks or
  CUDA tensors do not pickle. ``asha_lesson`` itself must be installed on every worker.
* Each report costs two round trips through the scheduler (report in, decision out): a few
  milliseconds on a local cluster, more on a real network. That is nothing next to an epoch of
  training, but too much to report every mini-batch.
* What a trial prints goes to ``<experiment>/trials/<trial_id>.log`` when the worker can see that
  folder (same machine, or a shared file system); otherwise it stays in the worker's own log.
* If a worker dies (killed, out of memory, a crash in native code), the trial on it is marked
  failed ("the Dask task failed: KilledWorker ...") and the run goes on; its reports so far stay
  in the log. On the LocalCluster the backend starts, the scheduler is told not to run a task
  again after its worker died (``distributed.scheduler.allowed-failures`` = 0): a rerun would
  start over from the trial's last checkpoint and report epochs the tuner has already seen. On
  a cluster of your own that setting is yours; set it to 0 for the same behaviour.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import dask
import distributed

from ..decisions import Decision, Job
from ..reporter import TrialContext, TrialStopped, set_current_trial
from .base import (Backend, Ended, Outcome, Report, RunSettings, call_tune_function,
                   get_until)
from .threads import _OUTPUT

__all__ = ["DaskBackend"]

logger = logging.getLogger("asha_lesson")

_WAKE = object()
_CLOSE = None  # what the driver puts on the report queue to end its own reading thread


@dataclass(frozen=True)
class _Channels:
    """Names of one run's coordination objects on the scheduler, and where logs go."""

    reports: str
    decisions: tuple[str, ...]  # one per worker slot
    halt: str
    resource_attr: str
    log_dir: str
    torch_threads: int | None


@dataclass(frozen=True)
class _Done:
    """A trial's task finished (returned, raised or was cancelled)."""

    future: Any
    trial_id: int
    worker: int


@dataclass(frozen=True)
class _Broken:
    """The driver lost its report queue: the run cannot go on."""

    error: BaseException


class DaskBackend(Backend):
    """Run each trial as a Dask task; reports and decisions travel through the scheduler.

    Args:
        tune_function: called on a worker as ``tune_function(**config)``; reports with a
            ``Reporter``. It must pickle (see the module's docstring).
        client: a ``distributed.Client`` of an existing cluster, used as is and never closed.
            Without one, a ``LocalCluster`` with one single-threaded worker per tuner worker is
            started at :meth:`open` and closed at :meth:`close`.
        config_space: accepted for compatibility with the classic Syne Tune API.
        processes: whether the LocalCluster's workers are processes (True) or threads of this
            process (False: quicker to start, for tests and small demos).
        cluster_kwargs: further ``LocalCluster`` arguments (``dashboard_address``, ``memory_limit``,
            ...). Only for the LocalCluster the backend starts.
        torch_threads: if given, ``torch.set_num_threads`` on a worker before each trial whose
            process already imported torch. Dask already starts worker processes with
            ``OMP_NUM_THREADS=1``, so by default each worker trains on one core.
    """

    realtime = True

    def __init__(self, tune_function: Callable[..., Any], client: Any = None,
                 config_space: Mapping[str, Any] | None = None, *, processes: bool = True,
                 cluster_kwargs: Mapping[str, Any] | None = None,
                 torch_threads: int | None = None) -> None:
        if not callable(tune_function):
            raise ValueError(f"tune_function={tune_function!r} must be a callable")
        if client is not None and not isinstance(client, distributed.Client):
            raise ValueError(f"client={client!r} must be a distributed.Client (or None for a "
                             "LocalCluster started by the backend)")
        if client is not None and cluster_kwargs:
            raise ValueError(f"cluster_kwargs={dict(cluster_kwargs)!r} only apply to the "
                             "LocalCluster the backend starts, not to a client passed in")
        if torch_threads is not None and (not isinstance(torch_threads, int) or torch_threads < 1):
            raise ValueError(f"torch_threads={torch_threads!r} must be a positive integer")
        self.tune_function = tune_function
        self.client = client
        self.config_space = config_space
        self.processes = processes
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.torch_threads = torch_threads
        self._opened = False

    def describe(self) -> dict:
        # No addresses here: they change from run to run and the metadata must not.
        return {"backend": "DaskBackend",
                "tune_function": getattr(self.tune_function, "__name__", repr(self.tune_function)),
                "cluster": "client" if self.client is not None else
                f"LocalCluster(processes={self.processes})"}

    # -- the tuner's side --------------------------------------------------------------------

    def open(self, settings: RunSettings) -> None:
        self._settings = settings
        self._t0 = time.monotonic()
        self._cluster = self._client = None
        try:
            self._connect(settings)
            self._prepare(settings)
        except BaseException:
            self._disconnect()
            raise
        self._opened = True

    def _connect(self, settings: RunSettings) -> None:
        if self.client is None:
            options = {"n_workers": settings.n_workers, "threads_per_worker": 1,
                       "processes": self.processes, **self.cluster_kwargs}
            # A task whose worker died fails (KilledWorker) instead of running again.
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                self._cluster = distributed.LocalCluster(**options)
            self._client = distributed.Client(self._cluster, set_as_default=False)
            return
        self._client = self.client
        threads = sum(self._client.nthreads().values())
        if threads < settings.n_workers:
            logger.warning("the Dask cluster has %d threads for n_workers=%d: trials will queue "
                           "and their clocks include the wait", threads, settings.n_workers)

    def _disconnect(self) -> None:
        """Close the client and cluster this backend started; never a user's client."""
        if self._cluster is not None:
            if self._client is not None:
                self._client.close()
            self._cluster.close()
        self._cluster = self._client = None

    def _prepare(self, settings: RunSettings) -> None:
        base = settings.experiment_dir or tempfile.mkdtemp(prefix="asha-lesson-")
        log_dir = Path(base).resolve() / "trials"
        log_dir.mkdir(parents=True, exist_ok=True)
        run = self._run_name = f"asha-{uuid.uuid4().hex[:12]}"  # a cluster may serve many runs
        self._channels = _Channels(
            reports=f"{run}-reports",
            decisions=tuple(f"{run}-decisions-{w}" for w in range(settings.n_workers)),
            halt=f"{run}-halt", resource_attr=settings.resource_attr, log_dir=str(log_dir),
            torch_threads=self.torch_threads)
        self._reports = distributed.Queue(self._channels.reports, client=self._client)
        self._decisions = [distributed.Queue(name, client=self._client)
                           for name in self._channels.decisions]
        self._halt_event = distributed.Event(self._channels.halt, client=self._client)
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _halted and _pending (reader thread vs tuner)
        self._halted = False
        self._pending: dict[int, Report] = {}  # worker slot -> its unanswered report
        self._live: dict[int, Any] = {}  # trial_id -> future of its latest submitted run
        self._deferred: dict[int, tuple[int, Job]] = {}  # trial_id -> run waiting for the last
        self._checkpoints: dict[int, Any] = {}  # trial_id -> what its paused run saved
        self._runs = 0
        self._reader = threading.Thread(target=self._read_reports, daemon=True,
                                        name="asha-dask-reports")
        self._reader.start()

    def clock(self) -> float:
        return time.monotonic() - self._t0

    def start(self, worker: int, job: Job) -> None:
        if job.trial_id in self._live:
            # Promoted before its previous run unwound: that run's checkpoint is not back yet.
            self._deferred[job.trial_id] = (worker, job)
        else:
            self._submit(worker, job)

    def answer(self, report: Report, decision: Decision) -> None:
        with self._lock:
            if self._pending.get(report.worker) is not report:
                return  # halt() answered it already
            del self._pending[report.worker]
        self._decisions[report.worker].put(decision.value)

    def next_event(self, until: float | None) -> Report | Ended | None:
        item = get_until(self._events, until, self.clock)
        if item is None or item is _WAKE:
            return None
        if isinstance(item, _Done):
            return self._ended(item)
        if isinstance(item, _Broken):
            raise RuntimeError("the Dask backend lost its report queue") from item.error
        return item

    def wake(self) -> None:
        self._events.put(_WAKE)

    def halt(self) -> None:
        with self._lock:
            self._halted = True
            pending, self._pending = self._pending, {}
        # A task may wait for the answer to a report the tuner never gave (Ctrl-C struck between
        # deciding and answering): release it. Later reports are answered by the reader thread.
        for worker in pending:
            self._decisions[worker].put(Decision.STOP.value)
        self._halt_event.set()

    def close(self) -> None:
        if not self._opened:
            return
        self._opened = False
        try:
            if not self._halted:
                self.halt()
            if self._live:  # the tuner drains its trials; this only guards against misuse
                try:
                    distributed.wait(list(self._live.values()), timeout=60)
                except TimeoutError:
                    logger.warning("trials %s still run on the Dask cluster after 60 s",
                                   sorted(self._live))
            self._reports.put(_CLOSE)
            self._reader.join(timeout=60)
            for channel in (self._reports, *self._decisions):
                channel.close()
            self._halt_event.clear()  # the scheduler forgets a cleared event
        finally:
            self._live.clear()
            self._deferred.clear()
            self._checkpoints.clear()
            self._disconnect()

    # -- the driver's plumbing ---------------------------------------------------------------

    def _submit(self, worker: int, job: Job) -> None:
        checkpoint = self._checkpoints.pop(job.trial_id, None)
        if checkpoint is not None:
            # Worker to worker, not through the scheduler inside the task's definition.
            checkpoint = self._client.scatter([checkpoint], hash=False)[0]
        self._runs += 1
        future = self._client.submit(
            _run_trial, self.tune_function, job, worker, checkpoint, self._channels,
            key=f"{self._run_name}-trial-{job.trial_id}-run-{self._runs}",
            pure=False, retries=0)
        self._live[job.trial_id] = future
        events = self._events
        future.add_done_callback(lambda f: events.put(_Done(f, job.trial_id, worker)))

    def _ended(self, done: _Done) -> Ended:
        try:
            outcome, error, checkpoint = done.future.result()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as failure:  # the task itself failed: a worker died, say
            outcome, checkpoint = Outcome.RAISED, None
            error = ("the Dask task failed:\n"
                     + "".join(traceback.format_exception(type(failure), failure,
                                                          failure.__traceback__)))
            self._forget_slot(done.worker, done.trial_id)
        if self._live.get(done.trial_id) is done.future:
            del self._live[done.trial_id]
        if checkpoint is not None:
            self._checkpoints[done.trial_id] = checkpoint
        deferred = self._deferred.pop(done.trial_id, None)
        if deferred is not None:
            self._submit(*deferred)
        return Ended(done.trial_id, done.worker, self.clock(), outcome, error)

    def _forget_slot(self, worker: int, trial_id: int) -> None:
        """After a task died: no answer may wait in its slot for the slot's next trial."""
        with self._lock:
            pending = self._pending.get(worker)
            if pending is not None and pending.trial_id == trial_id:
                del self._pending[worker]
        channel = self._decisions[worker]
        while channel.qsize():  # answered after its task died, so nobody read it
            channel.get(timeout=5)

    def _read_reports(self) -> None:
        while True:
            try:
                item = self._reports.get()
            except Exception as error:
                self._events.put(_Broken(error))
                return
            if item is _CLOSE:
                return
            trial_id, worker, metrics = pickle.loads(item)
            with self._lock:
                halted = self._halted
                if not halted:
                    report = Report(trial_id, worker, self.clock(), metrics)
                    self._pending[worker] = report
            if halted:
                self._decisions[worker].put(Decision.STOP.value)
            else:
                self._events.put(report)


# -- the workers' side -----------------------------------------------------------------------

def _run_trial(tune_function: Callable[..., Any], job: Job, worker: int, checkpoint: Any,
               channels: _Channels) -> tuple[Outcome, str, Any]:
    """The task: run one trial on a Dask worker, reporting through the run's queues."""
    reports = distributed.Queue(channels.reports)
    decisions = distributed.Queue(channels.decisions[worker])

    def send(metrics: dict) -> Decision:
        try:
            reports.put(pickle.dumps((job.trial_id, worker, dict(metrics))))
            return Decision(decisions.get())
        except Exception as error:  # the scheduler or the tuner went away
            raise TrialStopped(f"trial {job.trial_id} lost the tuner: {error!r}") from error

    context = TrialContext(job.trial_id, dict(job.config), channels.resource_attr,
                           job.resume_from, send, checkpoint)
    set_current_trial(context)
    log = None
    if os.path.isdir(channels.log_dir):  # the driver's folder is visible from this worker
        log = open(os.path.join(channels.log_dir, f"{job.trial_id}.log"), "a", encoding="utf-8")
        _OUTPUT.install()
        _OUTPUT.route(log)
    torch = sys.modules.get("torch")  # never import torch here
    if torch is not None and channels.torch_threads is not None:
        torch.set_num_threads(channels.torch_threads)
    try:
        print(f"--- trial {job.trial_id} on worker {worker} ({distributed.get_worker().address}),"
              f" from {channels.resource_attr} {job.resume_from}: {job.config}")
        outcome, error, saved = call_tune_function(tune_function, job, context,
                                                   distributed.Event(channels.halt).is_set())
    finally:
        if log is not None:
            _OUTPUT.route(None)
            _OUTPUT.uninstall()
            log.close()
        set_current_trial(None)
        reports.close()
        decisions.close()
    return outcome, error, saved
