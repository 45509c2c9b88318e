"""Bytes and FLOPs one simulation step needs, counted from a built model's operators.

The counts are lower bounds of the work any simulator must do: each signal an
operator touches is counted once per read and once per write (an increment is a
read and a write), with no allowance for caches, gathers or temporaries. A
matrix operand of a dot product (``DotInc``, ``BsrDotInc``, ``SparseDotInc``
and the ``A`` of ``ElementwiseInc``) is counted as *weights*, shared by all items
of a minibatch; everything else is *state*, one copy per item.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NEURON_FLOPS: dict[str, int] = {
    "LIF": 12,
    "LIFRate": 10,
    "RectifiedLinear": 2,
    "SpikingRectifiedLinear": 4,
    "Sigmoid": 6,
    "Tanh": 6,
}
"""Estimated floating-point operations per neuron per step, by neuron type name.

Types not listed count 5.
"""

_DOT_OPS = ("DotInc", "BsrDotInc", "SparseDotInc")


def _size(signal: Any) -> int:
    """Number of stored values of a signal (non-zeros for a sparse signal)."""
    if getattr(signal, "sparse", False):
        return int(signal.initial_value.nnz)
    return int(signal.size)


def _rw_size(op: Any) -> int:
    """Values an operator reads plus values it writes (increments count twice)."""
    return (
        sum(_size(s) for s in op.reads)
        + sum(_size(s) for s in op.sets)
        + 2 * sum(_size(s) for s in op.incs)
        + 2 * sum(_size(s) for s in op.updates)
    )


def step_cost(operators: Iterable[Any], itemsize: int = 8) -> dict[str, Any]:
    """Count the bytes and FLOPs of one step of one item.

    Parameters
    ----------
    operators : iterable of nengo.builder.Operator
        The model's operators (``sim.model.operators``).
    itemsize : int
        Bytes per value (8 for float64, 4 for float32).

    Returns
    -------
    dict
        ``weight_bytes`` (matrix operands, shared over a minibatch),
        ``state_bytes`` (per item), ``flops`` (per item), ``n_neurons`` and
        ``by_kind`` (operator type name -> ``[count, bytes, flops]``).
    """
    weight_values = 0
    state_values = 0
    flops = 0
    n_neurons = 0
    by_kind: dict[str, list[int]] = {}
    for op in operators:
        kind = type(op).__name__
        op_weights = 0
        op_flops = 0
        if kind in _DOT_OPS:
            op_weights = _size(op.A)
            op_flops = 2 * op_weights
            op_state = _rw_size(op) - op_weights
        elif kind == "ElementwiseInc":
            op_weights = _size(op.A)
            op_flops = 2 * _size(op.Y)
            op_state = _rw_size(op) - op_weights
        elif kind == "SimNeurons":
            n = _size(op.J)
            n_neurons += n
            op_flops = n * NEURON_FLOPS.get(type(op.neurons).__name__, 5)
            op_state = _rw_size(op)
        elif kind == "SimProcess":
            # LinearFilter steps: about two multiply-adds per output per coefficient.
            out = _size(op.output) if op.output is not None else 0
            op_flops = 4 * out
            op_state = _rw_size(op)
        elif kind == "SimPES":
            # delta = -lr * dt / n * outer(error, activities): one multiply-add each.
            op_flops = 2 * _size(op.delta)
            op_state = _rw_size(op)
        else:
            op_state = _rw_size(op)
        weight_values += op_weights
        state_values += op_state
        flops += op_flops
        row = by_kind.setdefault(kind, [0, 0, 0])
        row[0] += 1
        row[1] += (op_weights + op_state) * itemsize
        row[2] += op_flops
    return {
        "itemsize": itemsize,
        "weight_bytes": weight_values * itemsize,
        "state_bytes": state_values * itemsize,
        "flops": flops,
        "n_neurons": n_neurons,
        "by_kind": by_kind,
    }


def bytes_per_step(cost: dict[str, Any], minibatch: int = 1) -> int:
    """Bytes touched by one step of a minibatch: shared weights plus per-item state.

    Parameters
    ----------
    cost : dict
        A result of `step_cost`.
    minibatch : int
        Items simulated together.

    Returns
    -------
    int
    """
    return int(cost["weight_bytes"] + minibatch * cost["state_bytes"])


def flops_per_step(cost: dict[str, Any], minibatch: int = 1) -> int:
    """FLOPs of one step of a minibatch.

    Parameters
    ----------
    cost : dict
        A result of `step_cost`.
    minibatch : int
        Items simulated together.

    Returns
    -------
    int
    """
    return int(minibatch * cost["flops"])
