"""Colours shared by the static figures (``plots``) and the live views (``widgets``), so a trial
has the same colour everywhere and idle time is the only red in a timeline."""

from __future__ import annotations

__all__ = ["TRIAL_COLORS", "IDLE_COLOR", "trial_color"]

IDLE_COLOR = "#e03131"
# matplotlib's tab20 without its reds and pinks, so that no trial looks like idle time.
TRIAL_COLORS = (
    "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#9467bd", "#c5b0d5",
    "#8c564b", "#17becf", "#9edae5", "#bcbd22", "#dbdb8d", "#393b79", "#637939", "#8c6d31",
    "#7f7f7f", "#c7c7c7", "#5254a3", "#6baed6")


def trial_color(trial_id) -> str:
    """The colour of trial ``trial_id`` in every figure and view."""
    return TRIAL_COLORS[int(trial_id) % len(TRIAL_COLORS)]
