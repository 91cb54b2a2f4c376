"""Everything that trains a network: data, LeNet, the trainer and the lecture's objective.

This subpackage is the only part of ``asha_lesson`` that imports torch and d2l; the schedulers,
simulator and widgets load without them.
"""

from .data import (DATA_ENV_VAR, FASHION_MNIST_FILES, DigitsData, FashionMNISTData,
                   choose_data, fashion_mnist_on_disk, write_digits_as_fashion_mnist,
                   write_fashion_mnist_idx)
from .models import LeNet, xavier_init
from .objective import hpo_objective_lenet
from .trainer import HPOTrainer, limit_torch_threads

__all__ = [
    "DATA_ENV_VAR", "FASHION_MNIST_FILES", "DigitsData", "FashionMNISTData", "choose_data",
    "fashion_mnist_on_disk", "write_fashion_mnist_idx", "write_digits_as_fashion_mnist", "LeNet", "xavier_init",
    "hpo_objective_lenet", "HPOTrainer", "limit_torch_threads",
]
