"""Loss functions for `Simulator.compile`, on numpy arrays, with gradients.

A loss compares the targets ``y_true`` for one probe with the probe's output
``y_pred`` and returns one number. Arrays are shaped like probe data from a
minibatched run, ``(batch, n_steps, *features)``; any number of leading axes
works the same way. Training needs ``dL/dy_pred`` as well, which the loss
gives through `Loss.gradient`; the simulator's backward pass starts from it.

Reduction
---------
Every loss here first computes a per-element or per-sample quantity and then
takes the plain mean over everything that is left (batch, time, and for the
elementwise losses the features too), which is Keras' default "sum over batch
size" reduction. So `Loss.value` is a mean and `Loss.gradient` is the
gradient *of that mean*: it already contains the ``1 / count`` factor, and the
backward pass must not divide again.

Accepted specs (`get_loss`)
---------------------------
* a `Loss` instance, e.g. ``losses.mse`` or ``losses.CategoricalCrossentropy(
  from_logits=True)``;
* a `Loss` subclass, instantiated with no arguments;
* a string: ``"mse"``, ``"mae"``, ``"categorical_crossentropy"``,
  ``"sparse_categorical_crossentropy"`` (and the long names
  ``"mean_squared_error"``, ``"mean_absolute_error"``);
* any Python callable ``fn(y_true, y_pred)`` returning a number (or an array
  whose mean is taken). That is enough for `evaluate` and metrics. To train
  with it, also give its gradient, in either of two ways::

      loss = nengo_native.losses.custom(fn, gradient=grad_fn)
      fn.gradient = grad_fn  # an attribute on the function itself

  where ``grad_fn(y_true, y_pred)`` returns ``d fn(y_true, y_pred) / d y_pred``
  with the shape of ``y_pred``; or subclass `Loss`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from nengo.exceptions import ValidationError

__all__ = [
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CustomLoss",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Regularize",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "custom",
    "get_loss",
    "mae",
    "mse",
]

#: Probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` before their log is
#: taken (Keras' default fuzz factor), so a zero probability gives a large but
#: finite loss.
EPSILON = 1e-7

ArrayLike = np.ndarray | list | float


def _as_float_array(x, what: str, loss: Loss) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise ValidationError(
            f"{what} must be numeric, got dtype {a.dtype}", attr=what, obj=loss
        )
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    if a.ndim == 0 or a.size == 0:
        raise ValidationError(
            f"{what} must be a non-empty array with at least one axis "
            f"(batch, n_steps, features...), got shape {a.shape}",
            attr=what,
            obj=loss,
        )
    return a


def _check_same_shape(y_true: np.ndarray, y_pred: np.ndarray, loss: Loss) -> None:
    if y_true.shape != y_pred.shape:
        raise ValidationError(
            f"y_true has shape {y_true.shape} but y_pred has shape "
            f"{y_pred.shape}; {loss.name} needs them equal",
            attr="y_true",
            obj=loss,
        )


class Loss:
    """Base class of losses: a value and its gradient with respect to y_pred.

    Subclasses implement `value` and, to be usable for training, `gradient`
    (subclasses that cannot give one set ``has_gradient = False``).
    ``loss(y_true, y_pred)`` is the same as ``loss.value(y_true, y_pred)``.
    """

    #: Short name, used in messages and history keys.
    name: str = "loss"
    #: Whether `gradient` is available (False: evaluation and metrics only).
    has_gradient: bool = True

    def value(self, y_true: ArrayLike, y_pred: ArrayLike) -> float:
        """The loss, averaged as described in the module docstring.

        Parameters
        ----------
        y_true : array_like
            Targets, shaped like ``y_pred`` unless the loss says otherwise.
        y_pred : array_like
            Probe output, ``(batch, n_steps, *features)``.

        Returns
        -------
        float
        """
        raise NotImplementedError

    def gradient(self, y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
        """``d value(y_true, y_pred) / d y_pred``.

        Returns
        -------
        numpy.ndarray
            Same shape as ``y_pred`` and, when ``y_pred`` is floating point,
            the same dtype; C-contiguous.
        """
        raise NotImplementedError(f"{type(self).__name__} has no gradient")

    def value_and_gradient(
        self, y_true: ArrayLike, y_pred: ArrayLike
    ) -> tuple[float, np.ndarray]:
        """`value` and `gradient` together (one call per probe per minibatch)."""
        return self.value(y_true, y_pred), self.gradient(y_true, y_pred)

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike) -> float:
        return self.value(y_true, y_pred)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    @staticmethod
    def _out(grad: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(grad, dtype=y_pred.dtype)


class MeanSquaredError(Loss):
    """Mean of ``(y_pred - y_true) ** 2`` over all elements.

    Gradient: ``2 (y_pred - y_true) / y_pred.size``.
    """

    name = "mse"

    def value(self, y_true, y_pred):
        y_true = _as_float_array(y_true, "y_true", self)
        y_pred = _as_float_array(y_pred, "y_pred", self)
        _check_same_shape(y_true, y_pred, self)
        d = y_pred.astype(np.float64) - y_true
        return float(np.mean(d * d))

    def gradient(self, y_true, y_pred):
        return self.value_and_gradient(y_true, y_pred)[1]

    def value_and_gradient(self, y_true, y_pred):
        y_true = _as_float_array(y_true, "y_true", self)
        y_pred = _as_float_array(y_pred, "y_pred", self)
        _check_same_shape(y_true, y_pred, self)
        d = y_pred.astype(np.float64) - y_true
        # np.mean's own sum and division, without its Python-level overhead (a
        # noticeable part of a small network's training step)
        value = float(np.add.reduce(d * d, axis=None) / d.size)
        return value, self._out(d * (2.0 / d.size), y_pred)


class MeanAbsoluteError(Loss):
    """Mean of ``|y_pred - y_true|`` over all elements.

    Gradient: ``sign(y_pred - y_true) / y_pred.size`` (0 where they are equal).
    """

    name = "mae"

    def value(self, y_true, y_pred):
        y_true = _as_float_array(y_true, "y_true", self)
        y_pred = _as_float_array(y_pred, "y_pred", self)
        _check_same_shape(y_true, y_pred, self)
        return float(np.mean(np.abs(y_pred.astype(np.float64) - y_true)))

    def gradient(self, y_true, y_pred):
        y_true = _as_float_array(y_true, "y_true", self)
        y_pred = _as_float_array(y_pred, "y_pred", self)
        _check_same_shape(y_true, y_pred, self)
        d = y_pred.astype(np.float64) - y_true
        return self._out(np.sign(d) / d.size, y_pred)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - np.max(z, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


class _CrossentropyBase(Loss):
    def __init__(self, from_logits: bool = False):
        if not isinstance(from_logits, (bool, np.bool_)):
            raise ValidationError(
                f"must be True or False, got {from_logits!r}",
                attr="from_logits",
                obj=self,
            )
        self.from_logits = bool(from_logits)

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"

    def _check_pred(self, y_pred):
        y_pred = _as_float_array(y_pred, "y_pred", self)
        if y_pred.shape[-1] < 2:
            raise ValidationError(
                f"y_pred must have at least 2 classes on its last axis, got shape "
                f"{y_pred.shape}",
                attr="y_pred",
                obj=self,
            )
        if not self.from_logits and np.any(y_pred < 0):
            raise ValidationError(
                "y_pred must be probabilities (>= 0) with from_logits=False; "
                "for unnormalized outputs use from_logits=True",
                attr="y_pred",
                obj=self,
            )
        return y_pred

    def _per_sample(self, t: np.ndarray, y_pred: np.ndarray):
        """Per-sample losses and d(sum of them)/dy_pred for one-hot-like ``t``.

        ``t`` has y_pred's shape (float64); samples are all leading axes.
        """
        y = y_pred.astype(np.float64)
        if self.from_logits:
            logp = _log_softmax(y)
            losses = -np.sum(t * logp, axis=-1)
            grad = np.exp(logp) * np.sum(t, axis=-1, keepdims=True) - t
            return losses, grad
        return self._prob_per_sample(t, y)

    def _prob_per_sample(self, t, y):
        raise NotImplementedError

    def targets(self, y_true, y_pred):
        """``y_true`` as checked class probabilities, shaped like ``y_pred``."""
        raise NotImplementedError

    def value(self, y_true, y_pred):
        y_pred = self._check_pred(y_pred)
        losses, _ = self._per_sample(self.targets(y_true, y_pred), y_pred)
        return float(np.mean(losses))

    def gradient(self, y_true, y_pred):
        return self.value_and_gradient(y_true, y_pred)[1]

    def value_and_gradient(self, y_true, y_pred):
        y_pred = self._check_pred(y_pred)
        losses, grad = self._per_sample(self.targets(y_true, y_pred), y_pred)
        return float(np.mean(losses)), self._out(grad / losses.size, y_pred)


class CategoricalCrossentropy(_CrossentropyBase):
    """Cross-entropy between target distributions and predicted ones.

    Per sample (one sample = one batch item at one time step):
    ``-sum_k y_true[k] * log(p[k])``, then the mean over samples.

    Parameters
    ----------
    from_logits : bool
        If True, ``y_pred`` are logits and ``p = softmax(y_pred)`` (computed
        stably). If False, ``y_pred`` are non-negative scores normalized to
        ``p = y_pred / sum(y_pred)`` along the last axis and clipped to
        ``[EPSILON, 1 - EPSILON]`` (as Keras does); the gradient is zero
        through clipped entries.

    Notes
    -----
    ``y_true`` has the shape of ``y_pred`` (usually one-hot rows).
    """

    name = "categorical_crossentropy"

    def targets(self, y_true, y_pred):
        y_true = _as_float_array(y_true, "y_true", self)
        _check_same_shape(y_true, y_pred, self)
        return y_true.astype(np.float64)

    def _prob_per_sample(self, t, y):
        s = np.sum(y, axis=-1, keepdims=True)
        if np.any(s <= 0):
            raise ValidationError(
                "every y_pred row must have a positive sum with from_logits=False",
                attr="y_pred",
                obj=self,
            )
        p = y / s
        inside = (p > EPSILON) & (p < 1 - EPSILON)
        pc = np.clip(p, EPSILON, 1 - EPSILON)
        losses = -np.sum(t * np.log(pc), axis=-1)
        dp = np.where(inside, -t / pc, 0.0)
        # through the normalization p = y / s
        grad = (dp - np.sum(dp * p, axis=-1, keepdims=True)) / s
        return losses, grad


class SparseCategoricalCrossentropy(_CrossentropyBase):
    """Cross-entropy with integer class ids as targets.

    Per sample: ``-log(p[y_true])``, then the mean over samples.

    Parameters
    ----------
    from_logits : bool
        If True, ``p = softmax(y_pred)``. If False, ``y_pred`` are
        probabilities used as they are (not renormalized, as in Keras' sparse
        version), clipped to ``[EPSILON, 1 - EPSILON]``.

    Notes
    -----
    ``y_true`` holds class ids in ``[0, n_classes)`` with shape
    ``y_pred.shape[:-1] + (1,)`` (the usual ``(batch, n_steps, 1)`` target
    arrays) or ``y_pred.shape[:-1]``. Float arrays are accepted if they hold
    whole numbers.
    """

    name = "sparse_categorical_crossentropy"

    def targets(self, y_true, y_pred):
        y_true = _as_float_array(y_true, "y_true", self)
        lead = y_pred.shape[:-1]
        if y_true.shape == lead + (1,):
            y_true = y_true[..., 0]
        elif y_true.shape != lead:
            raise ValidationError(
                f"y_true has shape {y_true.shape}; with y_pred of shape "
                f"{y_pred.shape}, {self.name} needs class ids of shape "
                f"{lead + (1,)} or {lead}",
                attr="y_true",
                obj=self,
            )
        ids = np.rint(y_true)
        n = y_pred.shape[-1]
        if np.any(ids != y_true) or np.any(ids < 0) or np.any(ids >= n):
            raise ValidationError(
                f"y_true must hold whole class ids in [0, {n}), got values "
                f"from {y_true.min()} to {y_true.max()}",
                attr="y_true",
                obj=self,
            )
        ids = ids.astype(np.intp)
        t = np.zeros(y_pred.shape, dtype=np.float64)
        np.put_along_axis(t, ids[..., None], 1.0, axis=-1)
        return t

    def _prob_per_sample(self, t, y):
        inside = (y > EPSILON) & (y < 1 - EPSILON)
        pc = np.clip(y, EPSILON, 1 - EPSILON)
        losses = -np.sum(t * np.log(pc), axis=-1)
        grad = np.where(inside, -t / pc, 0.0)
        return losses, grad


class CategoricalAccuracy(Loss):
    """Metric: the fraction of samples whose largest output is the target class.

    Targets are one-hot, or class ids (shape ``y_pred.shape[:-1] + (1,)`` or
    ``y_pred.shape[:-1]``), told apart by their shape as Keras' ``"accuracy"``
    does. Evaluation only; it has no gradient.
    """

    name = "accuracy"
    has_gradient = False

    def value(self, y_true, y_pred):
        y_pred = _as_float_array(y_pred, "y_pred", self)
        y_true = np.asarray(y_true)
        lead = y_pred.shape[:-1]
        sparse = y_true.shape in (lead, lead + (1,)) and y_true.shape != y_pred.shape
        parser = SparseCategoricalCrossentropy if sparse else CategoricalCrossentropy
        t = parser().targets(y_true, y_pred)
        return float(np.mean(np.argmax(y_pred, axis=-1) == np.argmax(t, axis=-1)))


class SparseCategoricalAccuracy(CategoricalAccuracy):
    """Metric: `CategoricalAccuracy` for class-id targets (named as in Keras)."""

    name = "sparse_categorical_accuracy"


class Regularize(Loss):
    """Penalty on a probed signal itself, e.g. firing rates or weights.

    Per sample (one batch item at one time step) the norm of
    ``y_pred - target`` is taken over the feature axes (or one of them), and
    the mean over everything else is scaled by ``weight``. ``y_true`` is
    ignored (pass anything, or ``None``), so a probe used only for
    regularization needs no real targets.

    Parameters
    ----------
    order : int or float or ``numpy.inf``
        Order ``p >= 1`` of the vector norm ``(sum |v| ** p) ** (1 / p)``
        (``1``: L1, ``2``: L2, ``numpy.inf``: largest magnitude).
    axis : int or None
        Feature axis of the norm, counted within one time step's data (so
        ``0`` is the first axis after ``(batch, n_steps)``). None: all the
        feature axes, flattened.
    target : float or array_like
        Value the signal is pulled towards (``0``: plain norm penalty),
        broadcast against one step's features, e.g. a target firing rate.
    weight : float
        Factor on the result.

    Notes
    -----
    ``y_pred`` must be at least ``(batch, n_steps, features)``. The gradient
    of the norm is taken as 0 where ``y_pred == target`` over the whole norm
    (where it is not differentiable).
    """

    name = "regularize"
    #: Training and evaluation need no targets for a probe with this loss.
    ignores_targets = True

    def __init__(
        self,
        order: float = 2,
        axis: int | None = None,
        target: ArrayLike = 0.0,
        weight: float = 1.0,
    ):
        if isinstance(order, bool) or not isinstance(order, (int, float)):
            raise ValidationError(
                f"must be a number >= 1 or numpy.inf, got {order!r}",
                attr="order",
                obj=self,
            )
        if not order >= 1:
            raise ValidationError(
                f"must be >= 1 (or numpy.inf), got {order!r}", attr="order", obj=self
            )
        if axis is not None and (isinstance(axis, bool) or not isinstance(axis, int)):
            raise ValidationError(
                f"must be None or an int, got {axis!r}", attr="axis", obj=self
            )
        self.order = order
        self.axis = axis
        self.target = np.asarray(target, dtype=np.float64)
        self.weight = float(weight)

    def __repr__(self):
        return (
            f"Regularize(order={self.order}, axis={self.axis}, "
            f"target={self.target.tolist()}, weight={self.weight})"
        )

    def _diff(self, y_pred):
        y_pred = _as_float_array(y_pred, "y_pred", self)
        if y_pred.ndim < 3:
            raise ValidationError(
                f"y_pred must be (batch, n_steps, features...), got shape "
                f"{y_pred.shape}",
                attr="y_pred",
                obj=self,
            )
        try:
            d = y_pred.astype(np.float64) - self.target
        except ValueError:
            d = None
        if d is None or d.shape != y_pred.shape:
            raise ValidationError(
                f"target of shape {self.target.shape} does not broadcast to "
                f"y_pred's shape {y_pred.shape}",
                attr="target",
                obj=self,
            )
        if self.axis is None:
            return y_pred, d.reshape(d.shape[:2] + (-1,)), 2
        if not -(y_pred.ndim - 2) <= self.axis < y_pred.ndim - 2:
            raise ValidationError(
                f"axis {self.axis} is out of range for {y_pred.ndim - 2} feature "
                f"axes (y_pred shape {y_pred.shape})",
                attr="axis",
                obj=self,
            )
        return y_pred, d, self.axis % (y_pred.ndim - 2) + 2

    def _norm(self, d, axis):
        a = np.abs(d)
        if self.order == np.inf:
            return np.max(a, axis=axis)
        if self.order == 1:
            return np.sum(a, axis=axis)
        if self.order == 2:
            return np.sqrt(np.sum(a * a, axis=axis))
        # scale by the largest entry so the power cannot overflow/underflow
        m = np.max(a, axis=axis, keepdims=True)
        safe = np.where(m > 0, m, 1.0)
        s = np.sum((a / safe) ** self.order, axis=axis, keepdims=True)
        return np.squeeze(safe * s ** (1.0 / self.order), axis=axis)

    def value(self, y_true, y_pred):
        _, d, axis = self._diff(y_pred)
        return float(self.weight * np.mean(self._norm(d, axis)))

    def gradient(self, y_true, y_pred):
        y_pred, d, axis = self._diff(y_pred)
        norm = np.expand_dims(self._norm(d, axis), axis)
        count = norm.size
        if self.order == 1:
            g = np.sign(d)
        elif self.order == np.inf:
            a = np.abs(d)
            first = np.argmax(a, axis=axis)  # ties: the first maximum
            g = np.zeros_like(d)
            np.put_along_axis(g, np.expand_dims(first, axis), 1.0, axis=axis)
            g *= np.sign(d)
        else:
            safe = np.where(norm > 0, norm, 1.0)
            g = np.sign(d) * (np.abs(d) / safe) ** (self.order - 1)
            g = np.where(norm > 0, g, 0.0)
        g *= self.weight / count
        return self._out(g.reshape(y_pred.shape), y_pred)


class CustomLoss(Loss):
    """A loss from a user's function, with an optional gradient function.

    Made by `custom` or by `get_loss` from a plain callable.

    Parameters
    ----------
    fn : callable
        ``fn(y_true, y_pred)`` on numpy arrays, returning a number or an array
        (whose mean is then the value, Keras' mean reduction).
    gradient : callable, optional
        ``gradient(y_true, y_pred)`` returning the gradient of the *value*
        (after any mean taken of ``fn``'s result) with respect to ``y_pred``,
        with ``y_pred``'s shape. Without it the loss serves evaluation and
        metrics but not training.
    name : str, optional
        Defaults to the function's ``__name__``.
    """

    def __init__(
        self,
        fn: Callable[[np.ndarray, np.ndarray], ArrayLike],
        gradient: Callable[[np.ndarray, np.ndarray], ArrayLike] | None = None,
        name: str | None = None,
    ):
        if not callable(fn):
            raise ValidationError(f"must be callable, got {fn!r}", attr="fn", obj=self)
        if gradient is not None and not callable(gradient):
            raise ValidationError(
                f"must be callable or None, got {gradient!r}",
                attr="gradient",
                obj=self,
            )
        self.fn = fn
        self.gradient_fn = gradient
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    @property
    def has_gradient(self) -> bool:
        return self.gradient_fn is not None

    def __repr__(self):
        return f"CustomLoss({self.name!r}, has_gradient={self.has_gradient})"

    def value(self, y_true, y_pred):
        out = np.asarray(self.fn(y_true, y_pred))
        if out.dtype.kind not in "fiub" or out.size == 0:
            raise ValidationError(
                f"custom loss {self.name!r} must return a number (or a numeric "
                f"array to average), got {out!r}",
                attr="fn",
                obj=self,
            )
        return float(np.mean(out, dtype=np.float64))

    def gradient(self, y_true, y_pred):
        if self.gradient_fn is None:
            raise ValidationError(_missing_gradient_message(self.name), attr="gradient")
        y_pred_a = np.asarray(y_pred)
        g = np.asarray(self.gradient_fn(y_true, y_pred))
        if g.shape != y_pred_a.shape:
            raise ValidationError(
                f"the gradient of custom loss {self.name!r} has shape {g.shape}; "
                f"it must have y_pred's shape {y_pred_a.shape}",
                attr="gradient",
                obj=self,
            )
        dtype = y_pred_a.dtype if y_pred_a.dtype.kind == "f" else np.float64
        return np.ascontiguousarray(g, dtype=dtype)


def custom(
    fn: Callable[[np.ndarray, np.ndarray], ArrayLike],
    gradient: Callable[[np.ndarray, np.ndarray], ArrayLike] | None = None,
    name: str | None = None,
) -> CustomLoss:
    """Wrap a user's loss function (and its gradient, for training).

    Parameters
    ----------
    fn : callable
        ``fn(y_true, y_pred) -> float`` (an array result is averaged).
    gradient : callable, optional
        ``gradient(y_true, y_pred) -> dL/dy_pred``, shaped like ``y_pred``.
    name : str, optional
        Name used in messages; defaults to ``fn.__name__``.

    Returns
    -------
    CustomLoss

    Examples
    --------
    >>> import numpy as np
    >>> def sse(y_true, y_pred):
    ...     return np.sum((y_pred - y_true) ** 2)
    >>> loss = custom(sse, gradient=lambda t, p: 2 * (p - t))
    """
    return CustomLoss(fn, gradient=gradient, name=name)


def _missing_gradient_message(name: str) -> str:
    return (
        f"the custom loss {name!r} has no gradient, so it can be used for "
        "evaluate() and metrics but not for training. Give its gradient "
        "d loss / d y_pred (same shape as y_pred) with "
        "nengo_native.losses.custom(fn, gradient=grad_fn), or set "
        "fn.gradient = grad_fn, or subclass nengo_native.losses.Loss and "
        "implement value() and gradient()"
    )


#: Ready-made instances, usable wherever a loss is expected.
mse = MeanSquaredError()
mae = MeanAbsoluteError()

_BY_NAME = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "accuracy": CategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
}


def get_loss(spec, need_gradient: bool = False) -> Loss:
    """Turn a loss spec into a `Loss` object.

    Parameters
    ----------
    spec : Loss or type or str or callable
        See the module docstring for what is accepted.
    need_gradient : bool
        True when the loss will be trained on (``fit``): a loss without a
        gradient then raises, explaining how to give one.

    Returns
    -------
    Loss

    Raises
    ------
    nengo.exceptions.ValidationError
        For an unknown string or an unusable object, or a missing gradient.
    """
    if isinstance(spec, Loss):
        loss = spec
    elif isinstance(spec, type) and issubclass(spec, Loss):
        loss = spec()
    elif isinstance(spec, str):
        key = spec.strip().lower()
        if key not in _BY_NAME:
            choices = ", ".join(repr(k) for k in _BY_NAME)
            raise ValidationError(
                f"unknown loss {spec!r}; choose one of {choices}, a "
                "nengo_native.losses.Loss, or a callable (y_true, y_pred)",
                attr="loss",
            )
        loss = _BY_NAME[key]()
    elif callable(spec):
        grad = getattr(spec, "gradient", None)
        loss = CustomLoss(spec, gradient=grad if callable(grad) else None)
    else:
        raise ValidationError(
            f"cannot use {spec!r} as a loss; give a string ("
            f"{', '.join(repr(k) for k in _BY_NAME)}), a "
            "nengo_native.losses.Loss, or a callable (y_true, y_pred) -> float",
            attr="loss",
        )
    if need_gradient and not loss.has_gradient:
        raise ValidationError(_missing_gradient_message(loss.name), attr="loss")
    return loss
