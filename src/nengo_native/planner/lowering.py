"""The registry that maps nengo operator types to native kernels."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
from nengo.builder.operator import Operator

from .layout import Layout

_lowerings: dict[type, Lowering] = {}


class Lowering:
    """How one operator type becomes a native kernel call.

    Subclasses set ``kind`` (the C++ kernel's registered name) and implement
    ``lower``; ``group_key`` decides which operators may share one kernel call
    (``None`` sends the operator to the fallback).
    """

    kind: str = ""

    def group_key(self, op: Operator, layout: Layout) -> Hashable | None:
        return self.kind

    def kernel_kind(self, key: Hashable) -> str:
        return self.kind

    def lower(self, ops: list[Operator], layout: Layout) -> dict[str, np.ndarray]:
        """Parameters of one kernel call running ``ops`` (already in chain order)."""
        raise NotImplementedError

    def lower_training(
        self, ops: list[Operator], layout: Layout, options: dict
    ) -> tuple[str, dict[str, np.ndarray]] | None:
        """The kernel (kind, parameters) that replaces this call in training runs,
        or None to train with the same kernel (e.g. a spiking neuron's rate
        counterpart). ``options`` holds the network's training settings."""
        return None

    def consume_rng(self, op: Operator, rng: np.random.RandomState) -> Any:
        """Draw from the simulator's generator exactly as ``op.make_step`` would, so
        that operators after this one get the seeds they get in nengo.

        Returns what `reseed` needs to know about this op's draw (e.g. the seed of its
        own generator), or None.
        """
        return None

    def reseed(
        self,
        ops: list[Operator],
        draws: list[Any],
        layout: Layout,
        first_item: int | None = None,
    ) -> dict[str, np.ndarray] | None:
        """Seed-dependent parameters of the kernel call running ``ops``.

        Called on every ``Simulator.reset`` with, for each op, what `consume_rng`
        returned for it (``first_item`` None), and before each minibatch of a
        ``predict`` with ``first_item``, the index in the whole batch of the
        minibatch's item 0: item b then gets the streams of item first_item + b.
        A kernel whose numbers depend on the simulator's seed returns the
        parameters that change with it (they go to the kernel's ``set_params``
        and become its reset state); others return None.
        """
        return None


def register(*op_types: type):
    """Class decorator registering a `Lowering` for exactly these operator types."""

    def decorator(cls):
        instance = cls()
        for op_type in op_types:
            _lowerings[op_type] = instance
        return cls

    return decorator


def lowering_for(op: Operator) -> Lowering | None:
    # Exact type: a subclass may change semantics, so it falls back unless registered.
    return _lowerings.get(type(op))


def written_signals(op: Operator):
    return list(op.sets) + list(op.incs) + list(op.updates)
