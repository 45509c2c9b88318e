"""DotInc and ElementwiseInc as native kernels."""

from __future__ import annotations

import numpy as np
from nengo.builder.operator import DotInc, ElementwiseInc

from .layout import MAT_FIELDS, VEC_FIELDS, Layout, ref_fields
from .lowering import Lowering, register


def broadcast_ref(sig, layout: Layout, target):
    """Mat ref of ``sig`` broadcast to the 2-D ``target`` shape (zero strides on
    broadcast axes; numpy pads missing leading axes, so a vector is one row)."""
    off, rows, cols, rs, cs, bs = layout.mat_ref(sig)
    if rows == 1:
        rs = 0
    if cols == 1:
        cs = 0
    return (off, target[0], target[1], rs, cs, bs)


def shape2d(shape):
    return (1,) * (2 - len(shape)) + tuple(shape)


@register(ElementwiseInc)
class ElementwiseIncLowering(Lowering):
    kind = "elementwise_inc"

    def group_key(self, op, layout):
        sigs = (op.A, op.X, op.Y)
        if not all(layout.is_dense_float(s) and s.ndim <= 2 for s in sigs):
            return None
        a, x, y = (shape2d(s.shape) for s in sigs)
        for da, dx, dy in zip(a, x, y):
            if not (da in (1, dy) and dx in (1, dy) and max(da, dx) == dy):
                return None  # nengo's make_step raises its BuildError for these
        return self.kind

    def lower(self, ops, layout):
        refs = {"A": [], "X": [], "Y": []}
        for op in ops:
            target = shape2d(op.Y.shape)
            refs["Y"].append(layout.mat_ref(op.Y))
            refs["A"].append(broadcast_ref(op.A, layout, target))
            refs["X"].append(broadcast_ref(op.X, layout, target))
        params = {}
        for name, items in refs.items():
            params.update(ref_fields(name, items, MAT_FIELDS))
        return params


def dot_refs(op: DotInc, layout: Layout):
    """(A mat ref, X vec ref, Y vec ref) for a matrix-vector product, else None."""
    A, X, Y = op.A, op.X, op.Y
    if A.ndim not in (1, 2) or X.ndim not in (1, 2):
        return None
    a = layout.mat_ref(A)
    x, y = layout.vec_ref(X), layout.vec_ref(Y)
    if x is None or y is None or a[2] != x[1] or a[1] != y[1]:
        return None
    return a, x, y


@register(DotInc)
class DotIncLowering(Lowering):
    kind = "dot_inc"

    def group_key(self, op, layout):
        sigs = (op.A, op.X, op.Y)
        if not all(layout.is_dense_float(s) for s in sigs):
            return None
        if op.A.ndim == 0 or op.X.ndim == 0:
            return None  # a scalar product: nengo's reshape rules, left to the fallback
        return self.kind if dot_refs(op, layout) is not None else None

    def lower(self, ops, layout):
        refs = [dot_refs(op, layout) for op in ops]
        params = ref_fields("A", [r[0] for r in refs], MAT_FIELDS)
        params.update(ref_fields("X", [r[1] for r in refs], VEC_FIELDS))
        params.update(ref_fields("Y", [r[2] for r in refs], VEC_FIELDS))
        return params
