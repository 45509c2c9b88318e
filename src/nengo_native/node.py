"""`BatchNode`: a node whose Python function sees the whole minibatch at once."""

from __future__ import annotations

from collections.abc import Callable

import nengo
import numpy as np
from nengo.exceptions import SimulationError, ValidationError
from nengo.utils.numpy import is_array_like


def _shape(shape, name: str) -> tuple[int, ...]:
    if shape is None:
        return ()
    if not isinstance(shape, (int, np.integer, tuple, list)):
        raise ValidationError(
            f"must be an int or a tuple of ints (got {shape!r})", attr=name
        )
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise ValidationError(f"must be positive integers (got {shape})", attr=name)
    return tuple(int(d) for d in shape)


class BatchFunction:
    """Adapts a batched function to nengo's one-item node interface.

    Under `nengo.Simulator` (or any simulator calling it per item) the input is
    given a leading batch axis of 1; `nengo_native.Simulator` calls `batched`
    instead, once per step, with every item of the minibatch.
    """

    def __init__(self, func, shape_in, shape_out, pass_time, label, gradient=None):
        self.func = func
        self.gradient = gradient
        self.shape_in = shape_in
        self.shape_out = shape_out
        self.pass_time = pass_time
        self.label = label

    def call(self, t, x):
        """The user's function on batched ``x`` with the arguments it takes."""
        args = (t,) if self.pass_time else ()
        if self.shape_in:
            args += (x,)
        return self.func(*args)

    def __call__(self, t, x=None):
        x = None if x is None else np.reshape(x, (1,) + self.shape_in)
        y = np.asarray(self.call(t, x))
        return np.reshape(y, (-1,)) if y.ndim > len(self.shape_out) else y

    def batched(self, t: float, x: np.ndarray | None, out: np.ndarray) -> None:
        """Compute every item's output into ``out`` (minibatch, size_out)."""
        if x is not None:
            x = x.reshape((x.shape[0],) + self.shape_in)
        y = self.call(t, x)
        try:
            y = np.asarray(y, dtype=out.dtype)
        except (TypeError, ValueError) as e:
            raise SimulationError(
                f"{self.label}: function returned {type(y).__name__}, not numbers"
            ) from e
        expected = (len(out),) + self.shape_out
        if x is None and y.shape == self.shape_out:
            y = np.broadcast_to(y, expected)  # no input: one output for every item
        if y.shape != expected:
            raise SimulationError(
                f"{self.label}: function returned shape {y.shape}; expected "
                f"{expected} (minibatch, *shape_out)"
            )
        if not np.all(np.isfinite(y)):
            raise SimulationError(f"{self.label}: function returned non-finite values")
        out[...] = y.reshape(out.shape)


class BatchNode(nengo.Node):
    """A node computed by a Python function that handles the whole minibatch.

    The function is called once per time step with the input of every minibatch
    item, ``x`` of shape ``(minibatch, *shape_in)`` (a read-only view of the
    simulator's memory), and returns the outputs, ``(minibatch, *shape_out)``.
    Under `nengo.Simulator` it runs as an ordinary node with a minibatch of 1, so a
    model that uses it stays portable.

    Parameters
    ----------
    func : callable
        ``func(t, x)``, or ``func(x)`` when ``pass_time`` is False, or ``func(t)``
        when the node has no input.
    shape_in : int or tuple of int, optional
        Shape of one item's input; None for a node without input.
    shape_out : int or tuple of int, optional
        Shape of one item's output; inferred by calling ``func`` once if omitted.
    pass_time : bool, optional
        Whether ``func`` receives the time as its first argument.
    gradient : callable, optional
        ``gradient(t, x, dy) -> dx``: the vector-Jacobian product of ``func`` with
        respect to ``x``, used to train through the node.
    label : str, optional
        A name for the node.
    add_to_container : bool, optional
        As for every nengo object: whether to add the node to the current network
        (handled by nengo before ``__init__``).
    """

    def __init__(
        self,
        func: Callable,
        shape_in=None,
        shape_out=None,
        pass_time: bool = True,
        gradient: Callable | None = None,
        label: str | None = None,
    ):
        if not callable(func):
            raise ValidationError("must be callable", attr="func")
        if gradient is not None and not callable(gradient):
            raise ValidationError("must be callable or None", attr="gradient")
        shape_in = _shape(shape_in, "shape_in")
        if not shape_in and not pass_time:
            raise ValidationError(
                "a node with no input must receive the time", attr="pass_time"
            )
        name = label or getattr(func, "__name__", "BatchNode")
        if shape_out is None:
            probe = BatchFunction(func, shape_in, (), pass_time, name)
            x = np.zeros((1,) + shape_in) if shape_in else None
            y = np.asarray(probe.call(0.0, x))
            if not is_array_like(y) or y.ndim < 1:
                raise ValidationError(
                    "could not infer the output shape: the function must return "
                    "an array of shape (minibatch, *shape_out)",
                    attr="shape_out",
                )
            shape_out = y.shape[1:] if shape_in else y.shape[1:] or y.shape
        shape_out = _shape(shape_out, "shape_out")
        self.gradient = gradient
        super().__init__(
            output=BatchFunction(func, shape_in, shape_out, pass_time, name, gradient),
            size_in=int(np.prod(shape_in)) if shape_in else 0,
            size_out=int(np.prod(shape_out)),
            label=label,
        )

    @property
    def shape_in(self) -> tuple[int, ...]:
        return self.output.shape_in

    @property
    def shape_out(self) -> tuple[int, ...]:
        return self.output.shape_out
