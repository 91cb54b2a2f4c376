"""The schedulers: pure state machines that decide what runs next."""

from .asha import ASHA
from .base import Scheduler
from .random_search import RandomSearch
from .successive_halving import SynchronousSuccessiveHalving

__all__ = ["ASHA", "RandomSearch", "Scheduler", "SynchronousSuccessiveHalving"]
