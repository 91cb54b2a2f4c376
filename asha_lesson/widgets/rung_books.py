"""The rung books as a widget, live or replayed.

:class:`RungBooksView` is a thin renderer: a :class:`~asha_lesson.widgets.model.BookModel` takes
events, and :meth:`RungBooksView.refresh` writes the model's HTML into one ``ipywidgets.HTML``
(replacing an HTML value redraws in place, without flicker). :func:`replay` wraps the same view in
play / pause / scrub controls for a stored run::

    from asha_lesson import load_experiment
    from asha_lesson.widgets import replay
    replay(load_experiment("asha_promotion-2026-01-01-12-00-00-000"))
"""

from __future__ import annotations

import threading

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..events import Event
from ..experiment import Experiment
from ._kernel import require_drawing_thread
from .books_html import render_books
from .figures import draw_trials, new_figure, to_png, wants_log_scale
from .model import BookModel, BooksFrame

__all__ = ["RungBooksView", "ReplayView", "replay"]


class RungBooksView:
    """One book per rung level, best first, the top floor(n/eta) above a cut line.

    Feed it events with :meth:`apply` (from the kernel's thread, or from anywhere as long as
    only the kernel's thread calls :meth:`refresh`); ``view.widget`` is the HTML widget (CSS class
    ``asha-rung-books``). ``max_rows`` bounds each book: the rest is counted, not listed.
    ``recent`` is how many of the latest changes are highlighted. For synchronous SH, ``cohort``
    picks a bracket run (the latest by default); for Hyperband-style ASHA, ``bracket`` picks s.
    """

    def __init__(self, metadata: dict | None = None, *, max_rows: int = 15, recent: int = 3,
                 bracket: int = 0, cohort: int | None = None, title: str | None = None) -> None:
        self.model = BookModel(metadata, recent=recent)
        self.max_rows = max_rows
        self.bracket = bracket
        self.cohort = cohort
        self.title = title
        self.model.frame(max_rows=max_rows)  # validates max_rows now rather than at first draw
        self.widget = widgets.HTML(value=self.render())
        self.widget.add_class("asha-rung-books")
        self._generation = 0  # bumped by reset(), so that a refresh after it always redraws
        self._drawn = None  # what the widget shows: (generation, n_events) at the last refresh

    @classmethod
    def from_events(cls, events, **kwargs) -> "RungBooksView":
        view = cls(**kwargs)
        view.extend(events)
        view.refresh()
        return view

    def apply(self, event: Event) -> bool:
        """Take one event into the model (the widget changes at the next :meth:`refresh`)."""
        return self.model.apply(event)

    def extend(self, events) -> None:
        for event in events:
            self.model.apply(event)

    def reset(self, metadata: dict | None = None) -> None:
        """Forget every event (a replay scrubbing backwards starts again from the top)."""
        self.model = BookModel(metadata, recent=self.model.recent)
        self._generation += 1

    def frame(self) -> BooksFrame:
        return self.model.frame(max_rows=self.max_rows, bracket=self.bracket, cohort=self.cohort)

    def render(self) -> str:
        """The HTML of the books as they stand (a pure function of the events applied)."""
        return render_books(self.frame(), title=self.title)

    def refresh(self) -> bool:
        """Redraw the widget if anything changed since the last refresh (from the kernel's
        threads, never from a tuner or worker thread)."""
        require_drawing_thread("RungBooksView.refresh")
        stamp = (self._generation, self.model.n_events)
        if stamp == self._drawn:
            return False
        self._drawn = stamp
        text = self.render()
        if text == self.widget.value:
            return False
        self.widget.value = text
        return True

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class ReplayView:
    """A stored run's rung books with play / pause and a slider through its history.

    Args:
        experiment: an :class:`~asha_lesson.experiment.Experiment` (``load_experiment(...)``,
            ``tuner.experiment``) or a list of events starting with ``run_started``.
        step: ``"change"`` (default) makes each slider step one change of the books (a trial
            entering a rung, promoted or stopped, one setting out); ``"event"`` steps through
            every event of the log.
        curves: also draw the learning curves and the incumbent up to the current moment.
        interval: milliseconds between steps while playing.
        Other keyword arguments go to :class:`RungBooksView`.
    """

    def __init__(self, experiment, *, step: str = "change", curves: bool = True,
                 interval: int = 300, **view_kwargs) -> None:
        if step not in ("change", "event"):
            raise ValueError(f"step={step!r} must be 'change' or 'event'")
        if isinstance(experiment, Experiment):
            self.experiment = experiment
        else:
            events = list(experiment)
            self.experiment = Experiment("replay", events)
        self.events = self.experiment.events
        self.stops = self._stops(step, view_kwargs.get("recent", 3))
        self.books = RungBooksView(**view_kwargs)
        self._applied = 0  # events taken into self.books.model
        # Slider moves arrive on a kernel subshell thread (ipykernel 7), calls from a cell on
        # the main thread: one at a time.
        self._lock = threading.Lock()
        last = len(self.stops) - 1
        self.play = widgets.Play(value=last, min=0, max=last, step=1, interval=interval,
                                 description="play")
        self.slider = widgets.IntSlider(value=last, min=0, max=last, step=1, description="step",
                                        continuous_update=True,
                                        layout=widgets.Layout(width="420px"))
        widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.clock = widgets.HTML()
        self.play.add_class("asha-replay-play")
        self.slider.add_class("asha-replay-slider")
        self.clock.add_class("asha-replay-clock")
        self.curves = None
        self._limits = None
        if curves:
            self.curves = widgets.Image(format="png", layout=widgets.Layout(width="640px"))
            self.curves.add_class("asha-incumbent")
            self._limits = self._curve_limits()
        self.slider.observe(self._on_step, names="value")
        controls = widgets.HBox([self.play, self.slider, self.clock])
        children = [controls, self.books.widget] + ([self.curves] if self.curves else [])
        self.widget = widgets.VBox(children)
        self.widget.add_class("asha-replay")
        self.show(last)

    def _stops(self, step: str, recent: int) -> list[int]:
        """How many events have been applied at each slider step."""
        if step == "event":
            return list(range(1, len(self.events) + 1))
        model = BookModel(recent=recent)
        stops = []
        for index, event in enumerate(self.events, 1):
            if model.apply(event) or index == len(self.events):
                stops.append(index)
        return stops

    def _curve_limits(self):
        """Axes fixed from the whole run, so that they stand still while the replay plays:
        (x limits, y limits, log scale or not)."""
        results = self.experiment.results
        values = pd.to_numeric(results[self.experiment.metric], errors="coerce") \
            if len(results) else pd.Series(dtype=float)
        values = values[np.isfinite(values.to_numpy(dtype=float))]
        if not len(values):
            return None
        low, high = float(values.min()), float(values.max())
        log = wants_log_scale(values)
        if log:
            ylim = (low / 1.3, high * 1.3)
        else:
            pad = 0.04 * (high - low or 1.0)
            ylim = (low - pad, high + pad)
        return (0.0, max(self.events[-1].time, 1e-9)), ylim, log

    def _on_step(self, change) -> None:
        self.show(change["new"])

    def show(self, step: int) -> None:
        """Bring the view to slider step ``step`` (never from a tuner or worker thread)."""
        require_drawing_thread("ReplayView.show")
        with self._lock:
            self._show(step)

    def _show(self, step: int) -> None:
        target = self.stops[max(0, min(step, len(self.stops) - 1))]
        if target < self._applied:
            self.books.reset()
            self._applied = 0
        self.books.extend(self.events[self._applied:target])
        self._applied = target
        self.books.refresh()
        now = self.events[target - 1].time
        self.clock.value = (f"<span style='font-variant-numeric:tabular-nums'>t = {now:.1f} s "
                            f"of {self.events[-1].time:.1f} s · event {target} of "
                            f"{len(self.events)}</span>")
        if self.curves is not None:
            self.curves.value = self._draw_curves(target, now)

    def seek(self, seconds: float) -> None:
        """Move the slider to the last step at or before ``seconds`` into the run."""
        times = [self.events[stop - 1].time for stop in self.stops]
        step = max([i for i, t in enumerate(times) if t <= seconds], default=0)
        self.slider.value = step

    def _draw_curves(self, target: int, now: float) -> bytes:
        figure, axes = new_figure(6.4, 2.6)
        ax = axes[0, 0]
        log = self._limits[2] if self._limits is not None else None
        draw_trials(ax, Experiment(self.experiment.name, self.events[:target]), now=now, log=log)
        if self._limits is not None:
            ax.set_xlim(*self._limits[0])
            ax.set_ylim(*self._limits[1])
        ax.axvline(now, color="#444", lw=0.8, ls=":")
        ax.set_title("learning curves and incumbent so far", fontsize=9, loc="left")
        return to_png(figure)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def replay(experiment, **kwargs) -> ReplayView:
    """The replay view of a stored run (see :class:`ReplayView` for the options)::

        view = replay(load_experiment("asha_promotion-..."))
        view          # the last cell line displays it; press play, or drag the slider
    """
    return ReplayView(experiment, **kwargs)
