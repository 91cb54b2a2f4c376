"""An experiment read back from its event log: tables and figures, all derived from events.

``load_experiment(name_or_path)`` reads a stored run; ``tuner.experiment`` gives the same object
for a run in memory, live or finished.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .events import Event, EventKind, loads_event
from .rung_replay import RungBooks
from .storage import EVENTS_FILE, METADATA_FILE, experiment_root

__all__ = ["Experiment", "load_experiment"]

_BUSY_START = (EventKind.TRIAL_STARTED, EventKind.RESUMED)
_BUSY_END = (EventKind.PAUSED, EventKind.STOPPED, EventKind.COMPLETED, EventKind.FAILED)


def load_experiment(name_or_path: str | os.PathLike, root: str | os.PathLike | None = None):
    """Read a stored experiment by folder path, or by name under the experiment root."""
    path = Path(name_or_path)
    if not (path / EVENTS_FILE).exists():
        path = Path(root if root is not None else experiment_root()) / str(name_or_path)
    if not (path / EVENTS_FILE).exists():
        raise FileNotFoundError(f"no experiment {str(name_or_path)!r}: {path / EVENTS_FILE} "
                                "does not exist")
    events = []
    with open(path / EVENTS_FILE, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.endswith("\n"):
                break  # a line cut off by a crash: everything before it is intact
            try:
                events.append(loads_event(line))
            except (ValueError, KeyError) as error:
                raise ValueError(f"{path / EVENTS_FILE}, line {number}: {error}") from error
    return Experiment(path.name, events, path)


class Experiment:
    """A run's events and everything derived from them."""

    def __init__(self, name: str, events: list[Event], path: Path | None = None) -> None:
        if not events or events[0].kind is not EventKind.RUN_STARTED:
            raise ValueError(f"experiment {name!r} has no run_started event")
        self.name = name
        self.path = path
        self.events = events
        self.metadata: dict = events[0].data
        if path is not None and (path / METADATA_FILE).exists():
            self.metadata = {**self.metadata, **json.loads((path / METADATA_FILE).read_text())}
        self.metric: str = self.metadata["metric"]
        self.mode: str = self.metadata["mode"]
        self.resource_attr: str = self.metadata["resource_attr"]
        self._results: pd.DataFrame | None = None

    def __repr__(self) -> str:
        return (f"Experiment({self.name!r}, {len(self.events)} events, "
                f"{len(self.results)} results, scheduler={self.metadata['scheduler']!r})")

    @property
    def configs(self) -> dict[int, dict]:
        return {e.trial_id: e.data["config"] for e in self.events
                if e.kind is EventKind.TRIAL_STARTED}

    @property
    def results(self) -> pd.DataFrame:
        """One row per report: trial_id, st_tuner_time (seconds since the start), the resource,
        every reported metric, the decision, the worker and the config (``config_*``)."""
        if self._results is None:
            configs = self.configs
            rows = []
            for e in self.events:
                if e.kind is not EventKind.REPORTED:
                    continue
                row = {"trial_id": e.trial_id, "st_tuner_time": e.time, **e.data["metrics"],
                       "st_decision": e.data["decision"], "st_worker": e.worker}
                row.update({f"config_{k}": v for k, v in configs.get(e.trial_id, {}).items()})
                rows.append(row)
            frame = pd.DataFrame(rows)
            if frame.empty:
                frame = pd.DataFrame(columns=["trial_id", "st_tuner_time", self.resource_attr,
                                              self.metric, "st_decision", "st_worker"])
            self._results = frame
        return self._results

    def _finite(self) -> pd.DataFrame:
        frame = self.results
        values = pd.to_numeric(frame.get(self.metric), errors="coerce")
        return frame[np.isfinite(values.to_numpy(dtype=float))] if len(frame) else frame

    def best(self) -> pd.Series:
        """The report with the best metric (NaN and infinite values never count)."""
        frame = self._finite()
        if frame.empty:
            raise ValueError(f"experiment {self.name!r} has no finite {self.metric} yet")
        index = frame[self.metric].idxmin() if self.mode == "min" else frame[self.metric].idxmax()
        return frame.loc[index]

    def best_config(self) -> dict:
        return dict(self.configs[int(self.best()["trial_id"])])

    def incumbent(self) -> pd.DataFrame:
        """The best value seen so far, each time it improved: st_tuner_time, value, trial_id."""
        frame = self._finite()
        times, values, trials = [], [], []
        best = math.inf
        sign = 1.0 if self.mode == "min" else -1.0
        for time, value, trial in zip(frame["st_tuner_time"], frame[self.metric], frame["trial_id"]):
            if sign * value < best:
                best = sign * value
                times.append(time)
                values.append(value)
                trials.append(trial)
        return pd.DataFrame({"st_tuner_time": times, self.metric: values, "trial_id": trials})

    def timeline(self) -> pd.DataFrame:
        """What each worker did and when: rows of worker, start, end, kind ("train" or
        "idle"), trial_id and the resource range trained."""
        rows, open_ = [], {}  # worker -> (start, kind, trial_id, resource)
        end_time = self.events[-1].time
        for e in self.events:
            if e.kind is EventKind.RUN_ENDED:
                end_time = e.time
            if e.worker is None:
                continue
            if e.kind in _BUSY_START or e.kind is EventKind.WORKER_IDLE:
                previous = open_.pop(e.worker, None)
                if previous is not None:
                    rows.append(_segment(e.worker, previous, e.time, None))
                kind = "idle" if e.kind is EventKind.WORKER_IDLE else "train"
                open_[e.worker] = (e.time, kind, e.trial_id, e.resource or 0)
            elif e.kind in _BUSY_END:
                previous = open_.get(e.worker)
                if previous is not None and previous[2] == e.trial_id:
                    rows.append(_segment(e.worker, open_.pop(e.worker), e.time, e.resource))
        for worker, previous in open_.items():
            rows.append(_segment(worker, previous, end_time, None))
        frame = pd.DataFrame(rows, columns=["worker", "start", "end", "kind", "trial_id",
                                            "from_resource", "to_resource"])
        return frame.sort_values(["worker", "start"], ignore_index=True)

    def busy_fraction(self) -> float:
        """Share of the workers' time spent training, over the whole run."""
        timeline = self.timeline()
        span = self.events[-1].time * int(self.metadata["n_workers"])
        train = timeline[timeline["kind"] == "train"]
        return float((train["end"] - train["start"]).sum() / span) if span > 0 else 0.0

    def rung_books(self, at: float | None = None) -> RungBooks:
        """The rung books as they stood at time ``at`` (seconds; the end when None)."""
        return RungBooks.from_events(self.events, until=at)

    def promotions(self) -> pd.DataFrame:
        """Every promotion, judged with hindsight: one row per promotion with the rung it left
        (``level``), when, how many results that rung held then (``n_then``) and at the end
        (``n_final``), and ``mispromoted``: True when, in the rung's final book, the trial is no
        longer in the top floor(n_final / eta). (ASHA decides on partial information; the paper
        argues the share of such promotions shrinks as rungs grow.)"""
        eta = int(self.metadata["reduction_factor"])
        final = self.rung_books()
        books, rows = RungBooks(self.metadata), []
        for event in self.events:
            books.apply(event)
            if event.kind is not EventKind.PROMOTED:
                continue
            key = next(k for k in books.books if event.trial_id in books.books[k]
                       and k[2] == event.resource)
            rows.append({"trial_id": event.trial_id, "time": event.time, "level": event.resource,
                         "cohort": key[0], "bracket": key[1], "n_then": len(books.books[key])})
        for row in rows:
            entries = final.book(row["level"], row["bracket"], row["cohort"])
            top = {e.trial_id for e in entries[:len(entries) // eta]}
            row["n_final"] = len(entries)
            row["mispromoted"] = row["trial_id"] not in top
        return pd.DataFrame(rows, columns=["trial_id", "time", "level", "cohort", "bracket",
                                           "n_then", "n_final", "mispromoted"])

    def trial_statuses(self) -> pd.Series:
        status = {}
        names = {EventKind.TRIAL_STARTED: "running", EventKind.RESUMED: "running",
                 EventKind.PAUSED: "paused", EventKind.STOPPED: "stopped",
                 EventKind.COMPLETED: "completed", EventKind.FAILED: "failed"}
        for e in self.events:
            if e.kind in names:
                status[e.trial_id] = names[e.kind]
        return pd.Series(status, name="status").sort_index()

    def failures(self) -> pd.DataFrame:
        rows = [{"trial_id": e.trial_id, "st_tuner_time": e.time, "reason": (e.data or {}).get(
            "reason", "")} for e in self.events if e.kind is EventKind.FAILED]
        return pd.DataFrame(rows, columns=["trial_id", "st_tuner_time", "reason"])

    # Figures (matplotlib is imported only when one is drawn).
    def plot(self, ax=None, **kwargs):
        """The incumbent curve: best metric so far against time."""
        from .plots import plot_incumbent
        return plot_incumbent(self, ax=ax, **kwargs)

    def plot_trials(self, ax=None, **kwargs):
        from .plots import plot_trials
        return plot_trials(self, ax=ax, **kwargs)

    def plot_timeline(self, ax=None, **kwargs):
        from .plots import plot_timeline
        return plot_timeline(self, ax=ax, **kwargs)

    def plot_rung_books(self, at: float | None = None, **kwargs):
        """The rung books at time ``at`` (the end by default); ``cohort`` picks a bracket of
        synchronous SH (the latest by default), ``bracket`` a Hyperband bracket."""
        from .plots import plot_rung_books
        return plot_rung_books(self.rung_books(at), **kwargs)


def _segment(worker, opened, end, to_resource):
    start, kind, trial_id, from_resource = opened
    return {"worker": worker, "start": start, "end": end, "kind": kind,
            "trial_id": trial_id if kind == "train" else None,
            "from_resource": from_resource if kind == "train" else None,
            "to_resource": to_resource if kind == "train" else None}
