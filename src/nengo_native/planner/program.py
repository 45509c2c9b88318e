"""The Program: what the planner hands to the core, as plain arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    # For a kernel whose numbers depend on the simulator's seed: the parameters
    # that change with it, given what each op drew (see `RngUse`); else None.
    reseed: Callable[[list[Any]], dict[str, np.ndarray] | None] | None = None


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
class RngUse:
    """One operator's use of the simulator's random generator on reset.

    ``Simulator.reset(seed)`` replays these in nengo's step order, so every operator
    gets the draw it gets in nengo. ``draw`` is None for an operator run through its
    own ``make_step`` (which draws itself); for a native one it draws what the
    operator's ``make_step`` would and returns what its kernel step's ``reseed``
    needs (e.g. the seed of the process's own generator).
    """

    op: Operator
    draw: Callable[[np.random.RandomState], Any] | None


@dataclass
class ProbePlan:
    probe: Probe
    ref: tuple  # (off, rows, cols, rstride, cstride, bstride)
    period: float
    shape: tuple  # shape of one sample of one item


@dataclass
class Program:
    """A planned model: its layout, steps in run order, probes, and what a reset
    replays.

    ``step_order`` is nengo's order of the operators (the order of their random
    draws), ``dg`` nengo's operator dependency graph; ``model`` is the nengo model
    the program was planned from.
    """

    layout: Layout
    model: Any = None
    step_order: list[Operator] = field(default_factory=list)
    dg: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)
    probes: list[ProbePlan] = field(default_factory=list)
    rng_uses: list[RngUse] = field(default_factory=list)
    exact: bool = True  # exact kernels, or their throughput siblings (planner.fast)

    @property
    def minibatch_size(self) -> int:
        return self.layout.minibatch_size

    @property
    def fallback_ops(self) -> list[Operator]:
        return [s.op for s in self.steps if isinstance(s, CallbackStep) and s.fallback]
