"""Objectives for the simulated backend: ``objective(config, epoch) -> (metrics, seconds)``.

* :class:`SyntheticLeNet`: learning curves with the shape LeNet's have on digits (a good learning
  rate learns fast and low; too small learns slowly; too large diverges and sits at 0.9 error,
  the tie that trips quantile rules), with seconds per epoch depending on batch size and an
  optional straggler spread. Deterministic: the same config always gives the same curve.
* :class:`LearningCurveTable`: curves recorded from real training, replayed.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from .config_space import loguniform, randint

__all__ = ["SyntheticLeNet", "LearningCurveTable"]


def _unit_noise(*keys) -> np.random.Generator:
    """A generator seeded from the keys' text, so a config's noise is the same on every run."""
    return np.random.default_rng(zlib.crc32(repr(keys).encode()))


class SyntheticLeNet:
    """Simulated LeNet-on-digits curves over (learning_rate, batch_size).

    Args:
        max_epochs: r_max, the constant ``max_epochs`` in :attr:`config_space`.
        straggler_spread: sigma of a log-normal factor on each config's seconds per epoch
            (0: epoch time depends on batch size only).
        seed: changes every config's noise and straggler factor.
    """

    name = "synthetic_lenet"

    def __init__(self, max_epochs: int = 10, straggler_spread: float = 0.0, seed: int = 0) -> None:
        if straggler_spread < 0:
            raise ValueError(f"straggler_spread={straggler_spread!r} must be >= 0")
        self.max_epochs = max_epochs
        self.straggler_spread = straggler_spread
        self.seed = seed
        self.config_space = {"learning_rate": loguniform(1e-3, 1.0),
                             "batch_size": randint(32, 256), "max_epochs": max_epochs}
        self._shapes: dict[tuple, tuple[float, float, float]] = {}  # a config's curve, once

    def _shape(self, config: dict) -> tuple[float, float, float]:
        lr, batch = float(config["learning_rate"]), int(config["batch_size"])
        rng = _unit_noise(self.seed, round(lr, 12), batch)
        # The best learning rate grows with the batch size (fewer, less noisy steps per epoch).
        best_lr = 0.08 * (batch / 64) ** 0.5
        distance = abs(math.log10(lr / best_lr))
        final = min(0.88, 0.01 + 0.35 * distance ** 2 + 0.04 * rng.random() ** 2)
        # Learning speed (per epoch) grows with the learning rate up to the best one, then
        # levels off; a per-config factor makes some early leaders fade and some late bloomers
        # catch up, as real curves do (early and final errors rank-correlate about 0.6-0.8).
        speed = 0.8 * min(lr, best_lr) / best_lr * math.exp(0.8 * rng.standard_normal())
        if lr > 6 * best_lr:
            final, speed = 0.9, 0.0  # diverged: predicts one class forever
        seconds = 0.15 * (64 / batch) ** 0.35 * math.exp(
            self.straggler_spread * rng.standard_normal())
        return final, speed, seconds

    def __call__(self, config: dict, epoch: int) -> tuple[dict, float]:
        key = (config["learning_rate"], config["batch_size"])
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = self._shape(config)
        final, speed, seconds = shape
        error = final + (0.9 - final) * math.exp(-speed * epoch)
        if final < 0.9:
            noise = _unit_noise(self.seed, round(float(config["learning_rate"]), 12),
                                int(config["batch_size"]), epoch).normal(0, 0.004)
            error = min(0.9, max(0.004, error + noise))  # about 2 of 450 digits wrong
        loss = -math.log(max(1e-6, 1.0 - error)) * 2.3  # a finer metric to break ties
        return {"validation_error": round(error, 6), "validation_loss": round(loss, 6)}, seconds


class LearningCurveTable:
    """Curves recorded from real training, replayed by config id.

    ``values[metric]`` is an (n_configs, max_epochs) array, ``seconds`` (n_configs, max_epochs)
    seconds per epoch; ``configs[i]`` the hyperparameters of row i. The config space samples a row:
    ``{"config_id": randint(0, n - 1), "max_epochs": max_epochs}``.
    """

    def __init__(self, configs: Sequence[dict], values: dict[str, np.ndarray],
                 seconds: np.ndarray, metadata: dict | None = None, name: str = "table") -> None:
        seconds = np.asarray(seconds, dtype=float)
        if seconds.ndim != 2 or seconds.shape[0] != len(configs):
            raise ValueError(f"seconds has shape {seconds.shape}; it must be (n_configs="
                             f"{len(configs)}, max_epochs)")
        self.values = {k: np.asarray(v, dtype=float) for k, v in values.items()}
        for metric, array in self.values.items():
            if array.shape != seconds.shape:
                raise ValueError(f"values[{metric!r}] has shape {array.shape}, seconds has "
                                 f"{seconds.shape}: they must match")
        self.configs = [dict(c) for c in configs]
        self.seconds = seconds
        self.metadata = dict(metadata or {})
        self.name = name
        self.max_epochs = seconds.shape[1]
        self.config_space = {"config_id": randint(0, len(self.configs) - 1),
                             "max_epochs": self.max_epochs}

    def __len__(self) -> int:
        return len(self.configs)

    def __call__(self, config: dict, epoch: int) -> tuple[dict, float]:
        row, column = int(config["config_id"]), epoch - 1
        metrics = {name: float(array[row, column]) for name, array in self.values.items()}
        return metrics, float(self.seconds[row, column])

    def first_epochs(self, max_epochs: int) -> "LearningCurveTable":
        """The same configs trained only ``max_epochs`` epochs: the table's first columns.

        Training is deterministic given the config and seed, so a run stopped after
        ``max_epochs`` epochs reports exactly these values (the learning rate does not decay
        with the planned length).
        """
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, (int, np.integer)) \
                or not 1 <= max_epochs <= self.max_epochs:
            raise ValueError(f"max_epochs={max_epochs!r} must be an integer from 1 to the "
                             f"table's {self.max_epochs} epochs")
        metadata = dict(self.metadata)
        if max_epochs < self.max_epochs:
            metadata["first_epochs"] = (f"the first {max_epochs} of the {self.max_epochs} "
                                        "epochs recorded")
            wall = metadata.get("wall_seconds")
            if isinstance(wall, list) and wall and isinstance(wall[0], list):
                metadata["wall_seconds"] = [row[:max_epochs] for row in wall]
        max_epochs = int(max_epochs)
        return LearningCurveTable(self.configs, {k: v[:, :max_epochs] for k, v in
                                                 self.values.items()},
                                  self.seconds[:, :max_epochs], metadata, self.name)

    @classmethod
    def load(cls, path: str | Path) -> "LearningCurveTable":
        """Read a table written by :meth:`save` (JSON; no pickles)."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"), Path(path).stem)

    @classmethod
    def from_json(cls, text: str, name: str = "table") -> "LearningCurveTable":
        raw = json.loads(text)
        as_array = lambda rows: np.array(rows, dtype=float)  # noqa: E731 - null -> NaN
        return cls(raw["configs"], {k: as_array(v) for k, v in raw["values"].items()},
                   as_array(raw["seconds"]), raw.get("metadata"), raw.get("name", name))

    def save(self, path: str | Path) -> None:
        """Write strict JSON: a non-finite value (a diverged loss) is written as null."""
        def rows(array, digits):
            return [[None if not math.isfinite(x) else x for x in row]
                    for row in np.round(array, digits).tolist()]

        Path(path).write_text(json.dumps({
            "name": self.name, "metadata": self.metadata, "configs": self.configs,
            "values": {k: rows(v, 6) for k, v in self.values.items()},
            "seconds": rows(self.seconds, 5)}, allow_nan=False), encoding="utf-8")
