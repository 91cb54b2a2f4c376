"""Figures for the widgets, drawn with matplotlib's Agg canvas straight into PNG bytes.

An ``ipywidgets.Image`` whose value is replaced by new PNG bytes swaps the picture in place, with
no flicker (re-displaying a figure in an ``Output`` widget blanks it first). No pyplot here: a
bare :class:`~matplotlib.figure.Figure` has no global state and is never shown by the inline
backend behind our back.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..colors import IDLE_COLOR, trial_color

__all__ = ["new_figure", "to_png", "draw_trials", "draw_incumbents", "draw_timeline",
           "RUN_COLORS", "IDLE_COLOR"]

RUN_COLORS = {"ASHA": "#1f77b4", "sync SH": "#d62728", "random search": "#7f7f7f"}


def new_figure(width: float, height: float, rows: int = 1, cols: int = 1, *,
               margins: tuple[float, float, float, float] = (0.65, 0.15, 0.45, 0.3),
               hspace: float = 0.0, **kwargs):
    """A figure (inches, 100 dpi) and its axes, on an Agg canvas.

    ``margins`` are (left, right, bottom, top) in inches and ``hspace`` the gap between rows in
    inches: fixed margins instead of ``tight_layout``, which draws the whole figure once more
    just to measure it.
    """
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False, **kwargs)
    left, right, bottom, top = margins
    panel = (height - bottom - top - hspace * (rows - 1)) / rows
    figure.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                           top=1 - top / height, hspace=hspace / max(panel, 1e-3))
    return figure, axes


def to_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _incumbent_steps(experiment, end: float | None):
    curve = experiment.incumbent()
    if not len(curve):
        return None
    times = list(curve["st_tuner_time"])
    values = list(curve[experiment.metric])
    last = experiment.events[-1].time if end is None else end
    if last > times[-1]:
        times.append(last)
        values.append(values[-1])
    return times, values


def wants_log_scale(values) -> bool:
    """Log scale when all values are positive and span more than a decade: the incumbent of an
    error metric then stays readable instead of hugging the x-axis."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    return len(values) >= 2 and values.min() > 0 and values.max() / values.min() >= 10


def _positive_log_scale(ax, values, log: bool | None = None) -> bool:
    if not (wants_log_scale(values) if log is None else log):
        return False
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    return True


def draw_trials(ax, experiment, *, now: float | None = None, max_trials: int = 2000,
                log: bool | None = None) -> None:
    """Each trial's metric against time (thin, coloured by trial; a line breaks where the trial
    was paused) and the incumbent (black). ``log``: log-scale y (None: when it helps)."""
    results = experiment.results
    metric = experiment.metric
    values = np.asarray(results[metric], dtype=float) if len(results) else np.empty(0)
    if len(results):
        frame = results.assign(_value=values)[np.isfinite(values)]
        segments, colors, singles = [], [], []
        for trial_id, rows in frame.groupby("trial_id", sort=True):
            if len(segments) >= max_trials:
                break
            points = np.column_stack([rows["st_tuner_time"], rows["_value"]])
            # A new piece starts after each pause: a resumed trial's line does not jump across
            # the time it spent waiting.
            breaks = np.flatnonzero(np.asarray(rows["st_decision"]) == "pause")[:-1] + 1
            for piece in np.split(points, breaks):
                if len(piece) > 1:
                    segments.append(piece)
                    colors.append(trial_color(trial_id))
                elif len(piece) == 1:
                    singles.append(piece[0])
        ax.add_collection(LineCollection(segments, colors=colors, linewidths=0.9, alpha=0.6))
        if singles:
            singles = np.array(singles)
            ax.scatter(singles[:, 0], singles[:, 1], s=5, color="#8c959f", alpha=0.45,
                       linewidths=0, label="a single result (stopped or paused at rung 1)")
    log = _positive_log_scale(ax, values, log)
    steps = _incumbent_steps(experiment, now)
    if steps is not None:
        ax.step(*steps, where="post", color="black", lw=2.2, label="incumbent (best so far)",
                zorder=4)
        best = steps[1][-1]
        ax.annotate(f"{best:.4f}", (steps[0][-1], best), xytext=(-2, 4),
                    textcoords="offset points", fontsize=8, ha="right", va="bottom")
    if len(results):
        ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
    ax.autoscale_view()
    right = now if now is not None else experiment.events[-1].time
    ax.set_xlim(left=0, right=max(1e-9, right))
    ax.set_xlabel("time since the start (s)")
    ax.set_ylabel(metric + (" (log scale)" if log else ""))
    ax.grid(alpha=0.3, which="major")


def draw_incumbents(ax, runs, *, target: float | None = None, end: float | None = None) -> None:
    """Incumbent curves of several runs: ``runs`` is a list of (label, experiment, colour)."""
    values = []
    for label, experiment, color in runs:
        steps = _incumbent_steps(experiment, end)
        if steps is not None:
            ax.step(*steps, where="post", color=color, lw=2, label=label, alpha=0.9)
            values += steps[1]
    log = _positive_log_scale(ax, values)
    if target is not None and math.isfinite(target):
        ax.axhline(target, color="black", lw=0.8, ls="--")
        ax.annotate(f"target {target:.3f}", (0.5, target), xycoords=("axes fraction", "data"),
                    xytext=(0, 3), textcoords="offset points", fontsize=8, ha="center",
                    va="bottom")
    if runs:
        metric = runs[0][1].metric
        ax.set_ylabel(f"best {metric} so far" + (" (log)" if log else ""))
    ax.set_xlabel("simulated time (s)")
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, frameon=False)


def draw_timeline(ax, experiment, *, end: float | None = None, title: str | None = None,
                  timeline=None) -> None:
    """One row per worker: training coloured by trial, idle time in red. ``timeline`` is
    ``experiment.timeline()`` when the caller has it already."""
    if timeline is None:
        timeline = experiment.timeline()
    n_workers = int(experiment.metadata["n_workers"])
    end = experiment.events[-1].time if end is None else end
    train, colors, idle = [], [], []
    half = 0.42 if n_workers <= 16 else 0.5
    for row in timeline.itertuples():
        x0, x1, y = row.start, min(row.end, end), row.worker
        if x1 <= x0:
            continue
        box = ((x0, y - half), (x0, y + half), (x1, y + half), (x1, y - half))
        if row.kind == "idle":
            idle.append(box)
        else:
            train.append(box)
            colors.append(trial_color(row.trial_id))
    edge = "white" if len(train) < 400 and n_workers <= 16 else "none"
    ax.add_collection(PolyCollection(train, facecolors=colors, edgecolors=edge, linewidths=0.4))
    ax.add_collection(PolyCollection(idle, facecolors=IDLE_COLOR, edgecolors="none", alpha=0.8))
    ax.set_xlim(0, max(end, 1e-9))
    ax.set_ylim(n_workers - 0.5, -0.5)
    ticks = range(n_workers) if n_workers <= 4 else sorted({0, (n_workers - 1) // 2,
                                                             n_workers - 1})
    ax.set_yticks(list(ticks))
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylabel("worker")
    if title:
        ax.set_title(title, fontsize=9, loc="left")
