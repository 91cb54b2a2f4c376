"""Move a slider, see what changes: synchronous SH vs ASHA vs random search in the simulator.

:func:`compare` runs the three schedulers on :class:`~asha_lesson.objectives.SyntheticLeNet` with
the same seed, workers and time budget, on the simulated backend (virtual time: a run takes a
fraction of a second). :class:`Explorer` puts sliders on its settings and redraws the incumbent
curves, the worker timelines and ASHA's rung books whenever a slider is let go::

    from asha_lesson.widgets import Explorer
    Explorer()
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field, replace

import ipywidgets as widgets
import numpy as np

from ..backends.simulated import SimulatedBackend
from ..config_space import sample_config
from ..experiment import Experiment
from ..logs import quiet_logs
from ..objectives import SyntheticLeNet
from ..schedulers import ASHA, RandomSearch, SynchronousSuccessiveHalving
from ..tuner import StoppingCriterion, Tuner
from ._kernel import require_drawing_thread
from .figures import RUN_COLORS, draw_incumbents, draw_timeline, new_figure, to_png
from .rung_books import RungBooksView

__all__ = ["ExplorerSettings", "Comparison", "compare", "Explorer"]

LABELS = ("ASHA", "sync SH", "random search")
METRIC, TIE_BREAK = "validation_error", "validation_loss"


@dataclass(frozen=True)
class ExplorerSettings:
    """What the Explorer's sliders set.

    ``max_work`` caps each run at about that many epochs trained over all workers (the budget
    shrinks to fit), which keeps one simulated run near a tenth of a second.
    """

    reduction_factor: int = 3  # eta
    min_resource: int = 1  # r_min, epochs
    max_resource: int = 27  # r_max, epochs
    n_workers: int = 8
    straggler_spread: float = 0.5
    seed: int = 0
    asha_type: str = "promotion"
    max_work: int = 1600  # epochs


@dataclass
class Comparison:
    """Three runs on one budget, and what the readout says about them."""

    settings: ExplorerSettings
    budget: float  # simulated seconds each run had
    budget_capped: bool  # True when max_work shortened it
    epoch_seconds: float  # mean seconds per epoch of the objective
    experiments: dict[str, Experiment]
    compute_seconds: dict[str, float] = field(default_factory=dict)  # real time per simulation
    target: float = float("nan")
    reached: dict[str, float | None] = field(default_factory=dict)  # when each hit the target
    idle: dict[str, float] = field(default_factory=dict)  # share of worker time spent idle
    timelines: dict = field(default_factory=dict)  # label -> experiment.timeline()
    trials: dict[str, int] = field(default_factory=dict)

    def readout(self) -> str:
        """The findings in one short paragraph (HTML)."""
        def when(label):
            t = self.reached.get(label)
            return "never" if t is None else f"in <b>{t:.1f} s</b>"
        s = self.settings
        capped = " (shortened to keep the redraw fast)" if self.budget_capped else ""
        lines = [
            f"Each run had <b>{self.budget:.1f} s</b> of simulated time on {s.n_workers} "
            f"workers{capped}; one epoch takes {self.epoch_seconds:.2f} s on average, a full "
            f"trial of r_max = {s.max_resource} epochs about "
            f"{s.max_resource * self.epoch_seconds:.1f} s.",
            f"To reach {METRIC} <b>{self.target:.3f}</b>: ASHA {when('ASHA')}, sync SH "
            f"{when('sync SH')}, random search {when('random search')}.",
            f"Workers idle: sync SH <b>{self.idle['sync SH']:.0%}</b> of the time, ASHA "
            f"<b>{self.idle['ASHA']:.0%}</b>, random search {self.idle['random search']:.0%}. "
            f"Trials started: ASHA {self.trials['ASHA']}, sync SH {self.trials['sync SH']}, "
            f"random search {self.trials['random search']}.",
        ]
        return "<br>".join(lines)


class _Memo:
    """The objective with its answers remembered: moving a slider re-runs the same configs
    (the same seed samples the same configs), so most calls are repeats."""

    def __init__(self, objective) -> None:
        self.objective = objective
        self.name = getattr(objective, "name", type(objective).__name__)
        self._cache: dict = {}

    def __call__(self, config: dict, epoch: int):
        key = (tuple(sorted(config.items())), epoch)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > 500_000:
                self._cache.clear()
            found = self._cache[key] = self.objective(config, epoch)
        return dict(found[0]), found[1]


_OBJECTIVES: dict[tuple, _Memo] = {}


def _objective(settings: ExplorerSettings) -> _Memo:
    key = (settings.max_resource, settings.straggler_spread, settings.seed)
    memo = _OBJECTIVES.get(key)
    if memo is None:
        if len(_OBJECTIVES) > 16:
            _OBJECTIVES.clear()
        memo = _OBJECTIVES[key] = _Memo(SyntheticLeNet(
            max_epochs=settings.max_resource, straggler_spread=settings.straggler_spread,
            seed=settings.seed))
    return memo


def _mean_epoch_seconds(memo: _Memo) -> float:
    rng = np.random.default_rng(0)
    space = memo.objective.config_space
    return float(np.mean([memo(sample_config(space, rng), 1)[1] for _ in range(64)]))


def _budget(settings: ExplorerSettings, scheduler, epoch_seconds: float) -> tuple[float, bool]:
    """About two brackets of synchronous SH, capped by ``max_work``."""
    levels = scheduler.rung_levels_
    n = scheduler.num_configs
    eta = settings.reduction_factor
    bracket_epochs, previous = 0, 0
    for level in levels:  # epochs trained by one bracket: n_i trials from the last rung to this
        bracket_epochs += max(1, n) * (level - previous)
        n, previous = n // eta, level
    slowest = settings.max_resource * epoch_seconds * np.exp(settings.straggler_spread)
    wanted = 2.0 * max(slowest, bracket_epochs * epoch_seconds / settings.n_workers)
    cap = settings.max_work * epoch_seconds / settings.n_workers
    budget, capped = (wanted, False) if wanted <= cap else (cap, True)
    return max(0.1, round(budget, 1)), capped  # tenths of a second read better in the readout


def _schedulers(settings: ExplorerSettings, memo: _Memo) -> dict:
    space = memo.objective.config_space
    common = dict(metric=METRIC, mode="min", max_resource_attr="max_epochs",
                  random_seed=settings.seed, tie_break_metric=TIE_BREAK)
    halving = dict(grace_period=settings.min_resource,
                   reduction_factor=settings.reduction_factor)
    return {"ASHA": ASHA(space, type=settings.asha_type, **halving, **common),
            "sync SH": SynchronousSuccessiveHalving(space, **halving, **common),
            "random search": RandomSearch(space, **common)}


def compare(settings: ExplorerSettings | None = None, **changes) -> Comparison:
    """Run ASHA, synchronous SH and random search with ``settings`` (plus ``changes``)."""
    with quiet_logs():  # three runs per slider move: their seeds and ends are not news
        return _compare(settings, **changes)


def _compare(settings: ExplorerSettings | None = None, **changes) -> Comparison:
    settings = replace(settings or ExplorerSettings(), **changes)
    if settings.asha_type not in ("promotion", "stopping"):
        raise ValueError(f"asha_type={settings.asha_type!r} must be 'promotion' or 'stopping'")
    memo = _objective(settings)
    schedulers = _schedulers(settings, memo)
    epoch_seconds = _mean_epoch_seconds(memo)
    budget, capped = _budget(settings, schedulers["sync SH"], epoch_seconds)
    comparison = Comparison(settings, budget, capped, epoch_seconds, {})
    for label, scheduler in schedulers.items():
        start = time.perf_counter()
        tuner = Tuner(SimulatedBackend(memo), scheduler,
                      StoppingCriterion(max_wallclock_time=budget), n_workers=settings.n_workers,
                      save=False, progress=False)
        experiment = tuner.run()
        comparison.compute_seconds[label] = time.perf_counter() - start
        comparison.experiments[label] = experiment
        timeline = comparison.timelines[label] = experiment.timeline()
        comparison.idle[label] = _idle_fraction(timeline, budget, settings.n_workers)
        comparison.trials[label] = len(experiment.configs)
    finals = [_final(comparison.experiments[label]) for label in ("ASHA", "sync SH")]
    comparison.target = max(finals)  # both halving runs reach it
    comparison.reached = {label: _reached(experiment, comparison.target)
                          for label, experiment in comparison.experiments.items()}
    return comparison


def _idle_fraction(timeline, budget: float, n_workers: int) -> float:
    """Share of the workers' time not spent training (what ``1 - busy_fraction()`` says,
    from a timeline already at hand)."""
    train = timeline[timeline["kind"] == "train"]
    busy = float((train["end"] - train["start"]).sum()) / (budget * n_workers)
    return min(1.0, max(0.0, 1.0 - busy))  # rounding must not print "-0%"


def _final(experiment: Experiment) -> float:
    curve = experiment.incumbent()
    return float(curve[experiment.metric].iloc[-1]) if len(curve) else float("inf")


def _reached(experiment: Experiment, target: float) -> float | None:
    curve = experiment.incumbent()
    hits = curve[curve[experiment.metric] <= target]
    return float(hits["st_tuner_time"].iloc[0]) if len(hits) else None


# -- the widget --------------------------------------------------------------------------------

def _slider_specs():
    # (settings field, label, css suffix, minimum, maximum, step)
    return [("reduction_factor", "η (eta)", "eta", 2, 5, 1),
            ("min_resource", "r_min", "rmin", 1, 9, 1),
            ("max_resource", "r_max", "rmax", 9, 81, 1),
            ("n_workers", "workers", "workers", 2, 64, 1),
            ("straggler_spread", "stragglers", "straggler", 0.0, 1.5, 0.1),
            ("seed", "seed", "seed", 0, 99, 1)]


class Explorer:
    """Sliders over :class:`ExplorerSettings`; every release of a slider re-runs
    :func:`compare` and redraws. ``explorer.widget`` (CSS class ``asha-explorer``) is the whole
    thing; ``explorer.sliders["reduction_factor"]`` etc. are the controls (CSS classes
    ``asha-explorer-eta``, ``-rmin``, ``-rmax``, ``-workers``, ``-straggler``, ``-seed``,
    ``-type``), and ``explorer.last_redraw_seconds`` how long the last redraw took.
    """

    def __init__(self, settings: ExplorerSettings | None = None, *, max_rows: int = 10) -> None:
        self.settings = settings or ExplorerSettings()
        self.comparison: Comparison | None = None
        self.last_redraw_seconds = float("nan")
        self._lock = threading.RLock()  # slider messages (a subshell thread) vs. cell calls
        self.sliders = {}
        for name, label, css, low, high, step in _slider_specs():
            kind = widgets.FloatSlider if isinstance(step, float) else widgets.IntSlider
            slider = kind(value=getattr(self.settings, name), min=low, max=high, step=step,
                          description=label, continuous_update=False,
                          style={"description_width": "80px"},
                          layout=widgets.Layout(width="330px"))
            slider.add_class(f"asha-explorer-{css}")
            slider.observe(self._on_change, names="value")
            self.sliders[name] = slider
        self.asha_type = widgets.ToggleButtons(
            options=[("promotion: pause & resume", "promotion"),
                     ("stopping: stop early", "stopping")],
            value=self.settings.asha_type, style={"button_width": "215px"},
            tooltips=["the paper's Algorithm 2: trials pause at each rung and the best of a "
                      "rung are resumed", "a trial goes on past a rung only if it is in the "
                      "top 1/eta there so far (Ray Tune, Syne Tune)"])
        self.asha_type.add_class("asha-explorer-type")
        self.asha_type.observe(self._on_change, names="value")
        self.readout = widgets.HTML()
        self.readout.add_class("asha-explorer-readout")
        self.incumbent = widgets.Image(format="png", layout=widgets.Layout(
            width="49%", max_width="560px", object_fit="contain", align_self="flex-start"))
        self.incumbent.add_class("asha-incumbent")
        self.timeline = widgets.Image(format="png", layout=widgets.Layout(
            width="49%", max_width="560px", object_fit="contain", align_self="flex-start"))
        self.timeline.add_class("asha-timeline")
        self.books = RungBooksView(max_rows=max_rows, title="ASHA's rung books")
        self.time_step = widgets.IntSlider(value=100, min=0, max=100, step=1,
                                           description="time (%)", continuous_update=True,
                                           readout=False, layout=widgets.Layout(width="360px"))
        self.time_play = widgets.Play(value=100, min=0, max=100, step=1, interval=150)
        widgets.jslink((self.time_play, "value"), (self.time_step, "value"))
        self.time_label = widgets.HTML()
        self.time_step.add_class("asha-explorer-time")
        self.time_play.add_class("asha-explorer-play")
        self.time_step.observe(self._on_time, names="value")
        self._times: list[float] = []
        self._applied = 0

        names = list(self.sliders)
        controls = widgets.VBox([
            widgets.HBox([self.sliders[n] for n in names[:3]]),
            widgets.HBox([self.sliders[n] for n in names[3:]]),
            widgets.HBox([widgets.HTML("<b>ASHA variant</b>&nbsp;"), self.asha_type],
                         layout=widgets.Layout(align_items="center"))])
        figures = widgets.HBox([self.incumbent, self.timeline],
                               layout=widgets.Layout(flex_flow="row wrap"))
        books_controls = widgets.HBox([widgets.HTML("<b>ASHA's books at</b>"), self.time_play,
                                       self.time_step, self.time_label],
                                      layout=widgets.Layout(align_items="center"))
        self.widget = widgets.VBox([controls, self.readout, figures, books_controls,
                                    self.books.widget])
        self.widget.add_class("asha-explorer")
        self.redraw()

    def _on_change(self, _change) -> None:
        self.redraw()

    def _current_settings(self) -> ExplorerSettings:
        values = {name: slider.value for name, slider in self.sliders.items()}
        values["straggler_spread"] = round(float(values["straggler_spread"]), 3)
        return replace(self.settings, asha_type=self.asha_type.value, **values)

    def redraw(self) -> float:
        """Re-run the comparison for the sliders' values and redraw; return the seconds."""
        require_drawing_thread("Explorer.redraw")
        with self._lock:
            return self._redraw()

    def _redraw(self) -> float:
        start = time.perf_counter()
        self.settings = self._current_settings()
        comparison = self.comparison = compare(self.settings)
        self.incumbent.value = self._incumbent_png(comparison)
        self.timeline.value = self._timeline_png(comparison)
        events = comparison.experiments["ASHA"].events
        self._times = [event.time for event in events]
        self.books.reset()
        self._applied = 0
        self._show_books(self.time_step.value)
        self.last_redraw_seconds = time.perf_counter() - start
        simulated = " + ".join(f"{comparison.compute_seconds[label]:.2f}" for label in LABELS)
        self.readout.value = (
            f"<div style='font-size:13px;line-height:1.45'>{comparison.readout()}"
            f"<br><span style='color:#57606a'>simulated in {simulated} s; redrawn in "
            f"{self.last_redraw_seconds:.2f} s</span></div>")
        return self.last_redraw_seconds

    def _on_time(self, change) -> None:
        self._show_books(change["new"])

    def _show_books(self, percent: int) -> None:
        with self._lock:
            self._show_books_at(percent)

    def _show_books_at(self, percent: int) -> None:
        comparison = self.comparison
        if comparison is None:
            return
        events = comparison.experiments["ASHA"].events
        at = comparison.budget * percent / 100
        target = max(1, bisect.bisect_right(self._times, at))
        if target < self._applied:
            self.books.reset()
            self._applied = 0
        self.books.extend(events[self._applied:target])
        self._applied = target
        self.books.refresh()
        self.time_label.value = f"t = {at:.1f} s of {comparison.budget:.1f} s"

    def _incumbent_png(self, comparison: Comparison) -> bytes:
        n = self.settings.n_workers
        figure, axes = new_figure(5.4, 2 * (0.8 + 0.02 * n) + 0.6,
                                  margins=(0.65, 0.15, 0.45, 0.25))
        ax = axes[0, 0]
        runs = [(label, comparison.experiments[label], RUN_COLORS[label]) for label in LABELS]
        draw_incumbents(ax, runs, target=comparison.target, end=comparison.budget)
        for label in LABELS:
            when = comparison.reached.get(label)
            if when is not None:
                ax.plot([when], [comparison.target], "o", color=RUN_COLORS[label], ms=5)
        ax.set_xlim(0, comparison.budget)
        ax.set_title("incumbent: best validation error so far", fontsize=9, loc="left")
        return to_png(figure)

    def _timeline_png(self, comparison: Comparison) -> bytes:
        n = self.settings.n_workers
        height = 2 * (0.8 + 0.02 * n) + 0.6
        figure, axes = new_figure(5.6, height, rows=2, sharex=True,
                                  margins=(0.55, 0.15, 0.45, 0.25), hspace=0.35)
        for ax, label in zip(axes[:, 0], ("sync SH", "ASHA")):
            draw_timeline(ax, comparison.experiments[label], end=comparison.budget,
                          timeline=comparison.timelines[label],
                          title=f"{label}: workers idle {comparison.idle[label]:.0%} of the "
                                f"time (red)")
        axes[1, 0].set_xlabel("simulated time (s)")
        return to_png(figure)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
