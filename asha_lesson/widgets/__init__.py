"""Notebook widgets (ipywidgets 8, core widgets only): watch a run live, replay one, explore.

* :class:`RungBooksView`: the rung books as an HTML table per rung, fed event by event.
* :func:`replay` / :class:`ReplayView`: a stored run's books with play / pause / scrub controls.
* :class:`LiveDashboard` / :func:`watch`: books, curves, worker timeline and a stop button that
  follow a run started with ``tuner.start()``.
* :class:`Explorer`: sliders over eta, r_min, r_max, workers, stragglers and seed; synchronous SH,
  ASHA and random search re-run in the simulator on every change.

This subpackage is the only part of :mod:`asha_lesson` that imports ipywidgets. Worker and tuner
threads never touch a widget: they hand events over through an :class:`EventBuffer`, and the
kernel's own thread draws (see :mod:`asha_lesson.widgets.live`).
"""

from ._kernel import EventBuffer
from .books_html import render_books
from .explorer import Comparison, Explorer, ExplorerSettings, compare
from .live import LiveDashboard, watch
from .model import BookModel, BooksFrame, Column, Row
from .rung_books import ReplayView, RungBooksView, replay

__all__ = [
    "RungBooksView", "ReplayView", "replay", "LiveDashboard", "watch", "Explorer",
    "ExplorerSettings", "Comparison", "compare", "BookModel", "BooksFrame", "Column", "Row",
    "EventBuffer", "render_books",
]
