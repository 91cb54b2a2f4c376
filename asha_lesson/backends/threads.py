"""Run tune functions on worker threads of this process: real training, no polling.

A tune function is a plain Python function of the config's keys that reports through
:class:`~asha_lesson.reporter.Reporter` (the seed lecture's ``hpo_objective_lenet``, say). Each of
``n_workers`` threads runs one trial at a time. A report travels to the tuner's loop on a queue and
the worker waits for the decision, so the scheduler itself only ever runs on the tuner's thread.

Threads never draw: while the backend is open, what a trial prints (``print``, warnings, IPython's
``display``) goes to ``<experiment>/trials/<trial_id>.log``, not into the notebook.
"""

from __future__ import annotations

import os
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from ..decisions import Decision, Job
from ..reporter import TrialContext, set_current_trial
from .base import (Backend, Ended, Outcome, Report, RunSettings, call_tune_function,
                   get_until)

__all__ = ["PythonBackend"]

_WAKE = object()


class PythonBackend(Backend):
    """Thread backend under the seed lecture's name.

    Args:
        tune_function: called as ``tune_function(**config)``; reports with a ``Reporter``.
        config_space: accepted for compatibility with the classic Syne Tune API (the scheduler
            holds the config space that matters).
        torch_threads: intra-op threads per worker when torch is in use; by default the cores
            divided by the number of workers, so that workers x threads <= cores.
    """

    realtime = True

    def __init__(self, tune_function: Callable[..., Any],
                 config_space: Mapping[str, Any] | None = None,
                 torch_threads: int | None = None) -> None:
        if not callable(tune_function):
            raise ValueError(f"tune_function={tune_function!r} must be a callable")
        if torch_threads is not None and (not isinstance(torch_threads, int) or torch_threads < 1):
            raise ValueError(f"torch_threads={torch_threads!r} must be a positive integer")
        self.tune_function = tune_function
        self.config_space = config_space
        self.torch_threads = torch_threads
        self._threads: list[threading.Thread] = []

    def describe(self) -> dict:
        return {"backend": "PythonBackend",
                "tune_function": getattr(self.tune_function, "__name__", repr(self.tune_function))}

    # -- the tuner's side --------------------------------------------------------------------

    def open(self, settings: RunSettings) -> None:
        self._settings = settings
        self._t0 = time.monotonic()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._inboxes = [queue.SimpleQueue() for _ in range(settings.n_workers)]
        self._replies = [queue.SimpleQueue() for _ in range(settings.n_workers)]
        self._halted = threading.Event()
        self._checkpoints: dict[int, Any] = {}
        self._unwound: dict[int, threading.Event] = {}  # each trial's latest run's end
        base = settings.experiment_dir or tempfile.mkdtemp(prefix="asha-lesson-")
        self._log_dir = Path(base) / "trials"
        self._log_dir.mkdir(parents=True, exist_ok=True)
        _OUTPUT.install()
        self._set_torch_threads()
        self._threads = [threading.Thread(target=self._work, args=(w,), daemon=True,
                                          name=f"asha-worker-{w}")
                         for w in range(settings.n_workers)]
        for thread in self._threads:
            thread.start()

    def clock(self) -> float:
        return time.monotonic() - self._t0

    def start(self, worker: int, job: Job) -> None:
        done = threading.Event()  # set when this run of the trial has ended
        previous = self._unwound.get(job.trial_id)  # only the tuner's thread calls start()
        self._unwound[job.trial_id] = done
        self._inboxes[worker].put((job, previous, done))

    def answer(self, report: Report, decision: Decision) -> None:
        self._replies[report.worker].put(decision)

    def next_event(self, until: float | None) -> Report | Ended | None:
        item = get_until(self._events, until, self.clock)
        return None if item is _WAKE else item

    def wake(self) -> None:
        self._events.put(_WAKE)

    def halt(self) -> None:
        self._halted.set()
        # A worker may be waiting for the answer to a report the tuner never gave (Ctrl-C struck
        # between deciding and answering): release it. Later reports see the flag and stop.
        for replies in self._replies:
            replies.put(Decision.STOP)

    def close(self) -> None:
        if not self._threads:
            return
        self._halted.set()
        for inbox in self._inboxes:
            inbox.put(None)
        for thread in self._threads:
            thread.join(timeout=60)
        self._threads = []
        _OUTPUT.uninstall()

    # -- the workers' side -------------------------------------------------------------------

    def _set_torch_threads(self) -> None:
        torch = sys.modules.get("torch")  # never import torch here: the core stays torch-free
        if torch is None:
            return
        n = self.torch_threads or max(1, (os.cpu_count() or 1) // self._settings.n_workers)
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)

    def _work(self, worker: int) -> None:
        while True:
            item = self._inboxes[worker].get()
            if item is None:
                return
            job, previous, done = item
            if previous is not None:
                previous.wait()  # a paused trial's last run must finish saving its checkpoint
            self._set_torch_threads()
            self._events.put(self._run(worker, job, done))

    def _run(self, worker: int, job: Job, done: threading.Event) -> Ended:
        checkpoint = self._checkpoints.pop(job.trial_id, None)

        def send(metrics: dict) -> Decision:
            if self._halted.is_set():
                return Decision.STOP
            self._events.put(Report(job.trial_id, worker, self.clock(), dict(metrics)))
            return self._replies[worker].get()

        context = TrialContext(job.trial_id, dict(job.config), self._settings.resource_attr,
                               job.resume_from, send, checkpoint)
        token = set_current_trial(context)
        log = open(self._log_dir / f"{job.trial_id}.log", "a", encoding="utf-8")
        _OUTPUT.route(log)
        try:
            print(f"--- trial {job.trial_id} on worker {worker}, from "
                  f"{self._settings.resource_attr} {job.resume_from}: {job.config}")
            outcome, error, saved = call_tune_function(self.tune_function, job, context,
                                                       self._halted.is_set())
            if outcome is Outcome.UNWOUND and saved is not None:
                self._checkpoints[job.trial_id] = saved
        finally:
            _OUTPUT.route(None)
            log.close()
            set_current_trial(None)
            del token
            done.set()
        return Ended(job.trial_id, worker, self.clock(), outcome, error)


class _ThreadOutput:
    """Routes ``sys.stdout``/``sys.stderr`` and IPython's ``display`` per thread.

    Installed while a thread backend is open: a worker thread's output goes to its trial's log;
    every other thread's output goes where it went before.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._users = 0
        self._lock = threading.Lock()

    def target(self):
        return getattr(self._local, "file", None)

    def route(self, file) -> None:
        self._local.file = file

    def install(self) -> None:
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            self._saved = (sys.stdout, sys.stderr)
            sys.stdout = _Stream(self, sys.stdout)
            sys.stderr = _Stream(self, sys.stderr)
            self._patched = []
            display_module = sys.modules.get("IPython.display")
            if display_module is not None:
                for name in ("display", "clear_output"):
                    original = getattr(display_module, name, None)
                    if original is not None:
                        setattr(display_module, name, self._display_wrapper(original, name))
                        self._patched.append((display_module, name, original))

    def uninstall(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            sys.stdout, sys.stderr = self._saved
            for module, name, original in self._patched:
                setattr(module, name, original)

    def _display_wrapper(self, original, name):
        def display(*objects, **kwargs):
            file = self.target()
            if file is None:
                return original(*objects, **kwargs)
            if name == "display":
                file.write("".join(f"[display] {obj!r}\n" for obj in objects))
            return None
        return display


class _Stream:
    def __init__(self, router: _ThreadOutput, fallback) -> None:
        self._router = router
        self._fallback = fallback

    def write(self, text: str) -> int:
        file = self._router.target()
        return (file or self._fallback).write(text)

    def flush(self) -> None:
        file = self._router.target()
        (file or self._fallback).flush()

    def __getattr__(self, name):
        return getattr(self._fallback, name)


_OUTPUT = _ThreadOutput()
