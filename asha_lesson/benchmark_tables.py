"""Learning-curve tables recorded from real training and shipped with the package.

``load_lenet_digits_table()`` replays LeNet on scikit-learn's digits: 216 random configs of the
lecture's space (learning rate, batch size) plus LeNet's width, each trained 81 epochs, with
validation error, validation loss and seconds per epoch. ``load_lenet_digits_table(10)`` is the
same training stopped after 10 epochs, the lecture's ``max_epochs``. ``benchmarks/record_table.py``
made it; ``table.metadata`` says how, when and on what hardware.
"""

from __future__ import annotations

from importlib import resources

from .objectives import LearningCurveTable

__all__ = ["load_lenet_digits_table", "LENET_DIGITS_FILE"]

LENET_DIGITS_FILE = "lenet_digits.json"


def load_lenet_digits_table(max_epochs: int | None = None) -> LearningCurveTable:
    """The shipped LeNet-on-digits table, or its first ``max_epochs`` epochs.

    Read from ``asha_lesson/data``; no torch needed.
    """
    text = resources.files("asha_lesson").joinpath("data", LENET_DIGITS_FILE).read_text(
        encoding="utf-8")
    table = LearningCurveTable.from_json(text, "lenet_digits")
    return table if max_epochs is None else table.first_epochs(max_epochs)
