"""The Program: what the planner hands to the core, as plain arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from nengo.builder.operator import Operator
from nengo.probe import Probe

from .layout import Layout


@dataclass
class KernelStep:
    """One call of a native kernel over a group of same-kind operators."""

    kind: str
    params: dict[str, np.ndarray]
    ops: list[Operator]


@dataclass
class CallbackStep:
    """An operator run through its own nengo ``make_step`` closure.

    ``fallback`` is False for operators whose job is to call the user's Python
    (node functions), True for operators that simply have no native kernel yet.
    """

    op: Operator
    fallback: bool


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

    @property
    def callback_ops(self) -> list[Operator]:
        return [s.op for s in self.steps if isinstance(s, CallbackStep)]
