"""An epoch-at-a-time trainer in d2l's style, with a resumable state, and CPU-thread limits."""

from __future__ import annotations

import copy
import os

import torch
from d2l import torch as d2l

__all__ = ["HPOTrainer", "limit_torch_threads"]


class HPOTrainer(d2l.HPOTrainer):
    """d2l's ``HPOTrainer``, driven one epoch at a time so a tuner can decide between epochs.

    ``prepare(model, data)`` does what d2l's ``fit`` does before its loop; then each
    ``fit_epoch()`` trains one epoch and increments ``epoch`` (the number of epochs trained).
    ``state_dict()`` / ``load_state_dict()`` save and restore everything training depends on,
    so a paused trial resumes with the same weights, optimizer state, epoch count and shuffling.
    It never draws or prints.
    """

    def __init__(self, max_epochs, num_gpus=0, gradient_clip_val=0):
        if num_gpus != 0:
            raise ValueError(f"num_gpus={num_gpus!r} must be 0: this lecture trains on the CPU")
        super().__init__(max_epochs=max_epochs, num_gpus=0, gradient_clip_val=gradient_clip_val)
        self.epoch = 0

    def prepare(self, model, data):
        self.prepare_data(data)
        self.prepare_model(model)
        # d2l's Module.plot draws from training_step in the calling thread. Our LeNet overrides
        # plot; for any other d2l model, a board with display=False only records its points.
        model.board.display = False
        self.optim = model.configure_optimizers()
        self.epoch = self.train_batch_idx = self.val_batch_idx = 0

    def fit(self, model, data):
        """Train ``max_epochs`` epochs from scratch, as d2l's ``fit`` does."""
        self.prepare(model, data)
        while self.epoch < self.max_epochs:
            self.fit_epoch()

    def fit_epoch(self):
        """Train one epoch. Unlike d2l's, no validation pass: in d2l it only feeds the plot."""
        self.model.train()
        for batch in self.train_dataloader:
            loss = self.model.training_step(self.prepare_batch(batch))
            self.optim.zero_grad()
            loss.backward()
            if self.gradient_clip_val > 0:
                with torch.no_grad():
                    self.clip_gradients(self.gradient_clip_val, self.model)
            self.optim.step()
            self.train_batch_idx += 1
        self.epoch += 1

    def validation_metrics(self) -> dict[str, float]:
        """``{"error": ..., "loss": ...}`` over the whole validation set, as Python floats.

        Averaged per example. (d2l's ``validation_error`` averages per-batch accuracies, which
        over-weights a short last batch.) A diverged model gives loss NaN or inf; its error is
        whatever its predictions score (NaN logits all predict class 0: about 0.9).
        """
        self.model.eval()
        wrong, loss, count = 0.0, 0.0, 0
        with torch.no_grad():
            for batch in self.val_dataloader:
                *inputs, y = self.prepare_batch(batch)
                y_hat = self.model(*inputs)
                loss += float(self.model.loss(y_hat, y, averaged=False).sum())
                wrong += float((1 - self.model.accuracy(y_hat, y, averaged=False)).sum())
                count += len(y)
        return {"error": wrong / count, "loss": loss / count}

    def validation_error(self) -> float:
        return self.validation_metrics()["error"]

    def validation_loss(self) -> float:
        return self.validation_metrics()["loss"]

    def state_dict(self) -> dict:
        """A deep copy of the full training state (safe to keep while training goes on)."""
        generator = getattr(self.train_dataloader, "generator", None)
        return {
            "epoch": self.epoch,
            "train_batch_idx": self.train_batch_idx,
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optim.state_dict()),
            # Which order the next epochs shuffle the training set in.
            "shuffle_generator": generator.get_state() if generator is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output into a prepared trainer (``prepare`` first)."""
        self.model.load_state_dict(copy.deepcopy(state["model"]))
        self.optim.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.epoch = state["epoch"]
        self.train_batch_idx = state["train_batch_idx"]
        generator = getattr(self.train_dataloader, "generator", None)
        if generator is not None and state["shuffle_generator"] is not None:
            generator.set_state(state["shuffle_generator"])


def limit_torch_threads(n_workers: int) -> int:
    """Give each of ``n_workers`` concurrent trials ``cores // n_workers`` torch threads (>= 1).

    torch uses every core for each matrix product by default; two trials doing that on two
    cores oversubscribe the machine and both slow down. The setting is process-wide and new
    threads inherit it. Calling again with the same ``n_workers`` changes nothing. Returns the
    number of threads set.
    """
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"n_workers={n_workers!r} must be an integer >= 1")
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
