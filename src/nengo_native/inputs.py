"""Checking run-time input data (``data=``, ``x=``) against the model."""

from __future__ import annotations

import os

import numpy as np
from nengo.exceptions import ValidationError
from nengo.node import Node


def check_minibatch_size(minibatch_size) -> int:
    """The batch size the core runs with (1 for ``None``)."""
    if minibatch_size is None:
        return 1
    if isinstance(minibatch_size, bool) or not isinstance(
        minibatch_size, (int, np.integer)
    ):
        raise ValidationError(
            f"must be a positive integer or None (got {minibatch_size!r})",
            attr="minibatch_size",
        )
    if minibatch_size < 1:
        raise ValidationError(
            f"must be at least 1 (got {minibatch_size})", attr="minibatch_size"
        )
    return int(minibatch_size)


def check_memory(n_values: int, itemsize: int, minibatch_size: int) -> None:
    """Refuse up front a simulator whose memory the machine does not have."""
    need = n_values * itemsize
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if need > available:
        raise ValidationError(
            f"the simulator's state would need {need / 2**30:.1f} GiB with a minibatch "
            f"of {minibatch_size}, but only {available / 2**30:.1f} GiB is available",
            attr="minibatch_size",
        )


def node_label(node: Node) -> str:
    return str(node) if node.label is None else f"Node '{node.label}'"


def check_data(
    data, input_nodes, minibatch_size: int, n_steps: int | None, attr: str = "data"
) -> tuple[dict, int]:
    """Validate input data; return it as float arrays and the number of steps.

    Parameters
    ----------
    data : dict or array or None
        ``{node: array (minibatch, n_steps, node.size_out)}``; a bare array is
        accepted when the model has exactly one input node.
    input_nodes : list of Node
        Nodes that may be fed (no input, some output).
    minibatch_size : int
        Required size of the first axis.
    n_steps : int or None
        Required number of steps; taken from the data when None.
    """
    if data is None:
        return {}, n_steps
    if not isinstance(data, dict):
        if len(input_nodes) != 1:
            raise ValidationError(
                f"a bare array needs exactly one input node; the model has "
                f"{len(input_nodes)}: pass a dict {{node: array}}",
                attr=attr,
            )
        data = {input_nodes[0]: data}
    checked = {}
    for node, value in data.items():
        if not isinstance(node, Node):
            raise ValidationError(
                f"keys must be nengo Nodes (got {type(node).__name__} {node!r})",
                attr=attr,
            )
        if node not in input_nodes:
            why = (
                "it has an input (size_in > 0)"
                if node.size_in > 0
                else "it is not in this simulator's model, or nothing uses its output"
            )
            raise ValidationError(f"{node_label(node)} cannot be fed: {why}", attr=attr)
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValidationError(
                f"data for {node_label(node)} is not numeric: {e}", attr=attr
            ) from e
        steps = value.shape[1] if value.ndim == 3 else None
        expected = (minibatch_size, n_steps or steps, node.size_out)
        if (
            value.ndim != 3
            or value.shape[0] != minibatch_size
            or (value.shape[2] != node.size_out)
        ):
            raise ValidationError(
                f"data for {node_label(node)} has shape {value.shape}; expected "
                f"{expected} (minibatch, n_steps, size_out)",
                attr=attr,
            )
        if n_steps is None:
            n_steps = steps
        elif steps != n_steps:
            raise ValidationError(
                f"data for {node_label(node)} has {steps} steps; expected {n_steps}",
                attr=attr,
            )
        if not np.all(np.isfinite(value)):
            raise ValidationError(
                f"data for {node_label(node)} contains NaN or infinite values",
                attr=attr,
            )
        checked[node] = value
    return checked, n_steps


def split_batch(data: dict, minibatch_size: int, attr: str = "x") -> list[dict]:
    """Split ``{node: (batch, ...)}`` into minibatches of ``minibatch_size``."""
    sizes = {len(v) for v in data.values()}
    if len(sizes) > 1:
        raise ValidationError(
            f"all inputs must have the same batch size (got {sorted(sizes)})", attr=attr
        )
    (batch,) = sizes
    if batch % minibatch_size:
        raise ValidationError(
            f"batch size {batch} is not a multiple of minibatch_size {minibatch_size}",
            attr=attr,
        )
    return [
        {node: v[i : i + minibatch_size] for node, v in data.items()}
        for i in range(0, batch, minibatch_size)
    ]
