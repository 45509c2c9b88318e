"""Callbacks for `Simulator.fit`, with Keras' names and meanings.

A callback is told when an epoch begins and ends and when a minibatch ends; it
can stop training (``trainer.stop_training = True``), read and write the
parameters through the simulator it is given in `Callback.set_simulator`, and
change the optimizer's learning rate.

Examples
--------
>>> sim.fit(x, y, epochs=100, validation_split=0.2, callbacks=[
...     nengo_native.callbacks.EarlyStopping(patience=3, restore_best_weights=True),
...     nengo_native.callbacks.ModelCheckpoint("best", save_best_only=True),
... ])
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable

import numpy as np
from nengo.exceptions import ValidationError

__all__ = [
    "Callback",
    "EarlyStopping",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "TerminateOnNaN",
]


class Callback:
    """Base class: override any of the ``on_*`` methods.

    Attributes
    ----------
    sim : Simulator or None
        The simulator being trained (set by `fit` before the first epoch).
    trainer
        The simulator's trainer; set ``trainer.stop_training = True`` to stop
        after the current minibatch.
    """

    sim = None
    trainer = None

    def set_simulator(self, sim, trainer) -> None:
        """Called by `fit` before training starts."""
        self.sim = sim
        self.trainer = trainer

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """After the last epoch (or after training stopped)."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Before epoch ``epoch`` (from 0)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """After epoch ``epoch``; ``logs`` holds the epoch's values (``loss``,
        ``val_loss``, ...)."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """After minibatch ``batch`` of the current epoch; ``logs`` holds its
        loss terms."""


def _monitored(logs: dict, monitor: str, who: str) -> float | None:
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(
            f"{who}: the monitored value '{monitor}' is not in the epoch's logs "
            f"(available: {', '.join(sorted(logs or {}))}); skipping",
            RuntimeWarning,
            stacklevel=3,
        )
    return value


def _mode_better(mode: str, monitor: str, who: str) -> Callable[[float, float], bool]:
    if mode not in ("auto", "min", "max"):
        raise ValidationError(
            f"must be 'auto', 'min' or 'max' (got {mode!r})", attr=f"{who}.mode"
        )
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)


class EarlyStopping(Callback):
    """Stop training when a monitored value has stopped improving.

    Parameters
    ----------
    monitor : str
        A key of the epoch's logs (``"val_loss"``, ``"loss"``, ...).
    min_delta : float
        A change smaller than this is no improvement.
    patience : int
        Epochs without improvement after which training stops.
    mode : {"auto", "min", "max"}
        Whether the value should go down or up ("auto": up for accuracies).
    restore_best_weights : bool
        When training stops (or ends), restore the parameters of the best epoch.
    verbose : int
        1: print a line when training stops.

    Attributes
    ----------
    stopped_epoch : int
        The epoch after which training stopped (0 if it did not stop early).
    best : float
        The best value seen.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
        verbose: int = 0,
    ):
        if int(patience) != patience or patience < 0:
            raise ValidationError(
                f"must be a non-negative integer (got {patience!r})",
                attr="EarlyStopping.patience",
            )
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self._better = _mode_better(mode, monitor, "EarlyStopping")
        self.restore_best_weights = restore_best_weights
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = None
        self._best_params = None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self._better(value, self.best):
            return abs(value - self.best) > self.min_delta
        return False

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if value is None:
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_params = self.trainer.get_flat()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self._best_params is not None:
            self.trainer.set_flat(self._best_params)


class TerminateOnNaN(Callback):
    """Stop training when the loss is not finite (NaN or infinite).

    `fit` uses one by default (``terminate_on_nan=True``): it warns with the epoch
    and the loss, and restores the parameters of the last epoch whose loss was
    finite.
    """

    def on_train_begin(self, logs=None):
        self._last_good = self.trainer.get_flat()
        self.terminated_epoch = None

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.trainer.stop_training = True
            self.trainer.nan_seen = True

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if getattr(self.trainer, "nan_seen", False) or (
            loss is not None and not math.isfinite(loss)
        ):
            self.trainer.stop_training = True
            self.terminated_epoch = epoch
            warnings.warn(
                f"fit stopped at epoch {epoch + 1}: the loss is not finite "
                f"(loss: {loss}); parameters restored to the last epoch with a "
                "finite loss (lower the learning rate?)",
                RuntimeWarning,
                stacklevel=2,
            )
            self.trainer.set_flat(self._last_good)
        else:
            self._last_good = self.trainer.get_flat()


class ModelCheckpoint(Callback):
    """Save the parameters (`Simulator.save_params`) after epochs.

    Parameters
    ----------
    filepath : str or path
        Where to save; may contain ``{epoch}`` (from 1) and any log key, as
        ``"ckpt_{epoch:02d}_{val_loss:.3f}"``. ``.npz`` is added when missing.
    monitor : str
        The value that decides which epoch is best (with ``save_best_only``).
    save_best_only : bool
        Save only when the monitored value improved.
    mode : {"auto", "min", "max"}
        As for `EarlyStopping`.
    verbose : int
        1: print a line on each save.

    Attributes
    ----------
    saved : list of str
        The files written, in order.
    """

    def __init__(
        self,
        filepath,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
        verbose: int = 0,
    ):
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.save_best_only = save_best_only
        self._better = _mode_better(mode, monitor, "ModelCheckpoint")
        self.verbose = verbose
        self.best = None
        self.saved: list[str] = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if value is None:
                return
            if self.best is not None and not self._better(value, self.best):
                return
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        name = self.sim.save_params(path)
        self.saved.append(name)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved parameters to {name}", flush=True)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch.

    Parameters
    ----------
    schedule : callable
        ``schedule(epoch, lr) -> new lr`` (epoch from 0, lr the current rate).
    verbose : int
        1: print the rate each epoch.
    """

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0):
        if not callable(schedule):
            raise ValidationError(
                f"must be a function schedule(epoch, lr) (got {schedule!r})",
                attr="LearningRateScheduler.schedule",
            )
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.trainer.compiled.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValidationError(
                f"{type(optimizer).__name__} has no learning_rate to schedule",
                attr="callbacks",
            )
        lr = float(self.schedule(epoch, float(optimizer.learning_rate)))
        if not np.isfinite(lr) or lr < 0:
            raise ValidationError(
                f"schedule({epoch}, ...) returned {lr!r}; a learning rate must be a "
                "non-negative finite number",
                attr="LearningRateScheduler.schedule",
            )
        optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {lr:.4g}", flush=True)
