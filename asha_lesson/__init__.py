"""asha_lesson: learn, and use, asynchronous successive halving (ASHA).

The public names follow the seed lecture (Syne Tune's classic API), so its code runs with only
its imports changed to ``from asha_lesson import ...``. Nothing here imports torch; the training
pieces live in :mod:`asha_lesson.training`.
"""

from .backends.simulated import SimulatedBackend
from .backends.threads import PythonBackend
from .config_space import choice, lograndint, loguniform, randint, uniform
from .decisions import Decision, Job, TrialStatus, Wait
from .events import Event, EventKind
from .experiment import Experiment, load_experiment
from .logs import quiet_logs
from .objectives import LearningCurveTable, SyntheticLeNet
from .reporter import Reporter
from .rungs import RungBook, is_promotable, rung_levels
from .schedulers import ASHA, RandomSearch, Scheduler, SynchronousSuccessiveHalving
from .tuner import StoppingCriterion, Tuner

__version__ = "0.1.0"

__all__ = [
    "ASHA", "RandomSearch", "SynchronousSuccessiveHalving", "Scheduler",
    "Tuner", "StoppingCriterion", "load_experiment", "Experiment",
    "SimulatedBackend", "PythonBackend", "SyntheticLeNet", "LearningCurveTable", "Reporter",
    "uniform", "loguniform", "randint", "lograndint", "choice",
    "rung_levels", "is_promotable", "RungBook",
    "Decision", "Job", "Wait", "TrialStatus", "Event", "EventKind", "quiet_logs",
]


def __getattr__(name):
    # DaskBackend imports distributed, a heavy optional dependency: only on first use.
    if name == "DaskBackend":
        from .backends.dask import DaskBackend
        return DaskBackend
    raise AttributeError(f"module 'asha_lesson' has no attribute {name!r}")
