"""Search-space domains and seeded sampling.

The names follow the seed lecture (and Syne Tune's classic API): a config space is a plain dict
whose values are either domains (``loguniform(1e-2, 1)``, ``randint(32, 256)``, ...) or constants
(``"max_epochs": 10``). Sampling always goes through a ``numpy.random.Generator`` the caller owns,
so a seed reproduces every config.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = [
    "Domain", "uniform", "loguniform", "randint", "lograndint", "choice",
    "sample_config", "validate_config_space",
]


class Domain(ABC):
    """A set of values a hyperparameter may take, able to draw one from a generator."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """One value, drawn from ``rng``."""


def _check_bounds(kind: str, low: float, high: float, *, log: bool) -> None:
    for name, value in (("low", low), ("high", high)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{kind}: {name}={value!r} must be a finite number")
    if low >= high:
        raise ValueError(f"{kind}: low={low!r} must be smaller than high={high!r}")
    if log and low <= 0:
        raise ValueError(f"{kind}: low={low!r} must be positive on a log scale")


@dataclass(frozen=True)
class _Float(Domain):
    low: float
    high: float
    log: bool

    def __post_init__(self) -> None:
        _check_bounds("loguniform" if self.log else "uniform", self.low, self.high, log=self.log)

    def __repr__(self) -> str:
        return f"{'loguniform' if self.log else 'uniform'}({self.low!r}, {self.high!r})"

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class _Int(Domain):
    low: int
    high: int  # inclusive, as in Syne Tune's randint
    log: bool

    def __post_init__(self) -> None:
        kind = "lograndint" if self.log else "randint"
        for name, value in (("low", self.low), ("high", self.high)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise ValueError(f"{kind}: {name}={value!r} must be an integer")
        _check_bounds(kind, self.low, self.high, log=self.log)

    def __repr__(self) -> str:
        return f"{'lograndint' if self.log else 'randint'}({self.low!r}, {self.high!r})"

    def sample(self, rng: np.random.Generator) -> int:
        if not self.log:
            return int(rng.integers(self.low, self.high, endpoint=True))
        # Uniform in log space over [low - 0.5, high + 0.5), rounded: every integer is reachable
        # and the ends are not under-weighted.
        lo, hi = math.log(self.low - 0.5 if self.low > 1 else self.low), math.log(self.high + 0.5)
        value = int(round(math.exp(rng.uniform(lo, hi))))
        return min(max(value, self.low), self.high)


@dataclass(frozen=True)
class _Choice(Domain):
    categories: tuple

    def __post_init__(self) -> None:
        if len(self.categories) == 0:
            raise ValueError("choice: categories=[] must hold at least one value")

    def __repr__(self) -> str:
        return f"choice({list(self.categories)!r})"

    def sample(self, rng: np.random.Generator) -> Any:
        return self.categories[int(rng.integers(len(self.categories)))]


def uniform(low: float, high: float) -> Domain:
    """A float drawn uniformly from [low, high)."""
    return _Float(low, high, log=False)


def loguniform(low: float, high: float) -> Domain:
    """A float whose logarithm is uniform on [log low, log high); needs 0 < low < high."""
    return _Float(low, high, log=True)


def randint(low: int, high: int) -> Domain:
    """An integer drawn uniformly from low to high, both included."""
    return _Int(low, high, log=False)


def lograndint(low: int, high: int) -> Domain:
    """An integer from low to high (both included), uniform on a log scale; needs 0 < low."""
    return _Int(low, high, log=True)


def choice(categories: Sequence[Any]) -> Domain:
    """One of the given values, each equally likely."""
    return _Choice(tuple(categories))


def validate_config_space(config_space: Mapping[str, Any]) -> None:
    if not isinstance(config_space, Mapping):
        raise ValueError(f"config_space={config_space!r} must be a dict of names to domains or constants")
    for name in config_space:
        if not isinstance(name, str):
            raise ValueError(f"config_space key {name!r} must be a string")


def sample_config(config_space: Mapping[str, Any], rng: np.random.Generator) -> dict:
    """Draw one config: domains are sampled in key order, constants copied."""
    return {
        name: value.sample(rng) if isinstance(value, Domain) else value
        for name, value in config_space.items()
    }
