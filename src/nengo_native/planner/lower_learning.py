"""Learning rules (SimPES, SimBCM, SimOja, SimVoja, SimRLS) as native kernels.

Each rule becomes a kernel ``learning_<rule>`` (``src/cpp/kernels/learning.cpp``) that
computes the weight change ``delta`` with the arithmetic of the operator's
``make_step``, in the same order. The constants nengo computes in Python at
``make_step`` (``alpha``, ``beta``) are computed here with the same expressions.

In a minibatch every item learns on its own: the delta (and RLS's matrix P) are
written signals, so the layout gives each item its own copy, as it does for the
weights or encoders that the delta is added to.

Adding a rule is one row in `RULES` here and one rule struct in ``learning.cpp``
(with the same kernel name, vector prefixes and constants).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np
from nengo.builder.learning_rules import SimBCM, SimOja, SimPES, SimRLS, SimVoja
from nengo.builder.operator import Operator

from .layout import MAT_FIELDS, VEC_FIELDS, Layout, disjoint, ref_fields
from .lowering import Lowering, register


@dataclass(frozen=True)
class LearningRule:
    """How one learning-rule operator maps onto its kernel.

    Attributes
    ----------
    name : str
        Kernel suffix (the kernel is ``learning_<name>``) and part of the group key.
    vectors : dict of str to str
        The vector signals the kernel reads: kernel parameter prefix -> operator
        attribute. Each must have the size `SIZES` gives for its prefix.
    alpha : callable
        ``alpha(op, dt)``: nengo's learning-rate constant, as its ``make_step``
        computes it.
    matrix : str or None
        The operator attribute of the second matrix the kernel reads (prefix
        ``mat``), or None.
    updates_matrix : bool
        Whether the kernel also writes that matrix (RLS's P, pre x pre), rather than
        only reading it (a matrix shaped like delta).
    reals : dict of str to callable
        Further per-operator constants: parameter name -> ``f(op)``.
    row_scale : str or None
        The operator attribute of a per-row scale (one value per post neuron),
        passed as ragged ``scale``/``scale_ptr``.
    """

    name: str
    vectors: dict[str, str]
    alpha: Callable[[Operator, float], float]
    matrix: str | None = None
    updates_matrix: bool = False
    reals: dict[str, Callable[[Operator], float]] = field(default_factory=dict)
    row_scale: str | None = None


def _rate_dt(op: Operator, dt: float) -> float:
    return op.learning_rate * dt


# Exact types only: a subclass may change semantics, so it runs through nengo.
RULES: dict[type, LearningRule] = {
    SimPES: LearningRule(
        "pes",
        {"pre": "pre_filtered", "error": "error"},
        lambda op, dt: -op.learning_rate * dt / op.pre_filtered.shape[0],
    ),
    SimBCM: LearningRule(
        "bcm",
        {"pre": "pre_filtered", "post": "post_filtered", "theta": "theta"},
        _rate_dt,
    ),
    SimOja: LearningRule(
        "oja",
        {"pre": "pre_filtered", "post": "post_filtered"},
        _rate_dt,
        matrix="weights",
        reals={"beta": lambda op: float(op.beta)},
    ),
    SimVoja: LearningRule(
        "voja",
        {"pre": "pre_decoded", "post": "post_filtered", "lsig": "learning_signal"},
        _rate_dt,
        matrix="weights",
        row_scale="scale",
    ),
    SimRLS: LearningRule(
        "rls",
        {"pre": "pre_filtered", "error": "error"},
        lambda op, dt: 0.0,  # RLS has no learning-rate constant at step time
        matrix="inv_gamma",
        updates_matrix=True,
    ),
}

# The size of each vector prefix, given delta's shape (post x pre).
SIZES = {
    "pre": lambda rows, cols: cols,
    "error": lambda rows, cols: rows,
    "post": lambda rows, cols: rows,
    "theta": lambda rows, cols: rows,
    "lsig": lambda rows, cols: 1,
}


def _vectors(op: Operator, rule: LearningRule) -> dict:
    return {prefix: getattr(op, attr) for prefix, attr in rule.vectors.items()}


@register(*RULES)
class LearningLowering(Lowering):
    """The learning-rule operators in `RULES` (exact types only)."""

    def group_key(self, op: Operator, layout: Layout) -> Hashable | None:
        rule = RULES.get(type(op))
        if rule is None:
            return None
        vectors = _vectors(op, rule)
        matrix = None if rule.matrix is None else getattr(op, rule.matrix)
        sigs = [op.delta, *vectors.values()] + ([] if matrix is None else [matrix])
        if not all(layout.is_dense_float(s) for s in sigs):
            return None
        if op.delta.ndim != 2 or (matrix is not None and matrix.ndim != 2):
            return None
        if any(s.ndim != 1 or layout.vec_ref(s) is None for s in vectors.values()):
            return None
        rows, cols = op.delta.shape
        if any(sig.size != SIZES[k](rows, cols) for k, sig in vectors.items()):
            return None
        if rule.updates_matrix:
            if matrix.shape != (cols, cols):
                return None
            writes, reads = [op.delta, matrix], list(vectors.values())
        else:
            if matrix is not None and matrix.shape != op.delta.shape:
                return None
            writes = [op.delta]
            reads = list(vectors.values()) + ([] if matrix is None else [matrix])
        if rule.row_scale is not None and np.shape(getattr(op, rule.row_scale)) != (
            rows,
        ):
            return None
        # The kernel writes element by element while numpy finishes each expression
        # first; they agree only when nothing written is also read.
        if not disjoint(layout, reads, writes):
            return None
        return ("learning", rule.name)

    def kernel_kind(self, key: Hashable) -> str:
        return f"learning_{key[1]}"

    def lower(self, ops: list[Operator], layout: Layout) -> dict[str, np.ndarray]:
        rule = RULES[type(ops[0])]
        params = ref_fields(
            "delta", [layout.mat_ref(op.delta) for op in ops], MAT_FIELDS
        )
        for prefix, attr in rule.vectors.items():
            refs = [layout.vec_ref(getattr(op, attr)) for op in ops]
            params.update(ref_fields(prefix, refs, VEC_FIELDS))
        if rule.matrix is not None:
            refs = [layout.mat_ref(getattr(op, rule.matrix)) for op in ops]
            params.update(ref_fields("mat", refs, MAT_FIELDS))
        params["alpha"] = np.array(
            [rule.alpha(op, layout.dt) for op in ops], dtype=float
        )
        for name, value in rule.reals.items():
            params[name] = np.array([value(op) for op in ops])
        if rule.row_scale is not None:
            scales = [
                np.asarray(getattr(op, rule.row_scale), dtype=np.float64).ravel()
                for op in ops
            ]
            ptr = np.concatenate([[0], np.cumsum([s.size for s in scales])])
            params["scale_ptr"] = ptr.astype(np.int64)
            params["scale"] = np.concatenate(scales)
        return params
