"""Gradient training of a simulator's parameters: `compile`, `fit`, `evaluate`.

A training step runs one minibatch through the model with spiking neurons
replaced by their rate counterparts (the planner's training kernels), records
what the backward pass needs, takes the loss of every probe that has one,
runs the core's backward pass through time from the losses' gradients, and
hands the parameter gradients to the optimizer. Every minibatch starts from the
state the simulator had when `fit` was called (NengoDL's ``stateful=False``),
and `fit` leaves the state and the clock as they were; only the parameters
change.
"""

from __future__ import annotations

import contextlib
import math
import re
import time as _time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from nengo.exceptions import BuildError, SimulationError, ValidationError
from nengo.node import Node
from nengo.probe import Probe
from nengo.utils.progress import Progress, ProgressTracker

from ..describe import describe_node, describe_step
from ..engine import Engine
from ..inputs import check_data, split_batch, truncate
from .callbacks import Callback, TerminateOnNaN
from .config import TrainableParameter, trainable_parameters
from .losses import Loss, get_loss
from .optimizers import Optimizer, get_optimizer


def _readable(obj) -> str:
    """``probe_<target>``: the target's label, else its type, as an identifier."""
    target = getattr(obj, "obj", obj)  # ObjView
    label = getattr(target, "label", None)
    if label is None and hasattr(target, "ensemble"):  # Neurons of an ensemble
        inner = target.ensemble.label
        label = f"{inner}_neurons" if inner else None
    text = label or type(target).__name__.lower()
    text = re.sub(r"\W+", "_", str(text)).strip("_") or "target"
    return f"probe_{text}"


def probe_names(probes: list[Probe]) -> dict[Probe, str]:
    """Names for probes in history keys: the label, else ``probe_<target label or
    type>`` (``probe_out``, ``probe_ensemble``), made unique with ``_1``, ``_2``,
    ... in model order."""
    names, used = {}, {}
    for probe in probes:
        base = probe.label or _readable(probe.target)
        count = used.get(base, 0)
        names[probe] = base if count == 0 else f"{base}_{count}"
        used[base] = count + 1
    return names


def _per_probe(spec, probes: list[Probe], what: str, convert: Callable) -> dict:
    """A dict spec ``{probe: value}`` checked against the model's probes; anything
    else applies to every probe (``None`` in the dict or as the spec: none)."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        return {probe: convert(spec) for probe in probes}
    out = {}
    for probe, value in spec.items():
        if probe not in probes:
            raise ValidationError(
                f"{probe!r} is not a probe of this simulator's model", attr=what
            )
        if value is not None:
            out[probe] = convert(value)
    return out


def _metric_list(spec) -> list[Loss]:
    specs = spec if isinstance(spec, (list, tuple)) else [spec]
    return [get_loss(s) for s in specs]


@dataclass
class History:
    """What `fit` returns: per-epoch values, Keras' names and layout.

    Attributes
    ----------
    history : dict
        ``{"loss": [...], "<probe>_loss": [...], "<probe>_<metric>": [...],
        "val_loss": [...], ...}``, one value per epoch.
    epoch : list of int
        The epoch indices (from 0).
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: list[int] = field(default_factory=list)

    def append(self, values: dict[str, float]) -> None:
        """Add one epoch's values."""
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)


@dataclass
class Compiled:
    """The settings of the last `Simulator.compile` call."""

    optimizer: Optimizer | None
    losses: dict[Probe, Loss]
    weights: dict[Probe, float]
    metrics: dict[Probe, list[Loss]]
    loss_for_all: bool  # one loss given for every probe (not a dict)


class Trainer:
    """Training state of one simulator: parameters, optimizer, compiled losses.

    Parameters
    ----------
    engine : Engine
        The simulator's engine: its runtime, clock and batched runs.
    seed : int
        Seeds the shuffling of samples in `fit`.
    """

    def __init__(self, engine: Engine, seed: int):
        self.engine = engine
        self.model = engine.model
        self.runtime = engine.runtime
        self.params: list[TrainableParameter] = trainable_parameters(self.model)
        # Arena offsets of each parameter's elements, in its shape; and all of them
        # in parameter order, so that fit hands the optimizer one flat vector (one
        # update per minibatch, not one per parameter).
        self._offsets = {p.key: self.runtime.offsets(p.signal) for p in self.params}
        self._flat = np.concatenate(
            [np.zeros(0, dtype=np.intp)]
            + [offsets.ravel() for offsets in self._offsets.values()]
        ).astype(np.intp)
        self.compiled: Compiled | None = None
        self._prepared = False
        self._probes = [p.probe for p in engine.program.probes]
        self._names = probe_names(self._probes)
        self._shuffle = np.random.RandomState(seed)

    # -- parameters -----------------------------------------------------------------

    def get(self, key) -> np.ndarray:
        return self.runtime.arena[self._offsets[key]]  # fancy indexing: a copy

    def set(self, key, value: np.ndarray) -> None:
        offsets = self._offsets[key]
        self.runtime.arena[offsets] = np.reshape(value, offsets.shape)
        self.runtime.params_changed = True

    def gradient(self, key) -> np.ndarray:
        """The parameter's gradient from the last backward pass."""
        return self.runtime.grad[self._offsets[key]]

    # -- compile ----------------------------------------------------------------------

    def compile(self, optimizer=None, loss=None, metrics=None, loss_weights=None):
        probes = list(self._names)
        optimizer = None if optimizer is None else get_optimizer(optimizer)
        losses = _per_probe(loss, probes, "loss", get_loss)
        weights = _per_probe(loss_weights, probes, "loss_weights", float)
        metric_specs = _per_probe(metrics, probes, "metrics", _metric_list)
        self.compiled = Compiled(
            optimizer, losses, weights, metric_specs, not isinstance(loss, dict)
        )

    def _require(self, for_fit: bool) -> Compiled:
        what = "fit" if for_fit else "evaluate"
        if self.compiled is None:
            raise SimulationError(
                f"call sim.compile(...) before {what}() (e.g. "
                "sim.compile(optimizer=nengo_native.optimizers.Adam(0.01), "
                "loss={probe: 'mse'}))"
            )
        if for_fit and self.compiled.optimizer is None:
            raise SimulationError(
                "fit() needs an optimizer: sim.compile(optimizer=..., loss=...)"
            )
        if not self.compiled.losses:
            raise SimulationError(f"{what}() needs a loss: sim.compile(loss=...)")
        if for_fit:
            for loss in self.compiled.losses.values():
                get_loss(loss, need_gradient=True)
        return self.compiled

    # -- data -------------------------------------------------------------------------

    def _targets(self, y, batch: int, compiled: Compiled) -> dict[Probe, np.ndarray]:
        """``{probe: targets}`` for the probes with a loss, checked against x."""
        if y is None:
            y = {}
        if not isinstance(y, dict):
            if len(compiled.losses) != 1:
                raise ValidationError(
                    f"a bare array of targets needs exactly one probe with a loss; "
                    f"{len(compiled.losses)} have one: pass a dict {{probe: array}}",
                    attr="y",
                )
            y = {next(iter(compiled.losses)): y}
        targets = {}
        for probe, value in y.items():
            if probe not in self._names:
                raise ValidationError(
                    f"targets given for {probe!r}, which is not a probe of this "
                    "simulator's model",
                    attr="y",
                )
            if probe not in compiled.losses:
                if compiled.loss_for_all:
                    continue
                raise ValidationError(
                    f"targets given for probe '{self._names[probe]}', which has no "
                    "loss; give it one in compile(loss={probe: ...})",
                    attr="y",
                )
            value = np.asarray(value)
            if value.ndim < 2 or len(value) != batch:
                raise ValidationError(
                    f"targets for probe '{self._names[probe]}' have shape "
                    f"{value.shape}; expected {batch} items (batch, n_steps, ...) to "
                    f"match the inputs",
                    attr="y",
                )
            if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
                raise ValidationError(
                    f"targets for probe '{self._names[probe]}' contain NaN or "
                    "infinite values",
                    attr="y",
                )
            targets[probe] = value
        needs_targets = [
            p
            for p, loss in compiled.losses.items()
            if p not in targets and not getattr(loss, "ignores_targets", False)
        ]
        if compiled.loss_for_all:
            if not targets:
                raise ValidationError(
                    "no targets given: pass y={probe: array}", attr="y"
                )
        elif needs_targets:
            raise ValidationError(
                "no targets for probe(s) "
                + ", ".join(f"'{self._names[p]}'" for p in needs_targets)
                + ", which have a loss",
                attr="y",
            )
        return targets

    def _losses(self, compiled: Compiled, targets: dict) -> dict[Probe, Loss]:
        if compiled.loss_for_all:
            return {p: compiled.losses[p] for p in targets}
        return compiled.losses

    def inputs(self, x, n_steps: int | None):
        """Checked input data, its number of samples (``minibatch_size`` when there
        is no data) and n_steps."""
        nodes = self.engine.input_nodes
        if x is None:
            if n_steps is None:
                raise ValidationError("give input data x or n_steps", attr="n_steps")
            return {}, self.engine.minibatch_size, n_steps
        if not isinstance(x, dict):
            x = check_data(x, nodes, len(np.asarray(x)), n_steps, "x")[0]
        for node in x:
            if not isinstance(node, Node):
                raise ValidationError(
                    f"keys of x must be nengo Nodes (got {type(node).__name__})",
                    attr="x",
                )
        batches = {len(np.asarray(v)) for v in x.values()}
        if len(batches) != 1:
            raise ValidationError(
                f"all inputs must have the same batch size (got {sorted(batches)})",
                attr="x",
            )
        (size,) = batches
        data, n_steps = check_data(x, nodes, size, n_steps, "x")
        return data, size, n_steps

    # -- training -------------------------------------------------------------------

    def prepare(self) -> None:
        if self._prepared:
            return
        failing, blocked = self.runtime.prepare_training()
        if failing:
            described = "; ".join(describe_step(step) for step in failing[:5])
            raise BuildError(
                f"cannot train this model: no gradient through {described}"
                + (f" (and {len(failing) - 5} more)" if len(failing) > 5 else "")
            )
        for op in blocked:
            warnings.warn(
                f"{describe_node(self.model, op)} is a Python function without a "
                "gradient: no gradient passes through it (use "
                "nengo_native.BatchNode(..., gradient=...) to pass one)",
                UserWarning,
                stacklevel=4,
            )
        self._prepared = True

    def loss_and_gradients(
        self,
        data: dict,
        targets: dict,
        n_steps: int,
        losses: dict[Probe, Loss],
        weights: dict[Probe, float],
    ) -> tuple[dict[str, float], dict]:
        """Run one minibatch in training mode and backpropagate.

        Returns the loss terms by history key and the predictions per probe; the
        gradients are then in the adjoint arena (see `gradients`). The state is
        left undefined.
        """
        runtime = self.runtime
        samples, _, error = runtime.run(n_steps, data, training=True)
        if error is not None:
            raise error
        grads_out = [None] * len(self._probes)
        values = {}
        total = 0.0
        preds = {}
        for i, probe in enumerate(self._probes):
            y_pred = samples[i].swapaxes(0, 1)
            preds[probe] = y_pred
            if probe not in losses:
                continue
            weight = weights.get(probe, 1.0)
            value, grad = losses[probe].value_and_gradient(targets.get(probe), y_pred)
            values[f"{self._names[probe]}_loss"] = value
            total += weight * value
            grads_out[i] = (weight * np.asarray(grad)).swapaxes(0, 1)
        values["loss"] = total
        runtime.backward(grads_out)
        return values, preds

    def gradients(self) -> dict:
        """Parameter gradients of the last backward pass, by parameter key."""
        return {p.key: self.gradient(p.key) for p in self.params}

    def get_flat(self) -> np.ndarray:
        """All trainable parameters as one flat vector (a copy)."""
        return self.runtime.arena[self._flat].copy()

    def set_flat(self, values: np.ndarray) -> None:
        """Set all trainable parameters from a vector made by `get_flat`."""
        self.runtime.arena[self._flat] = values
        self.runtime.params_changed = True

    def fit(
        self,
        x,
        y,
        epochs: int,
        batch_size,
        n_steps,
        shuffle: bool,
        validation_data,
        verbose: int | None,
        progress_bar,
        callbacks=None,
        validation_split: float = 0.0,
        terminate_on_nan: bool = True,
        sim=None,
    ) -> History:
        compiled = self._require(for_fit=True)
        minibatch_size = self.engine.minibatch_size
        if batch_size is not None and batch_size != minibatch_size:
            raise ValidationError(
                f"batch_size ({batch_size}) must equal the simulator's minibatch_size "
                f"({minibatch_size}); build the Simulator with "
                f"minibatch_size={batch_size}",
                attr="batch_size",
            )
        if (
            isinstance(epochs, bool)
            or not isinstance(epochs, (int, np.integer))
            or (epochs < 1)
        ):
            raise ValidationError(
                f"must be a positive integer (got {epochs!r})", attr="epochs"
            )
        callbacks = _check_callbacks(callbacks)
        if terminate_on_nan and not any(
            isinstance(c, TerminateOnNaN) for c in callbacks
        ):
            callbacks.append(TerminateOnNaN())
        data, size, n_steps = self.inputs(x, n_steps)
        targets = self._targets(y, size, compiled)
        losses = self._losses(compiled, targets)
        if validation_split:
            data, targets, validation_data = _split_off(
                data, targets, size, validation_split, validation_data
            )
            size = len(next(iter({**data, **targets}.values())))
        if data:
            both = truncate({**data, **targets}, minibatch_size)
            data = {k: both[k] for k in data}
            targets = {k: both[k] for k in targets}
            size = len(next(iter(both.values())))
        elif size % minibatch_size:
            raise ValidationError(
                f"the number of samples ({size}) is not a multiple of minibatch_size "
                f"({minibatch_size})",
                attr="x",
            )
        self.prepare()
        engine, runtime = self.engine, self.runtime
        arena, grad, flat = runtime.arena, runtime.grad, self._flat
        params = {"parameters": arena[flat]}
        saved = engine.snapshot()
        history = History()
        n_batches = size // minibatch_size
        if verbose is None:
            verbose = 1 if progress_bar else 0
        bar = verbose == 1 and progress_bar
        self.stop_training = False
        self.nan_seen = False
        for callback in callbacks:
            callback.set_simulator(sim, self)
        try:
            for callback in callbacks:
                callback.on_train_begin({})
            for epoch in range(epochs):
                for callback in callbacks:
                    callback.on_epoch_begin(epoch, {})
                order = self._shuffle.permutation(size) if shuffle else np.arange(size)
                sums: dict[str, float] = {"loss": 0.0}
                start = _time.perf_counter()
                name = f"Epoch {epoch + 1}/{epochs}"
                progress = Progress(name, name, n_batches)
                done = 0
                with (
                    ProgressTracker(bar, progress) if bar else contextlib.nullcontext()
                ) as tracker:
                    for b in range(n_batches):
                        idx = order[b * minibatch_size : (b + 1) * minibatch_size]
                        batch_data = {k: v[idx] for k, v in data.items()}
                        batch_targets = {k: v[idx] for k, v in targets.items()}
                        runtime.restore_state(saved.state, sync=False)
                        values, preds = self.loss_and_gradients(
                            batch_data, batch_targets, n_steps, losses, compiled.weights
                        )
                        if compiled.metrics:
                            values.update(
                                self._metrics(compiled, batch_targets, preds, losses)
                            )
                        finite = math.isfinite(values["loss"])
                        if finite or not terminate_on_nan:
                            compiled.optimizer.apply(params, {"parameters": grad[flat]})
                            arena[flat] = params["parameters"]
                            runtime.params_changed = True
                        for k, v in values.items():
                            sums[k] = sums.get(k, 0.0) + v
                        done += 1
                        if tracker is not None:
                            tracker.total_progress.step()
                        for callback in callbacks:
                            callback.on_batch_end(b, dict(values))
                        if self.stop_training:
                            break
                    engine.restore(saved)
                    epoch_values = {k: v / done for k, v in sums.items()}
                    if validation_data is not None and not self.nan_seen:
                        val = self.evaluate(
                            *_split_validation(validation_data),
                            progress_bar=progress_bar,
                        )
                        epoch_values.update({f"val_{k}": v for k, v in val.items()})
                    summary = " - ".join(
                        f"{k}: {v:.4g}" for k, v in epoch_values.items()
                    )
                    # nengo's bar closes with "<name_after> finished in <time>."
                    progress.name_after = f"{name} ({summary})"
                history.append(epoch_values)
                history.epoch.append(epoch)
                if verbose and not bar:
                    elapsed = _time.perf_counter() - start
                    print(f"{name}: {elapsed:.2f} s - {summary}", flush=True)
                for callback in callbacks:
                    callback.on_epoch_end(epoch, dict(epoch_values))
                if self.stop_training:
                    break
            for callback in callbacks:
                callback.on_train_end({})
        finally:
            engine.restore(saved)
        return history

    def _metrics(self, compiled, targets, preds, losses) -> dict[str, float]:
        out = {}
        for probe, metrics in compiled.metrics.items():
            if probe not in targets:
                continue
            for metric in metrics:
                key = f"{self._names[probe]}_{metric.name}"
                out[key] = metric.value(targets[probe], preds[probe])
        return out

    def evaluate(self, x, y, n_steps=None, progress_bar=None) -> dict[str, float]:
        """Losses and metrics of the model as defined (spiking) on x."""
        compiled = self._require(for_fit=False)
        minibatch_size = self.engine.minibatch_size
        data, size, n_steps = self.inputs(x, n_steps)
        targets = self._targets(y, size, compiled)
        losses = self._losses(compiled, targets)
        if data:
            both = truncate({**data, **targets}, minibatch_size)
            data = {k: both[k] for k in data}
            targets = {k: both[k] for k in targets}
        batches = (
            split_batch(data, minibatch_size)
            if data
            else [{}] * (size // minibatch_size)
        )
        preds = self.engine.predict(
            batches, n_steps, False, progress_bar, labels=("Evaluating", "Evaluation")
        )
        values = {}
        total = 0.0
        for probe, loss in losses.items():
            value = loss.value(targets.get(probe), preds[probe])
            values[f"{self._names[probe]}_loss"] = value
            total += compiled.weights.get(probe, 1.0) * value
        values = {"loss": total, **values}
        values.update(self._metrics(compiled, targets, preds, losses))
        return values


def _split_validation(validation_data):
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValidationError(
            "validation_data must be a tuple (x, y)", attr="validation_data"
        )
    return validation_data


def _check_callbacks(callbacks) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    out = list(callbacks)
    for c in out:
        if not isinstance(c, Callback):
            raise ValidationError(
                f"callbacks must be nengo_native.callbacks.Callback instances (got "
                f"{type(c).__name__}; Keras callbacks do not apply: subclass "
                "nengo_native.callbacks.Callback)",
                attr="callbacks",
            )
    return out


def _split_off(data: dict, targets: dict, size: int, fraction, validation_data):
    """Keras' validation_split: the last ``fraction`` of the samples (before
    shuffling) becomes the validation data."""
    ok = isinstance(fraction, (int, float)) and not isinstance(fraction, bool)
    if not ok or not 0 <= fraction < 1:
        raise ValidationError(
            f"must be a number in [0, 1) (got {fraction!r})", attr="validation_split"
        )
    if not data:
        raise ValidationError(
            "validation_split needs input data x to split", attr="validation_split"
        )
    split = int(size * (1 - fraction))
    if split == 0 or split == size:
        raise ValidationError(
            f"splitting {size} samples at {fraction} leaves "
            f"{'no training' if split == 0 else 'no validation'} samples",
            attr="validation_split",
        )
    train_x = {k: v[:split] for k, v in data.items()}
    train_y = {k: v[:split] for k, v in targets.items()}
    if validation_data is None:
        validation_data = (
            {k: v[split:] for k, v in data.items()},
            {k: v[split:] for k, v in targets.items()},
        )
    return train_x, train_y, validation_data
