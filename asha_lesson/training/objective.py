"""The lecture's objective: LeNet trained epoch by epoch, reporting to the tuner after each."""

from __future__ import annotations

from ..reporter import Reporter
from .data import check_batch_size, choose_data
from .models import LeNet
from .trainer import HPOTrainer

__all__ = ["hpo_objective_lenet"]


def hpo_objective_lenet(learning_rate, batch_size, max_epochs, data="auto", root=None,
                        width=1, seed=0):
    """Train LeNet for up to ``max_epochs`` epochs, reporting after each; returns the last
    validation error.

    Each report is ``report(epoch=e, validation_error=..., validation_loss=...)`` with Python
    floats; the tuner may pause or stop the trial there (the report raises to unwind us). When
    paused, the trainer's full state is kept; when resumed, training continues from the epoch
    after the one it paused at. A diverging learning rate reports ``validation_loss`` NaN or
    inf (its error stays finite, near 0.9), for the tuner to fail the trial.

    ``data`` is a name for :func:`choose_data` ("auto", "digits", "fashion_mnist") or a
    callable ``factory(batch_size, seed=...)`` returning a d2l DataModule. ``width`` scales
    LeNet's channels; ``seed`` fixes the initial weights, the split and the shuffling.
    """
    batch_size = check_batch_size(batch_size)
    if isinstance(max_epochs, bool) or int(max_epochs) != max_epochs or max_epochs < 1:
        raise ValueError(f"max_epochs={max_epochs!r} must be an integer >= 1")
    factory = data if callable(data) else choose_data(data, root=root)[0]
    model = LeNet(lr=learning_rate, num_classes=10, width=width, seed=seed)
    trainer = HPOTrainer(max_epochs=int(max_epochs))
    trainer.prepare(model, factory(batch_size, seed=seed))

    report = Reporter()
    state = report.load_checkpoint()
    if state is not None:
        trainer.load_state_dict(state)
    report.on_pause(trainer.state_dict)  # returns deep copies, safe to keep

    error = None
    for epoch in range(trainer.epoch + 1, int(max_epochs) + 1):
        trainer.fit_epoch()
        metrics = trainer.validation_metrics()
        error = metrics["error"]
        report(epoch=epoch, validation_error=error, validation_loss=metrics["loss"])
    # None only if resumed at max_epochs already; then measure the restored model instead.
    return error if error is not None else trainer.validation_error()
