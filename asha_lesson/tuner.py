"""The tuner: one loop that drives any scheduler with any backend and logs every event.

The loop never sleeps and never reads a clock of its own: it asks the backend what happens next
(``next_event``) and what time it is (``clock``). The same loop therefore serves the thread
backend on the wall clock and the simulated backend on virtual time.
"""

from __future__ import annotations

import logging
import math
import platform
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from .backends.base import Backend, Ended, Outcome, Report, RunSettings
from .decisions import Decision, Job, TrialStatus, Wait
from .events import Event, EventKind, EventLog
from .schedulers.base import Scheduler
from .storage import EventWriter, new_experiment_dir, write_metadata

__all__ = ["StoppingCriterion", "Tuner"]

logger = logging.getLogger("asha_lesson")


@dataclass(frozen=True)
class StoppingCriterion:
    """When a run ends: whichever limit is reached first. ``None`` means no limit.

    ``max_wallclock_time`` is in seconds on the backend's clock (virtual seconds for the
    simulator). ``max_num_trials_started`` stops new trials from starting; the run then ends once
    the started ones have nothing left to do.
    """

    max_wallclock_time: float | None = None
    max_num_trials_started: int | None = None
    max_num_trials_completed: int | None = None
    max_num_trials_finished: int | None = None  # completed, stopped or failed
    max_num_results: int | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                    or (name != "max_wallclock_time" and value != int(value)):
                kind = "a positive number" if name == "max_wallclock_time" else "a positive integer"
                raise ValueError(f"{name}={value!r} must be {kind} (or None for no limit)")


_TRANSITION_EVENT = {
    TrialStatus.PAUSED: EventKind.PAUSED,
    TrialStatus.STOPPED: EventKind.STOPPED,
    TrialStatus.COMPLETED: EventKind.COMPLETED,
    TrialStatus.FAILED: EventKind.FAILED,
}


class Tuner:
    """Run ``scheduler`` on ``trial_backend`` with ``n_workers`` until ``stop_criterion``.

    Every event goes to an append-only log, written as it happens to
    ``<experiment root>/<name>/events.jsonl`` (see :mod:`asha_lesson.storage`) and handed to each
    ``callbacks`` entry (a function of one :class:`~asha_lesson.events.Event`). A callback that
    raises is dropped with a warning; the run goes on.
    """

    def __init__(self, trial_backend: Backend, scheduler: Scheduler,
                 stop_criterion: StoppingCriterion, n_workers: int = 2, *,
                 tuner_name: str | None = None, experiment_root: str | None = None,
                 save: bool = True, callbacks: Iterable[Callable[[Event], None]] = (),
                 progress: bool | None = None, print_update_interval: float | None = None,
                 sleep_time: float | None = None, results_update_interval: float | None = None,
                 metadata: dict | None = None) -> None:
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers={n_workers!r} must be an integer >= 1")
        if not isinstance(scheduler, Scheduler):
            raise ValueError(f"scheduler={scheduler!r} must be an asha_lesson scheduler")
        if not isinstance(stop_criterion, StoppingCriterion):
            raise ValueError(f"stop_criterion={stop_criterion!r} must be a StoppingCriterion")
        self.trial_backend = trial_backend
        self.scheduler = scheduler
        self.stop_criterion = stop_criterion
        self.n_workers = n_workers
        self.save = save
        # Accepted for compatibility with the classic Syne Tune API: this loop does not poll.
        self.print_update_interval = print_update_interval
        self.progress = trial_backend.realtime if progress is None else progress
        self.events = EventLog()
        self._callbacks = list(callbacks)
        self._extra_metadata = dict(metadata or {})
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self._result = self._error = None
        self.path: Path | None = None
        if save:
            self.path = new_experiment_dir(tuner_name or scheduler.name, experiment_root)
            self.name = self.path.name
        else:
            self.name = tuner_name or scheduler.name

    # -- public --------------------------------------------------------------------------------

    def stop(self) -> None:
        """End the run soon, from any thread (a notebook's stop button, say)."""
        self._stop_requested.set()
        self.trial_backend.wake()

    def start(self) -> threading.Thread:
        """Run in a background thread and return at once, leaving the notebook free (to click
        a stop button, to watch widgets). :meth:`wait` returns the experiment."""
        if self._thread is not None:
            raise RuntimeError(f"tuner {self.name!r} was already started")

        def target() -> None:
            try:
                self._result = self.run()
            except BaseException as error:  # kept for wait(); the log records the failure
                self._error = error

        self._thread = threading.Thread(target=target, name=f"asha-tuner-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self._thread

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None):
        """Wait for a run begun with :meth:`start`; return its experiment (re-raising a
        failure of the tuner itself)."""
        if self._thread is None:
            raise RuntimeError("wait() follows start()")
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"tuner {self.name!r} still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result

    @property
    def experiment(self):
        """The run so far (or the finished run) as an :class:`~asha_lesson.experiment.Experiment`."""
        from .experiment import Experiment
        return Experiment(self.name, self.events.snapshot(), self.path)

    def run(self):
        """Run to the end and return the :class:`~asha_lesson.experiment.Experiment`."""
        writer = None
        if self.path is not None:
            writer = EventWriter(self.path, flush_each=self.trial_backend.realtime)
            self.events.subscribe(writer)
        for callback in self._callbacks:
            self.events.subscribe(_guarded(callback, self._callbacks))
        progress = _Progress(self) if self.progress else None
        if progress is not None:
            self.events.subscribe(progress)
        try:
            self._loop()
        except KeyboardInterrupt:
            self._finish("interrupted (KeyboardInterrupt)")
            raise
        except BaseException as error:
            self._finish(f"the tuner failed: {error!r}")
            raise
        finally:
            if progress is not None:
                progress.close(self.trial_backend.clock())
            if writer is not None:
                writer.close()
            self.trial_backend.close()
        return self.experiment

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        backend, criterion = self.trial_backend, self.stop_criterion
        backend.open(RunSettings(self.n_workers, self.scheduler.resource_attr,
                                 self.scheduler.max_resource_,
                                 str(self.path) if self.path else None))
        self._running: dict[int, int] = {}  # worker -> trial_id
        self._worker_of: dict[int, int] = {}  # trial_id -> worker
        self._idle: dict[int, bool] = {w: False for w in range(self.n_workers)}  # logged idle?
        self._started = self._results = self._completed = self._finished = 0
        self._ended = False
        metadata = self._metadata()
        if self.path is not None:
            write_metadata(self.path, {"name": self.name, **metadata})
        self._emit(Event(0.0, EventKind.RUN_STARTED, data=metadata))
        deadline = criterion.max_wallclock_time
        self._fill_idle_workers()
        while True:
            reason = self._stop_reason()
            if reason:
                break
            if not self._running:
                reason = "nothing left to run"
                break
            event = backend.next_event(deadline)
            if event is None:
                continue  # the deadline passed, or stop() woke us: the next check says which
            if isinstance(event, Report):
                self._on_report(event)
            else:
                self._on_ended(event)
        self._finish(reason)

    def _stop_reason(self) -> str:
        c = self.stop_criterion
        if self._stop_requested.is_set():
            return "stopped by request"
        if c.max_wallclock_time is not None and self.trial_backend.clock() >= c.max_wallclock_time:
            return f"max_wallclock_time={c.max_wallclock_time} reached"
        if c.max_num_results is not None and self._results >= c.max_num_results:
            return f"max_num_results={c.max_num_results} reached"
        if c.max_num_trials_completed is not None and self._completed >= c.max_num_trials_completed:
            return f"max_num_trials_completed={c.max_num_trials_completed} reached"
        if c.max_num_trials_finished is not None and self._finished >= c.max_num_trials_finished:
            return f"max_num_trials_finished={c.max_num_trials_finished} reached"
        return ""

    def _on_report(self, report: Report) -> None:
        if self._ended or self.scheduler.status(report.trial_id) is not TrialStatus.RUNNING:
            self.trial_backend.answer(report, Decision.STOP)
            return
        resource = report.metrics.get(self.scheduler.resource_attr)
        decision = self.scheduler.on_report(report.trial_id, resource, report.metrics)
        # The trial gets its answer first: a worker never waits for the log or for a view.
        self.trial_backend.answer(report, decision)
        self._results += 1
        self._emit(Event(report.time, EventKind.REPORTED, report.trial_id, report.worker,
                         resource if isinstance(resource, int) else None,
                         {"metrics": report.metrics, "decision": decision.value}))
        self._log_transitions(report.time)
        if any(self._idle.values()):
            self._fill_idle_workers()  # a report can lift a barrier for waiting workers

    def _on_ended(self, ended: Ended) -> None:
        self._running.pop(ended.worker, None)
        # A paused trial may already run again elsewhere; then this is its previous run ending.
        current = self._worker_of.get(ended.trial_id) == ended.worker
        if current:
            del self._worker_of[ended.trial_id]
        if self._ended:
            return
        if current and self.scheduler.status(ended.trial_id) is TrialStatus.RUNNING:
            if ended.outcome is Outcome.RAISED:
                self.scheduler.on_fail(ended.trial_id, ended.error or "the tune function raised")
            elif ended.outcome is Outcome.RETURNED:
                self.scheduler.on_complete(ended.trial_id)
            else:
                self.scheduler.on_fail(ended.trial_id, "the tune function ended without a "
                                                       "decision to pause or stop it")
            self._log_transitions(ended.time, {ended.trial_id: ended.worker})
        self._idle[ended.worker] = False
        self._fill_idle_workers()

    def _fill_idle_workers(self) -> None:
        limit = self.stop_criterion.max_num_trials_started
        for worker in range(self.n_workers):
            if worker in self._running:
                continue
            allow_new = limit is None or self._started < limit
            job = self.scheduler.suggest(allow_new)
            now = self.trial_backend.clock()
            if isinstance(job, Wait):
                self._log_transitions(now)  # closing a cut-short rung may stop trials
                self._mark_idle(now, job.reason)
                return
            self._start(now, worker, job)

    def _mark_idle(self, now: float, reason: str) -> None:
        for worker in range(self.n_workers):
            if worker not in self._running and not self._idle[worker]:
                self._idle[worker] = True
                self._emit(Event(now, EventKind.WORKER_IDLE, worker=worker, data={"reason": reason}))

    def _start(self, now: float, worker: int, job: Job) -> None:
        self._idle[worker] = False
        self._log_transitions(now)  # the job itself says what started; this logs any side effect
        if job.is_new:
            self._started += 1
            self._emit(Event(now, EventKind.TRIAL_STARTED, job.trial_id, worker, 0,
                             {"config": job.config, "bracket": job.bracket, "cohort": job.cohort}))
        else:
            self._emit(Event(now, EventKind.PROMOTED, job.trial_id, None, job.resume_from,
                             {"to": job.milestone}))
            self._emit(Event(now, EventKind.RESUMED, job.trial_id, worker, job.resume_from))
        self._running[worker] = job.trial_id
        self._worker_of[job.trial_id] = worker
        self.trial_backend.start(worker, job)

    def _log_transitions(self, now: float, workers: dict[int, int] | None = None) -> None:
        for change in self.scheduler.take_transitions():
            kind = _TRANSITION_EVENT.get(change.status)
            if kind is None:
                continue
            if kind is EventKind.COMPLETED:
                self._completed += 1
            if kind is not EventKind.PAUSED:
                self._finished += 1
            worker = self._worker_of.get(change.trial_id)
            if worker is None and workers:
                worker = workers.get(change.trial_id)
            data = {"reason": change.reason} if change.reason else None
            self._emit(Event(now, kind, change.trial_id, worker, change.resource, data))

    def _finish(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        now = self.trial_backend.clock()
        self.trial_backend.halt()
        for worker, trial_id in sorted(self._running.items()):
            if self.scheduler.status(trial_id) is TrialStatus.RUNNING:
                self.scheduler.on_halt(trial_id, f"the run ended: {reason}")
        self._log_transitions(now)
        self._drain()
        self._emit(Event(now, EventKind.RUN_ENDED, data={"reason": reason}))
        if self.path is not None:
            write_metadata(self.path, {"name": self.name, **self._metadata(),
                                       "end_reason": reason, "end_time": now})
        logger.info("run %s ended after %.1f s: %s", self.name, now, reason)

    def _drain(self) -> None:
        """Let halted trials unwind, answering STOP to their last reports, so that no worker is
        left running after ``run`` returns."""
        while self._running:
            event = self.trial_backend.next_event(None)
            if event is None:
                break
            if isinstance(event, Report):
                self.trial_backend.answer(event, Decision.STOP)
            else:
                self._running.pop(event.worker, None)

    def _emit(self, event: Event) -> None:
        self.events.append(event)

    def _metadata(self) -> dict:
        # No names or dates here: the same seed must give the same log, byte for byte.
        return {
            "n_workers": self.n_workers, **self.scheduler.metadata(),
            **self.trial_backend.describe(),
            "stop_criterion": {k: v for k, v in asdict(self.stop_criterion).items() if v is not None},
            "config_space": {k: repr(v) for k, v in self.scheduler.config_space.items()},
            "python": platform.python_version(), **self._extra_metadata,
        }


def _guarded(callback, registry: list) -> Callable[[Event], None]:
    """Wrap a user callback so that its failure cannot take the run down."""
    state = {"alive": True}

    def call(event: Event) -> None:
        if not state["alive"]:
            return
        try:
            callback(event)
        except Exception:
            state["alive"] = False
            logger.exception("callback %r raised; it gets no more events", callback)

    return call


class _Progress:
    """A progress bar over the time budget (or trials), instead of console spam."""

    def __init__(self, tuner: Tuner) -> None:
        from tqdm.auto import tqdm  # an optional dependency, imported only when shown
        c = tuner.stop_criterion
        total = c.max_wallclock_time or c.max_num_results or c.max_num_trials_started
        self._by_time = c.max_wallclock_time is not None
        shown = "{n:.0f}/{total:.0f} s" if self._by_time else "{n_fmt}/{total_fmt}"
        self._bar = tqdm(total=total if total is None else math.ceil(total), desc=tuner.name,
                         leave=True, bar_format="{l_bar}{bar}| " + shown + "{postfix}")
        self._best = math.inf
        self._sign = 1.0 if tuner.scheduler.mode == "min" else -1.0
        self._metric = tuner.scheduler.metric
        self._reports = 0
        self._last_refresh = 0.0

    def __call__(self, event: Event) -> None:
        if event.kind is not EventKind.REPORTED:
            return
        self._reports += 1
        value = event.data["metrics"].get(self._metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            self._best = min(self._best, self._sign * value)
        if self._by_time:
            self._bar.n = min(int(event.time), self._bar.total)
        else:
            self._bar.n = self._reports
        now = time.monotonic()  # only to throttle drawing; the run's clock is the backend's
        if now - self._last_refresh >= 0.5:
            self._last_refresh = now
            self._refresh()

    def _refresh(self) -> None:
        self._bar.set_postfix({"results": self._reports, f"best {self._metric}":
                               self._sign * self._best}, refresh=False)
        self._bar.refresh()

    def close(self, now: float | None = None) -> None:
        if self._by_time and now is not None:
            self._bar.n = min(int(now), self._bar.total)
        self._refresh()
        self._bar.close()
