"""Learning rules (SimPES, SimBCM, SimOja, SimVoja, SimRLS) as native kernels.

Each rule becomes a kernel ``learning_<rule>`` (``src/cpp/kernels/learning.cpp``) that
computes the weight change ``delta`` with the arithmetic of the operator's
``make_step``, in the same order. The constants nengo computes in Python at
``make_step`` (``alpha``, ``beta``) are computed here with the same expressions.

In a minibatch every item learns on its own: the delta (and RLS's matrix P) are
written signals, so the layout gives each item its own copy, as it does for the
weights or encoders that the delta is added to.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from nengo.builder.learning_rules import SimBCM, SimOja, SimPES, SimRLS, SimVoja
from nengo.builder.operator import Operator

from .layout import MAT_FIELDS, VEC_FIELDS, Layout, ref_fields
from .lower_neurons import _disjoint
from .lowering import Lowering, register

_RULES = {SimPES: "pes", SimBCM: "bcm", SimOja: "oja", SimVoja: "voja", SimRLS: "rls"}


def _vectors(op: Operator) -> dict:
    """The vector signals the kernel reads, by the kernel's parameter prefix."""
    if isinstance(op, SimPES):
        return {"pre": op.pre_filtered, "error": op.error}
    if isinstance(op, SimBCM):
        return {"pre": op.pre_filtered, "post": op.post_filtered, "theta": op.theta}
    if isinstance(op, SimOja):
        return {"pre": op.pre_filtered, "post": op.post_filtered}
    if isinstance(op, SimVoja):
        return {
            "pre": op.pre_decoded,
            "post": op.post_filtered,
            "lsig": op.learning_signal,
        }
    return {"pre": op.pre_filtered, "error": op.error}


def _matrix(op: Operator):
    """The second matrix of Oja (weights), Voja (encoders) and RLS (P), else None."""
    if isinstance(op, (SimOja, SimVoja)):
        return op.weights
    if isinstance(op, SimRLS):
        return op.inv_gamma
    return None


def _alpha(op: Operator, dt: float) -> float:
    if isinstance(op, SimPES):
        return -op.learning_rate * dt / op.pre_filtered.shape[0]
    if isinstance(op, SimRLS):
        return 0.0  # RLS has no learning-rate constant at step time
    return op.learning_rate * dt


@register(SimPES, SimBCM, SimOja, SimVoja, SimRLS)
class LearningLowering(Lowering):
    """The five learning-rule operators nengo ships (exact types only)."""

    def group_key(self, op: Operator, layout: Layout) -> Hashable | None:
        name = _RULES.get(type(op))
        if name is None or getattr(layout, "dt", None) is None:
            return None
        vectors = _vectors(op)
        matrix = _matrix(op)
        sigs = [op.delta, *vectors.values()] + ([] if matrix is None else [matrix])
        if not all(layout.is_dense_float(s) for s in sigs):
            return None
        if op.delta.ndim != 2 or (matrix is not None and matrix.ndim != 2):
            return None
        if any(s.ndim != 1 or layout.vec_ref(s) is None for s in vectors.values()):
            return None
        rows, cols = op.delta.shape
        sizes = {"pre": cols, "error": rows, "post": rows, "theta": rows, "lsig": 1}
        if any(sig.size != sizes[k] for k, sig in vectors.items()):
            return None
        if isinstance(op, SimRLS):
            if matrix.shape != (cols, cols):
                return None
            writes, reads = [op.delta, matrix], list(vectors.values())
        else:
            if matrix is not None and matrix.shape != op.delta.shape:
                return None
            writes = [op.delta]
            reads = list(vectors.values()) + ([] if matrix is None else [matrix])
        if isinstance(op, SimVoja) and np.shape(op.scale) != (rows,):
            return None
        # The kernel writes element by element while numpy finishes each expression
        # first; they agree only when nothing written is also read.
        if not _disjoint(layout, reads, writes):
            return None
        return ("learning", name)

    def kernel_kind(self, key: Hashable) -> str:
        return f"learning_{key[1]}"

    def lower(self, ops: list[Operator], layout: Layout) -> dict[str, np.ndarray]:
        params = ref_fields(
            "delta", [layout.mat_ref(op.delta) for op in ops], MAT_FIELDS
        )
        for name in _vectors(ops[0]):
            refs = [layout.vec_ref(_vectors(op)[name]) for op in ops]
            params.update(ref_fields(name, refs, VEC_FIELDS))
        if _matrix(ops[0]) is not None:
            refs = [layout.mat_ref(_matrix(op)) for op in ops]
            params.update(ref_fields("mat", refs, MAT_FIELDS))
        params["alpha"] = np.array([_alpha(op, layout.dt) for op in ops], dtype=float)
        if isinstance(ops[0], SimOja):
            params["beta"] = np.array([float(op.beta) for op in ops])
        if isinstance(ops[0], SimVoja):
            scales = [np.asarray(op.scale, dtype=np.float64).ravel() for op in ops]
            ptr = np.concatenate([[0], np.cumsum([s.size for s in scales])])
            params["scale_ptr"] = ptr.astype(np.int64)
            params["scale"] = np.concatenate(scales)
        return params
