"""LeNet for the lecture's objective: d2l's LeNet-5 layout with ReLU and Xavier init.

d2l's ``LeNet`` (sigmoid activations, average pooling) learns slowly: on the digits it stays near
0.90 validation error after 10 epochs of SGD, so every trial would look the same. ReLU with
Xavier-initialised weights learns within a few epochs, which gives the tuner a real landscape.
"""

from __future__ import annotations

import torch
from d2l import torch as d2l
from torch import nn

__all__ = ["LeNet", "xavier_init"]


def xavier_init(generator: torch.Generator):
    """An init function for ``Module.apply_init``, like d2l's ``init_cnn`` but seeded.

    It draws from ``generator`` instead of torch's global generator, which every worker thread
    shares: trials started at the same moment would otherwise get each other's random numbers.
    Biases start at zero (d2l leaves the lazy layers' default, drawn from the global generator).
    """
    def init(module):
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight, generator=generator)
            nn.init.zeros_(module.bias)
    return init


class LeNet(d2l.Classifier):
    """LeNet-5 (d2l's ``LeNet`` layout) with ReLU, for 1x28x28 inputs.

    ``width`` multiplies every layer's channels and hidden units (1 is LeNet-5: 6 and 16
    channels, 120 and 84 units); the cost of an epoch grows roughly with ``width**2``.
    ``seed`` fixes the initial weights. The model is initialised on construction.
    """

    def __init__(self, lr=0.1, num_classes=10, width=1, seed=0, input_shape=(1, 28, 28)):
        if not lr > 0:  # also rejects NaN
            raise ValueError(f"lr={lr!r} must be a positive number")
        if int(width) != width or width < 1:
            raise ValueError(f"width={width!r} must be an integer >= 1")
        super().__init__()
        self.save_hyperparameters()
        w = int(width)
        self.net = nn.Sequential(
            nn.LazyConv2d(6 * w, kernel_size=5, padding=2), nn.ReLU(),
            nn.AvgPool2d(kernel_size=2, stride=2),              # (6w, 14, 14)
            nn.LazyConv2d(16 * w, kernel_size=5), nn.ReLU(),
            nn.AvgPool2d(kernel_size=2, stride=2),              # (16w, 5, 5)
            nn.Flatten(),
            nn.LazyLinear(120 * w), nn.ReLU(),
            nn.LazyLinear(84 * w), nn.ReLU(),
            nn.LazyLinear(num_classes))
        # d2l's usage: one forward pass materialises the lazy layers, then the init is applied.
        self.apply_init([torch.zeros(1, *input_shape)],
                        xavier_init(torch.Generator().manual_seed(int(seed))))

    def configure_optimizers(self):
        """d2l's minibatch SGD at ``lr``, updating all parameters in one multi-tensor op.

        Same update, same numbers as d2l's per-parameter loop (``foreach`` only batches the
        kernel launches); each launch from Python costs interpreter time that a second worker
        thread would wait for.
        """
        return torch.optim.SGD(self.parameters(), self.lr, foreach=True)

    def plot(self, key, value, train):
        """Draw nothing. d2l's ``training_step`` calls ``self.plot``, whose ProgressBoard opens
        a matplotlib figure and calls IPython's ``display`` from whichever thread trains; on
        a tuner's worker threads that would draw into the notebook from the wrong thread (and
        cost time). Trials report to the tuner instead, and the notebook's view plots that."""
