"""Gradient-descent optimizers for `Simulator.compile`, on numpy arrays.

An optimizer updates parameters in place from their gradients::

    opt = nengo_native.optimizers.Adam(0.01)
    opt.apply(params, grads)   # both {key: numpy.ndarray}, same shapes

Keys are any hashable names (the training loop uses
``TrainableParameter.key``). Each key has its own state (moments, step count),
created on its first update; `Optimizer.reset` forgets all of it. Parameters are
float32 or float64 arrays; updates are computed in each parameter's own dtype
(float32 stays float32), as Keras does, with the scalar coefficients computed in
float64. The element-wise part of each rule runs in the compiled core, one pass
over the parameter, with numpy's operations in numpy's order.

The update rules are Keras' (``g`` the gradient, ``lr`` the learning rate,
``t`` the 1-based number of updates of that parameter):

* `SGD`: ``p -= lr g`` without momentum; with momentum ``mu``,
  ``v = mu v - lr g`` then ``p += v``, or with Nesterov ``p += mu v - lr g``.
* `Adam`: ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``,
  ``p -= lr sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + eps)``
  (epsilon added to the root of the uncorrected second moment).
* `RMSprop`: ``s = rho s + (1 - rho) g**2``, ``d = lr g / sqrt(s + eps)``;
  ``p -= d`` without momentum, else ``w = mu w + d`` and ``p -= w``.

Specs accepted by `get_optimizer`: an `Optimizer` instance, an `Optimizer`
subclass (made with its defaults), or ``"sgd"``, ``"adam"``, ``"rmsprop"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping

import numpy as np
from nengo.exceptions import ValidationError

from .. import _core

__all__ = ["SGD", "Adam", "Optimizer", "RMSprop", "get_optimizer"]

#: A learning rate: a positive number, or ``schedule(iteration) -> float``
#: called once per `Optimizer.apply` with the 0-based count of earlier calls.
LearningRate = float | Callable[[int], float]


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _zeros(param: np.ndarray) -> np.ndarray:
    """Zero state for ``param``: C-contiguous, as the core's updates need."""
    return np.zeros(param.shape, dtype=param.dtype)


def _check_number(obj, name, value, low, high, low_inclusive=True):
    """Validate ``low <(=) value < high`` for a real number; return a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise ValidationError(f"must be a number, got {value!r}", attr=name, obj=obj)
    value = float(value)
    ok = (value >= low if low_inclusive else value > low) and value < high
    if not ok:
        bracket = "[" if low_inclusive else "("
        raise ValidationError(
            f"must be in {bracket}{low}, {high}), got {value!r}", attr=name, obj=obj
        )
    return value


class Optimizer:
    """Base class: validates inputs, keeps per-key state and the step count.

    Subclasses implement ``_init_state(param)`` (the new state of one
    parameter: a dict of arrays shaped and typed like it) and
    ``_update(param, grad, state, lr, t)`` (update ``param`` and ``state`` in
    place; ``t`` is the 1-based update count of this parameter).

    Parameters
    ----------
    learning_rate : float or callable
        Step size, > 0; or a schedule ``f(iteration) -> float``.
    """

    def __init__(self, learning_rate: LearningRate):
        if callable(learning_rate):
            self.learning_rate = learning_rate
        else:
            self.learning_rate = _check_number(
                self, "learning_rate", learning_rate, 0, math.inf, low_inclusive=False
            )
        self._state: dict = {}
        self._iterations = 0

    @property
    def iterations(self) -> int:
        """Number of `apply` calls since creation or the last `reset`."""
        return self._iterations

    def current_learning_rate(self) -> float:
        """The learning rate the next `apply` uses."""
        if not callable(self.learning_rate):
            return self.learning_rate
        lr = self.learning_rate(self._iterations)
        return _check_number(
            self, "learning_rate", lr, 0, math.inf, low_inclusive=False
        )

    def reset(self) -> None:
        """Forget all state (moments, step counts), as for a fresh optimizer."""
        self._state.clear()
        self._iterations = 0

    def state(self, key: Hashable) -> dict[str, np.ndarray | int]:
        """The state of one parameter (a copy): its arrays and step ``"t"``.

        Raises ``KeyError`` if the key was never updated.
        """
        return {
            k: (v.copy() if isinstance(v, np.ndarray) else v)
            for k, v in self._state[key].items()
        }

    def apply(
        self,
        params: Mapping[Hashable, np.ndarray],
        grads: Mapping[Hashable, np.ndarray],
    ) -> None:
        """Take one optimization step, updating ``params`` in place.

        Parameters
        ----------
        params : mapping of key to numpy.ndarray
            Parameter arrays (floating point, writable). Only the keys in
            ``grads`` change.
        grads : mapping of key to array_like
            Gradient of the loss with respect to each parameter, same shape
            (cast to the parameter's dtype).

        Raises
        ------
        nengo.exceptions.ValidationError
            For a gradient without a parameter, a shape mismatch, or a
            parameter that is not a writable floating-point array. Nothing
            is updated when any check fails.
        """
        checked = []
        for key, grad in grads.items():
            if key not in params:
                raise ValidationError(
                    f"there is a gradient for {key!r} but no such parameter",
                    attr="grads",
                    obj=self,
                )
            p = params[key]
            if not isinstance(p, np.ndarray) or p.dtype not in _FLOATS:
                raise ValidationError(
                    f"parameter {key!r} must be a floating-point numpy array (float32 "
                    f"or float64), got {type(p).__name__}"
                    + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else ""),
                    attr="params",
                    obj=self,
                )
            if not p.flags.writeable:
                raise ValidationError(
                    f"parameter {key!r} is read-only; updates are made in place",
                    attr="params",
                    obj=self,
                )
            g = np.asarray(grad)
            if g.shape != p.shape:
                raise ValidationError(
                    f"gradient of {key!r} has shape {g.shape}, parameter has "
                    f"shape {p.shape}",
                    attr="grads",
                    obj=self,
                )
            state = self._state.get(key)
            if state is not None and (
                state["shape"] != p.shape or state["dtype"] != p.dtype
            ):
                raise ValidationError(
                    f"parameter {key!r} changed from {state['shape']} "
                    f"{state['dtype']} to {p.shape} {p.dtype} since its last "
                    "update; call reset() to start over",
                    attr="params",
                    obj=self,
                )
            checked.append((key, p, np.ascontiguousarray(g, dtype=p.dtype)))

        lr = self.current_learning_rate()
        for key, p, g in checked:
            state = self._state.get(key)
            if state is None:
                state = self._init_state(p)
                state.update(t=0, shape=p.shape, dtype=p.dtype)
                self._state[key] = state
            state["t"] += 1
            # the core updates a contiguous vector in place; a strided view is
            # updated through a contiguous copy
            flat = p if p.flags.c_contiguous else np.ascontiguousarray(p)
            self._update(flat, g, state, lr, state["t"])
            if flat is not p:
                p[...] = flat
        self._iterations += 1

    def _init_state(self, param: np.ndarray) -> dict:
        raise NotImplementedError

    def _update(self, param, grad, state, lr, t) -> None:
        raise NotImplementedError

    def _lr_repr(self):
        lr = self.learning_rate
        return repr(lr) if not callable(lr) else getattr(lr, "__name__", repr(lr))


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Parameters
    ----------
    learning_rate : float or callable
        Step size (Keras' default 0.01).
    momentum : float
        ``mu`` in ``[0, 1)``; 0 disables momentum.
    nesterov : bool
        Use Nesterov momentum (only matters with ``momentum > 0``).

    Notes
    -----
    ``p -= lr g`` without momentum. With momentum the velocity
    ``v = mu v - lr g`` (``v`` starts at 0) gives ``p += v``, or with
    Nesterov ``p += mu v - lr g``.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
    ):
        super().__init__(learning_rate)
        self.momentum = _check_number(self, "momentum", momentum, 0, 1)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ValidationError(
                f"must be True or False, got {nesterov!r}", attr="nesterov", obj=self
            )
        self.nesterov = bool(nesterov)

    def __repr__(self):
        return (
            f"SGD(learning_rate={self._lr_repr()}, momentum={self.momentum}, "
            f"nesterov={self.nesterov})"
        )

    def _init_state(self, param):
        if self.momentum == 0:
            return {}
        return {"velocity": _zeros(param)}

    def _update(self, param, grad, state, lr, t):
        _core.sgd_update(
            param, grad, state.get("velocity"), lr, self.momentum, self.nesterov
        )


class Adam(Optimizer):
    """Adam: steps from bias-corrected running moments of the gradient.

    Parameters
    ----------
    learning_rate : float or callable
        Step size.
    beta_1 : float
        Decay of the first moment, in ``[0, 1)``.
    beta_2 : float
        Decay of the second moment, in ``[0, 1)``.
    epsilon : float
        Added to ``sqrt(v)`` in the denominator, > 0.

    Notes
    -----
    With ``m, v`` starting at 0 and ``t`` the update count of the parameter:
    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g**2``;
    ``p -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + epsilon)``.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ):
        super().__init__(learning_rate)
        self.beta_1 = _check_number(self, "beta_1", beta_1, 0, 1)
        self.beta_2 = _check_number(self, "beta_2", beta_2, 0, 1)
        self.epsilon = _check_number(
            self, "epsilon", epsilon, 0, math.inf, low_inclusive=False
        )

    def __repr__(self):
        return (
            f"Adam(learning_rate={self._lr_repr()}, beta_1={self.beta_1}, "
            f"beta_2={self.beta_2}, epsilon={self.epsilon})"
        )

    def _init_state(self, param):
        return {"m": _zeros(param), "v": _zeros(param)}

    def _update(self, param, grad, state, lr, t):
        # -expm1(t log b) is 1 - b**t without cancellation for b near 1
        c1 = -math.expm1(t * math.log(self.beta_1)) if self.beta_1 > 0 else 1.0
        c2 = -math.expm1(t * math.log(self.beta_2)) if self.beta_2 > 0 else 1.0
        _core.adam_update(
            param,
            grad,
            state["m"],
            state["v"],
            1 - self.beta_1,
            1 - self.beta_2,
            lr * math.sqrt(c2) / c1,
            self.epsilon,
        )


class RMSprop(Optimizer):
    """RMSprop: steps scaled by a running root mean square of the gradient.

    Parameters
    ----------
    learning_rate : float or callable
        Step size.
    rho : float
        Decay of the mean square, in ``[0, 1)``.
    momentum : float
        ``mu`` in ``[0, 1)``; 0 disables momentum.
    epsilon : float
        Added to the mean square under the root, > 0.

    Notes
    -----
    With ``s`` (and ``w``) starting at 0: ``s = rho s + (1 - rho) g**2``;
    ``d = lr g / sqrt(s + epsilon)``; ``p -= d``, or with momentum
    ``w = mu w + d`` and ``p -= w``.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
    ):
        super().__init__(learning_rate)
        self.rho = _check_number(self, "rho", rho, 0, 1)
        self.momentum = _check_number(self, "momentum", momentum, 0, 1)
        self.epsilon = _check_number(
            self, "epsilon", epsilon, 0, math.inf, low_inclusive=False
        )

    def __repr__(self):
        return (
            f"RMSprop(learning_rate={self._lr_repr()}, rho={self.rho}, "
            f"momentum={self.momentum}, epsilon={self.epsilon})"
        )

    def _init_state(self, param):
        state = {"s": _zeros(param)}
        if self.momentum > 0:
            state["w"] = _zeros(param)
        return state

    def _update(self, param, grad, state, lr, t):
        _core.rmsprop_update(
            param,
            grad,
            state["s"],
            state.get("w"),
            lr,
            1 - self.rho,
            self.momentum,
            self.epsilon,
        )


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get_optimizer(spec: Optimizer | type | str) -> Optimizer:
    """Turn an optimizer spec into an `Optimizer`.

    Parameters
    ----------
    spec : Optimizer or type or str
        An instance (returned as is), an `Optimizer` subclass (made with its
        default arguments) or one of ``"sgd"``, ``"adam"``, ``"rmsprop"``
        (case-insensitive; Keras' default learning rates: 0.01, 0.001, 0.001).

    Returns
    -------
    Optimizer

    Raises
    ------
    nengo.exceptions.ValidationError
        For an unknown name or an object that is not an optimizer.
    """
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, type) and issubclass(spec, Optimizer):
        return spec()
    choices = ", ".join(repr(k) for k in _BY_NAME)
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in _BY_NAME:
            return _BY_NAME[key]()
        raise ValidationError(
            f"unknown optimizer {spec!r}; choose one of {choices} or pass a "
            "nengo_native.optimizers.Optimizer (e.g. Adam(learning_rate=0.01))",
            attr="optimizer",
        )
    raise ValidationError(
        f"cannot use {spec!r} as an optimizer; pass one of {choices} or a "
        "nengo_native.optimizers.Optimizer such as SGD, Adam or RMSprop "
        "(TensorFlow/Keras optimizers are not supported)",
        attr="optimizer",
    )
