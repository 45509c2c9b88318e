"""Gradient training beside the simulation pipeline: what is trainable
(`config`), losses and optimizers, the trainer behind `Simulator.compile`/`fit`/
`evaluate`, trained parameters (`parameters`) and the gradient check."""

from . import callbacks, losses, optimizers
from .config import TrainableParameter, configure_settings, get_setting
from .trainer import History, Trainer

__all__ = [
    "History",
    "TrainableParameter",
    "Trainer",
    "callbacks",
    "configure_settings",
    "get_setting",
    "losses",
    "optimizers",
]
