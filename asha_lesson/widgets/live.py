"""A dashboard that watches a run as it happens: rung books, curves, workers, a stop button.

Intended use in a notebook, with the run in the background so the notebook stays free::

    tuner = Tuner(backend, scheduler, StoppingCriterion(max_wallclock_time=60), n_workers=4)
    dashboard = LiveDashboard(tuner)   # subscribes itself to tuner.events
    dashboard                          # (or display(dashboard)) shows it
    tuner.start()                      # returns at once; the dashboard updates itself

How the threads stay apart: the tuner calls :meth:`LiveDashboard.__call__` on its own thread, and
that only appends the event to an :class:`~asha_lesson.widgets._kernel.EventBuffer`. An asyncio
task on the kernel's event loop wakes every ``interval`` seconds, drains the buffer and redraws,
on the kernel's main thread. A blocking ``tuner.run()`` in a cell calls back on the main thread
itself; then the dashboard redraws straight from the callback, at most every ``throttle``
seconds. The stop button needs ``start()``: while a cell runs, the kernel handles the click
only after the cell has ended (checked in JupyterLab 4 with ipykernel 7).
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import threading
import time

import ipywidgets as widgets

from ..events import Event, EventKind
from ..experiment import Experiment
from ._kernel import EventBuffer, kernel_loop, on_main_thread, require_drawing_thread
from .figures import draw_timeline, draw_trials, new_figure, to_png
from .rung_books import RungBooksView

__all__ = ["LiveDashboard", "watch"]

logger = logging.getLogger("asha_lesson")


def _half():
    return widgets.Layout(width="49%", max_width="600px", object_fit="contain",
                          align_self="flex-start")


class LiveDashboard:
    """Rung books, learning curves with the incumbent, a worker timeline, a status line and a
    stop button, all fed by a run's events.

    Args:
        tuner: the :class:`~asha_lesson.tuner.Tuner` to watch; the dashboard subscribes to its
            event log (do this before ``tuner.start()``; events logged earlier are caught up).
            Without a tuner, pass the dashboard itself as a callback,
            ``Tuner(..., callbacks=[dashboard])``, and call :meth:`attach` for the stop button.
        interval: seconds between redraws while the run is in the background.
        throttle: the least seconds between redraws from a blocking ``tuner.run()``.
        figure_interval: the least seconds between redraws of the two figures (each costs tens
            of milliseconds; the rung books redraw at every ``interval``).
        books, curves, timeline: which parts to show.
        Other keyword arguments (``max_rows``, ``recent``) go to the rung-books view.
    """

    def __init__(self, tuner=None, *, interval: float = 0.25, throttle: float = 0.3,
                 figure_interval: float = 0.5, books: bool = True, curves: bool = True,
                 timeline: bool = True, **book_kwargs) -> None:
        for name, value in (("interval", interval), ("throttle", throttle),
                            ("figure_interval", figure_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name}={value!r} must be a positive number of seconds")
        self.interval, self.throttle, self.figure_interval = interval, throttle, figure_interval
        self.buffer = EventBuffer()
        self._drawing = threading.Lock()
        self.events: list[Event] = []  # what the kernel's thread has drained so far
        self.tuner = None
        self._catch_up: set[int] = set()  # ids of events taken from the log when attaching
        self._closed = False
        self._done = False  # the run ended and its last state is drawn
        self._last_update = self._last_figures = -math.inf
        self._figures_at = 0  # len(self.events) at the last figure redraw
        self._results = 0
        self._trials = 0
        self._best: tuple[float, int] | None = None  # (value, trial_id)
        self._sign = 1.0
        self._metric = ""
        self._end_reason = None
        self._blocking = False  # the run calls back on the main thread: a click would wait

        self.status = widgets.HTML(value=self._status_text())
        self.status.add_class("asha-status")
        self.stop_button = widgets.Button(description="Stop the run", icon="stop",
                                          button_style="danger", disabled=True,
                                          tooltip="tuner.stop(): what was recorded stays")
        self.stop_button.add_class("asha-stop")
        self.stop_button.on_click(self._on_stop)
        self.books = RungBooksView(**book_kwargs) if books else None
        self.curves = self.timeline = None
        figures = []
        if curves:
            self.curves = widgets.Image(format="png", layout=_half())
            self.curves.add_class("asha-incumbent")
            figures.append(self.curves)
        if timeline:
            self.timeline = widgets.Image(format="png", layout=_half())
            self.timeline.add_class("asha-timeline")
            figures.append(self.timeline)
        header = widgets.HBox([self.status, self.stop_button],
                              layout=widgets.Layout(align_items="center",
                                                    justify_content="space-between"))
        children = [header] + ([self.books.widget] if self.books else [])
        if figures:
            children.append(widgets.HBox(figures, layout=widgets.Layout(flex_flow="row wrap")))
        self.widget = widgets.VBox(children)
        self.widget.add_class("asha-dashboard")
        if tuner is not None:
            self.attach(tuner)
        self._task = None
        loop = kernel_loop()
        if loop is not None:
            self._task = loop.create_task(self._pump())

    # -- wiring --------------------------------------------------------------------------------

    def attach(self, tuner, *, subscribe: bool = True) -> None:
        """Watch ``tuner``: the stop button stops it; with ``subscribe``, its events come here."""
        self.tuner = tuner
        self.stop_button.disabled = False
        if not subscribe:
            return
        tuner.events.subscribe(self)
        # A run already under way: take what it logged so far, and skip those events when they
        # also come through the buffer (appended between subscribing and this snapshot).
        earlier = tuner.events.snapshot()
        self._catch_up = {id(event) for event in earlier}
        self._earlier = earlier  # keeps the ids valid
        for event in earlier:
            self._take(event)

    def __call__(self, event: Event) -> None:
        """The tuner's callback: runs on whichever thread the tuner runs on."""
        self.buffer(event)
        if on_main_thread() and not self._closed:  # a blocking tuner.run() in a cell
            if event.kind is EventKind.RUN_STARTED:
                self._blocking = True
            now = time.monotonic()
            if event.kind is EventKind.RUN_ENDED or now - self._last_update >= self.throttle:
                self.update()

    def close(self) -> None:
        """Stop redrawing (the widgets stay as they are)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()

    # -- the kernel's side -----------------------------------------------------------------------

    async def _pump(self) -> None:
        try:
            while not self._closed and not self._done:
                self.update()
                await asyncio.sleep(self.interval)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # keep the notebook alive; say why the view froze
            logger.exception("LiveDashboard stopped updating")
            self.status.value = (f"<b>the dashboard stopped updating:</b> "
                                 f"{html.escape(repr(error))}")

    def update(self, *, force_figures: bool = False) -> bool:
        """Drain the buffer and redraw what changed; True when new events arrived.

        The kernel's loop calls it every ``interval`` seconds; call it yourself where no kernel
        loop runs (a script, a test). Never from a tuner or worker thread."""
        require_drawing_thread("LiveDashboard.update")
        with self._drawing:  # the kernel's loop and a widget-message thread may both call it
            return self._update(force_figures)

    def _update(self, force_figures: bool) -> bool:
        self._last_update = time.monotonic()
        new = 0
        for event in self.buffer.drain():
            if self._catch_up:
                if id(event) in self._catch_up:
                    continue
                self._catch_up = set()  # past the overlap: everything from here on is new
            self._take(event)
            new += 1
        ended = self._end_reason is not None
        if self.books is not None:
            self.books.refresh()
        now = time.monotonic()
        stale = len(self.events) != self._figures_at
        # A blocking run draws on the tuner's own thread, and a worker whose trial just ended
        # waits for its next job meanwhile: there, the figures (tens of ms each) redraw rarely.
        figure_interval = max(self.figure_interval, 5.0) if self._blocking else self.figure_interval
        if stale and (force_figures or ended or now - self._last_figures >= figure_interval):
            self._draw_figures()
        self.status.value = self._status_text()
        if self._blocking and not ended and not self.stop_button.disabled:
            self.stop_button.disabled = True
            self.stop_button.description = "stop: use tuner.start()"
            self.stop_button.tooltip = ("this run blocks the cell, so a click would only be "
                                        "handled after it; start runs with tuner.start()")
        if ended and self._figures_at == len(self.events):
            self._done = True
            self.stop_button.disabled = True
            self.stop_button.button_style = ""  # nothing to stop any more: no alarm colour
            self.stop_button.description = "run ended"
        return new > 0

    def _take(self, event: Event) -> None:
        self.events.append(event)
        if self.books is not None:
            self.books.apply(event)
        kind = event.kind
        if kind is EventKind.RUN_STARTED:
            self._metric = event.data["metric"]
            self._sign = 1.0 if event.data["mode"] == "min" else -1.0
        elif kind is EventKind.TRIAL_STARTED:
            self._trials += 1
        elif kind is EventKind.REPORTED:
            self._results += 1
            value = event.data["metrics"].get(self._metric)
            if isinstance(value, (int, float)) and math.isfinite(value) and (
                    self._best is None or self._sign * value < self._sign * self._best[0]):
                self._best = (float(value), event.trial_id)
        elif kind is EventKind.RUN_ENDED:
            self._end_reason = (event.data or {}).get("reason", "")

    def _elapsed(self) -> float:
        last = self.events[-1].time if self.events else 0.0
        tuner = self.tuner
        if tuner is not None and self._end_reason is None and tuner.running and \
                tuner.trial_backend.realtime:
            try:
                return max(last, tuner.trial_backend.clock())
            except AttributeError:  # the backend is not open yet
                return last
        return last

    def _status_text(self) -> str:
        if not self.events:
            return "<b>waiting for the run to start</b> (tuner.start() or tuner.run())"
        if self._end_reason is not None:
            state = f"■ <b>ended</b> after {self.events[-1].time:.1f} s: " \
                    f"{html.escape(self._end_reason)}"
        else:
            state = f"● <b>running</b> · {self._elapsed():.1f} s"
        best = ""
        if self._best is not None:
            best = (f" · best {html.escape(self._metric)} <b>{self._best[0]:.4f}</b> "
                    f"(trial {self._best[1]})")
        return (f"<span style='font-size:13px;font-variant-numeric:tabular-nums'>{state} · "
                f"{self._results} results from {self._trials} trials{best}</span>")

    def _draw_figures(self) -> None:
        self._last_figures = time.monotonic()
        self._figures_at = len(self.events)
        experiment = Experiment("live", list(self.events))
        now = self.events[-1].time
        if self.curves is not None:
            figure, axes = new_figure(5.6, 3.2, margins=(0.7, 0.15, 0.45, 0.25))
            draw_trials(axes[0, 0], experiment, now=now)
            axes[0, 0].set_title("learning curves and the incumbent", fontsize=9, loc="left")
            self.curves.value = to_png(figure)
        if self.timeline is not None:
            figure, axes = new_figure(5.6, 3.2, margins=(0.7, 0.15, 0.45, 0.25))
            busy = experiment.busy_fraction() if now > 0 else 0.0
            draw_timeline(axes[0, 0], experiment, end=now,
                          title=f"workers: training {busy:.0%} of the time, idle in red")
            axes[0, 0].set_xlabel("time since the start (s)")
            self.timeline.value = to_png(figure)

    # -- buttons and display -----------------------------------------------------------------------

    def _on_stop(self, _button) -> None:
        if self.tuner is None or self._end_reason is not None:
            return
        self.tuner.stop()
        self.stop_button.disabled = True
        self.stop_button.description = "stopping…"

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def watch(tuner, **kwargs) -> LiveDashboard:
    """Show a :class:`LiveDashboard` for ``tuner`` and return it; then ``tuner.start()``."""
    from IPython.display import display
    dashboard = LiveDashboard(tuner, **kwargs)
    display(dashboard.widget)
    return dashboard
