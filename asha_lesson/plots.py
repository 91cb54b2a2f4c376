"""Matplotlib figures of an experiment. Each takes an optional ``ax`` and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .colors import IDLE_COLOR, trial_color

STATUS_COLORS = {
    "paused": "#9ecae1", "promoted": "#2ca02c", "continued": "#98df8a", "stopped": "#d62728",
    "finished": "#ff7f0e",
}


def _time_label(experiment) -> str:
    """Simulated runs are on virtual time; say so on the axis."""
    simulated = experiment.metadata.get("backend") == "SimulatedBackend"
    return "simulated time (s)" if simulated else "wall-clock time (s)"


def _axes(ax, figsize=(6, 3.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_incumbent(experiment, ax=None, label=None, **kwargs):
    """Best metric so far against time since the start (a step curve)."""
    ax = _axes(ax)
    curve = experiment.incumbent()
    if len(curve):
        times = list(curve["st_tuner_time"]) + [experiment.events[-1].time]
        values = list(curve[experiment.metric]) + [curve[experiment.metric].iloc[-1]]
        ax.step(times, values, where="post", label=label or experiment.metadata["scheduler"],
                **kwargs)
    ax.set_xlabel(_time_label(experiment))
    ax.set_ylabel(f"best {experiment.metric} so far")
    ax.set_title("Incumbent")
    ax.grid(alpha=0.3)
    return ax


def plot_trials(experiment, ax=None, max_trials: int | None = 300):
    """Each trial's metric against wall-clock time; a paused trial's curve resumes later.

    With more than ``max_trials`` trials, only the ones trained longest are drawn (the title
    says so). All curves go into one LineCollection: thousands draw in a blink."""
    from matplotlib.collections import LineCollection

    ax = _axes(ax, (7, 4))
    results = experiment.results
    metric = experiment.metric
    segments, colors = [], []
    groups = list(results.groupby("trial_id"))
    total = len(groups)
    if max_trials is not None and total > max_trials:
        groups = sorted(groups, key=lambda g: (-len(g[1]), g[0]))[:max_trials]
    for trial_id, rows in groups:
        points = np.column_stack([rows["st_tuner_time"].to_numpy(float),
                                  pd_to_float(rows[metric])])
        segments.append(points)
        colors.append(trial_color(trial_id))
    if segments:
        ax.add_collection(LineCollection(segments, colors=colors, linewidths=1, alpha=0.7))
        ax.autoscale_view()
    ax.set_xlabel(_time_label(experiment))
    ax.set_ylabel(metric)
    ax.set_title(f"Learning curves of {total} trials" if len(segments) == total else
                 f"Learning curves of the {len(segments)} trials trained longest (of {total})")
    ax.grid(alpha=0.3)
    return ax


def pd_to_float(values) -> np.ndarray:
    """Metric values as floats (a failed trial's "nan" from the JSON log becomes NaN)."""
    import pandas as pd
    return pd.to_numeric(values, errors="coerce").to_numpy(float)


def plot_timeline(experiment, ax=None):
    """One row per worker: what it trained (coloured by trial) and when it sat idle (red)."""
    timeline = experiment.timeline()
    n_workers = int(experiment.metadata["n_workers"])
    ax = _axes(ax, (8, 0.5 + 0.45 * min(n_workers, 32)))
    # One broken_barh per worker and kind: one collection each, not one per bar.
    for (worker, kind), rows in timeline.groupby(["worker", "kind"]):
        spans = list(zip(rows["start"], rows["end"] - rows["start"]))
        if kind == "idle":
            ax.broken_barh(spans, (worker - 0.4, 0.8), facecolors=IDLE_COLOR, alpha=0.8,
                           edgecolor="white", hatch="///", lw=0.5)
        else:
            colors = [trial_color(t) for t in rows["trial_id"]]
            ax.broken_barh(spans, (worker - 0.4, 0.8), facecolors=colors, edgecolor="white",
                           lw=0.3 if n_workers <= 16 else 0)
    idle = timeline[timeline["kind"] == "idle"]
    busy = experiment.busy_fraction()
    ax.set_title(f"Workers: {busy:.0%} of their time training, idle time in red "
                 f"({(idle['end'] - idle['start']).sum():.1f} s)")
    ax.set_xlabel(_time_label(experiment))
    ax.set_ylabel("worker")
    ax.set_yticks(range(n_workers) if n_workers <= 16 else np.linspace(0, n_workers - 1, 9,
                                                                          dtype=int))
    ax.set_ylim(-0.6, n_workers - 0.4)
    ax.set_xlim(0, max(experiment.events[-1].time, 1e-9))
    ax.invert_yaxis()
    return ax


def plot_rung_books(books, bracket: int = 0, cohort: int | None = None, axes=None,
                    max_entries: int = 40):
    """One panel per rung: scores best first, the top floor(n/eta) marked, status by colour."""
    levels = books.levels(bracket)
    if axes is None:
        _, axes = plt.subplots(1, len(levels), figsize=(2.3 * len(levels), 3.6), squeeze=False)
        axes = axes[0]
    eta = books.reduction_factor
    for ax, level in zip(axes, levels):
        entries = books.book(level, bracket, cohort)
        top = len(entries) // eta
        shown = entries[:max_entries]
        y = np.arange(len(shown))
        ax.barh(y, [e.value for e in shown], color=[STATUS_COLORS.get(e.status, "#999")
                                                    for e in shown])
        last = level == levels[-1]  # nothing is promoted from r_max: no cut there
        if top and not last and top <= len(shown):
            ax.axhline(top - 0.5, color="black", lw=1, ls="--")
        if len(shown) <= 25:
            ax.set_yticks(y, [str(e.trial_id) for e in shown], fontsize=7)
        else:
            ax.set_yticks([])
        ax.invert_yaxis()
        notes = [] if last else [f"top {top}" + (" (below view)" if top > len(shown) else "")]
        if len(entries) > len(shown):
            notes.append(f"best {len(shown)} shown")
        ax.set_title(f"rung {level}: n={len(entries)}\n{', '.join(notes) or 'final rung'}",
                     fontsize=8)
        ax.set_xlabel(books.metadata["metric"], fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
    axes[0].set_ylabel("trial (best first)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in STATUS_COLORS.values()]
    axes[-1].figure.legend(handles, list(STATUS_COLORS), loc="lower center", ncol=6, fontsize=7,
                           frameon=False)
    axes[-1].figure.tight_layout(rect=(0, 0.06, 1, 1))
    return axes
