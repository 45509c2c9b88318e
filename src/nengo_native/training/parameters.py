"""Trained parameters out of the simulator: live views in ``sim.data``, files, nengo
arguments, frozen networks."""

from __future__ import annotations

import os
import zipfile

import nengo
import numpy as np
from nengo.exceptions import ValidationError
from nengo.solvers import NoSolver


class ZeroFunction:
    """A connection function that outputs zeros of a given size.

    With `nengo.solvers.NoSolver` the decoders are given, so the function only
    sets the connection's output size; a class rather than a lambda keeps frozen
    networks picklable.
    """

    def __init__(self, size_out: int):
        self.size_out = size_out

    def __call__(self, x):
        return np.zeros(self.size_out)


def _fingerprint(params) -> np.ndarray:
    return np.array(
        [
            f"{type(p.obj).__name__}|{getattr(p.obj, 'label', None)}|{p.name}|"
            f"{p.signal.shape}"
            for p in params
        ]
    )


def save_params(trainer, path: str | os.PathLike) -> str:
    """Write every trainable parameter's current value to ``path`` (``.npz``)."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    arrays = {f"param_{i}": trainer.get(p.key) for i, p in enumerate(trainer.params)}
    np.savez(path, fingerprint=_fingerprint(trainer.params), **arrays)
    return path


def load_params(trainer, path: str | os.PathLike) -> None:
    """Set the trainable parameters from a file written by `save_params`."""
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            saved = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValidationError(
            f"cannot read parameters from {path!r}: {e}", attr="path"
        ) from e
    expected = _fingerprint(trainer.params)
    found = saved.get("fingerprint")
    if found is None or len(saved) != len(expected) + 1:
        raise ValidationError(
            f"{path!r} is not a parameter file of this model (expected "
            f"{len(expected)} parameters)",
            attr="path",
        )
    if found.shape != expected.shape or not np.all(found == expected):
        diff = next(
            (f"{a} != {b}" for a, b in zip(found, expected, strict=False) if a != b),
            f"{len(found)} parameters saved, {len(expected)} expected",
        )
        raise ValidationError(
            f"{path!r} was saved from a different model or trainable configuration "
            f"({diff})",
            attr="path",
        )
    values = []
    for i, p in enumerate(trainer.params):
        value = saved.get(f"param_{i}")
        if value is None or value.shape != trainer.get(p.key).shape:
            raise ValidationError(f"{path!r} is corrupt: bad param_{i}", attr="path")
        if not np.all(np.isfinite(value)):
            raise ValidationError(
                f"{path!r} holds NaN or infinite values for {p}", attr="path"
            )
        values.append(value)
    for p, value in zip(trainer.params, values, strict=True):
        trainer.set(p.key, value)


def live_params(engine, obj, built):
    """``sim.data[obj]``: the built parameters ``built`` of ``obj`` with their
    current (trained) values, while the simulator is open."""
    if engine.runtime is None:
        return built
    sigs = engine.model.sig.get(obj, {})
    if isinstance(obj, nengo.Ensemble) and hasattr(built, "scaled_encoders"):
        if isinstance(obj.neuron_type, nengo.Direct):
            return built
        scaled = engine.signal_value(sigs["encoders"])
        bias = engine.signal_value(engine.model.sig[obj.neurons]["bias"])
        with np.errstate(divide="ignore", invalid="ignore"):
            encoders = scaled * (obj.radius / np.asarray(built.gain))[:, None]
        return built._replace(scaled_encoders=scaled, encoders=encoders, bias=bias)
    if isinstance(obj, nengo.Connection) and hasattr(built, "weights"):
        sig = sigs.get("weights")
        if sig is not None and sig.base not in engine.program.layout.sparse:
            return built._replace(weights=engine.signal_value(sig))
    return built


def _value(engine, obj, name):
    sig = engine.model.sig[obj].get(name)
    return None if sig is None else engine.signal_value(sig)


def nengo_params(engine, obj) -> dict:
    """Arguments that make a nengo object reproduce its current simulated values."""
    if isinstance(obj, nengo.Ensemble):
        if isinstance(obj.neuron_type, nengo.Direct):
            return {}
        encoders = _value(engine, obj, "encoders")
        bias = _value(engine, obj.neurons, "bias")
        # nengo builds scaled encoders = encoders * gain / radius. Keeping the built
        # gain keeps the neurons' tuning (max rates, intercepts) meaningful; training
        # only changed the scaled encoders and biases.
        gain = np.asarray(engine.model.params[obj].gain, dtype=np.float64)
        if not (np.all(np.isfinite(gain)) and np.all(gain != 0)):
            gain = np.ones(obj.n_neurons)
        return {
            "encoders": encoders * (obj.radius / gain)[:, None],
            "normalize_encoders": False,
            "gain": gain,
            "bias": bias,
            "max_rates": nengo.Ensemble.max_rates.default,
            "intercepts": nengo.Ensemble.intercepts.default,
        }
    if isinstance(obj, nengo.Connection):
        weights = _value(engine, obj, "weights")
        if weights is None:
            return {}
        if isinstance(obj.pre_obj, nengo.Ensemble):
            if obj.solver.weights:
                raise ValidationError(
                    f"{obj}: a connection solved for full weights (solver "
                    "weights=True) cannot be written back as decoders",
                    attr="objs",
                )
            return {
                "solver": NoSolver(weights.T, weights=False),
                "function": ZeroFunction(weights.shape[0]),
                "transform": None,
            }
        transform = obj.transform
        if isinstance(transform, nengo.Sparse):
            return {"transform": nengo.Sparse(transform.shape, init=weights)}
        if isinstance(transform, (nengo.Convolution, nengo.ConvolutionTranspose)):
            return {"transform": type(transform)(**_conv_args(transform), init=weights)}
        if weights.ndim < 2:  # scalar or elementwise transform
            return {"transform": weights if weights.ndim else float(weights)}
        return {"transform": nengo.Dense(weights.shape, init=weights)}
    raise ValidationError(
        f"{obj!r} has no parameters to get; give Ensembles or Connections",
        attr="objs",
    )


def get_nengo_params(engine, objs, as_dict: bool):
    """`nengo_params` of one object, or of a list (a dict by ``str(obj)`` with
    ``as_dict``)."""
    single = not isinstance(objs, (list, tuple))
    objects = [objs] if single else list(objs)
    params = [nengo_params(engine, obj) for obj in objects]
    if as_dict:
        return {str(obj): p for obj, p in zip(objects, params, strict=True)}
    return params[0] if single else params


def _conv_args(transform) -> dict:
    args = {
        n: getattr(transform, n)
        for n in ("n_filters", "kernel_size", "strides", "padding", "channels_last")
    }
    args["input_shape"] = transform.input_shape.shape
    if isinstance(transform, nengo.ConvolutionTranspose):
        args["output_shape"] = transform.output_shape.shape
    else:
        args["groups"] = transform.groups
    return args


def frozen_objects(objs) -> list:
    """Ensembles and connections of networks (or the objects themselves)."""
    out = []
    for obj in objs if isinstance(objs, (list, tuple)) else [objs]:
        if isinstance(obj, nengo.Network):
            out.extend(obj.all_ensembles)
            out.extend(c for c in obj.all_connections if c.learning_rule_type is None)
        else:
            out.append(obj)
    return out


def freeze(engine, objs) -> None:
    """Write the current parameter values into nengo objects."""
    objects = frozen_objects(objs)
    updates = []
    for obj in objects:
        if obj not in engine.model.sig:
            raise ValidationError(
                f"{obj} is not in this simulator's model", attr="objs"
            )
        updates.append((obj, nengo_params(engine, obj)))
    for obj, params in updates:
        for name, value in params.items():
            setattr(obj, name, value)
