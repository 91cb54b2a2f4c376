import numpy as np
import pytest

from asha_lesson import choice, lograndint, loguniform, randint, uniform
from asha_lesson.config_space import sample_config


def test_sampling_is_reproducible_and_in_range():
    space = {"lr": loguniform(1e-3, 1), "bs": randint(32, 256), "w": lograndint(1, 64),
             "u": uniform(-1, 1), "act": choice(["relu", "tanh"]), "max_epochs": 10}
    a = [sample_config(space, np.random.default_rng(7)) for _ in range(3)]
    b = [sample_config(space, np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(0)
    for _ in range(2000):
        c = sample_config(space, rng)
        assert 1e-3 <= c["lr"] < 1 and 32 <= c["bs"] <= 256 and 1 <= c["w"] <= 64
        assert -1 <= c["u"] < 1 and c["act"] in ("relu", "tanh") and c["max_epochs"] == 10
        assert type(c["bs"]) is int and type(c["lr"]) is float


def test_randint_reaches_both_ends_and_loguniform_is_log_spread():
    rng = np.random.default_rng(1)
    ints = {randint(1, 3).sample(rng) for _ in range(200)}
    assert ints == {1, 2, 3}
    logs = {lograndint(1, 4).sample(rng) for _ in range(400)}
    assert logs == {1, 2, 3, 4}
    values = np.array([loguniform(1e-4, 1).sample(rng) for _ in range(4000)])
    # Each decade gets about a quarter of the draws on a log scale.
    assert 0.2 < np.mean(values < 1e-3) < 0.3


@pytest.mark.parametrize("make, message", [
    (lambda: uniform(1, 1), r"uniform: low=1 must be smaller than high=1"),
    (lambda: uniform(2, 1), r"uniform: low=2 must be smaller than high=1"),
    (lambda: loguniform(0, 1), r"loguniform: low=0 must be positive on a log scale"),
    (lambda: loguniform(-1, 1), r"loguniform: low=-1 must be positive on a log scale"),
    (lambda: randint(5, 5), r"randint: low=5 must be smaller than high=5"),
    (lambda: randint(1.5, 4), r"randint: low=1.5 must be an integer"),
    (lambda: lograndint(0, 8), r"lograndint: low=0 must be positive on a log scale"),
    (lambda: choice([]), r"choice: categories=\[\] must hold at least one value"),
    (lambda: uniform(0, float("inf")), r"uniform: high=inf must be a finite number"),
])
def test_bad_domains(make, message):
    with pytest.raises(ValueError, match=message):
        make()
