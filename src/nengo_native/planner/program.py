"""The Program: what the planner hands to the core, as plain arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from nengo.builder.operator import Operator
from nengo.node import Node
from nengo.probe import Probe

from .layout import Layout


@dataclass
class KernelStep:
    """One call of a native kernel over a group of same-kind operators."""

    kind: str
    params: dict[str, np.ndarray]
    ops: list[Operator]
    # The kernel that runs instead in training runs (None: this one).
    training_kind: str | None = None
    training_params: dict[str, np.ndarray] | None = None


@dataclass
class CallbackStep:
    """An operator run through its own nengo ``make_step`` closure.

    ``fallback`` is False for operators whose job is to call the user's Python
    (node functions), True for operators that simply have no native kernel yet.
    """

    op: Operator
    fallback: bool
    batched: bool = False  # one call for the whole minibatch (a BatchNode)


@dataclass
class FeedStep:
    """Where run-time data for an input node overwrites the node's output.

    ``producer`` is the operator that otherwise computes the output (None for a
    constant node); a Python producer is not called while the node is fed.
    """

    node: Node
    ref: tuple  # vec ref (off, n, stride, bstride) of the node's output
    producer: Operator | None


@dataclass
class ProbePlan:
    probe: Probe
    ref: tuple  # (off, rows, cols, rstride, cstride, bstride)
    period: float
    shape: tuple  # shape of one sample of one item


@dataclass
class Program:
    layout: Layout
    steps: list = field(default_factory=list)
    probes: list[ProbePlan] = field(default_factory=list)

    @property
    def fallback_ops(self) -> list[Operator]:
        return [s.op for s in self.steps if isinstance(s, CallbackStep) and s.fallback]
