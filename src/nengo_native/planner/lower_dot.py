"""DotInc (dense, scalar, sparse, block-sparse) and ElementwiseInc as native kernels."""

from __future__ import annotations

import numpy as np
from nengo.builder.neurons import SimNeurons
from nengo.builder.operator import BsrDotInc, DotInc, ElementwiseInc, SparseDotInc

from .layout import MAT_FIELDS, VEC_FIELDS, Layout, ref_fields
from .lowering import Lowering, register

# Smallest weights worth storing by columns: enough rows that one column is a long
# contiguous run, enough elements that skipping columns saves real memory traffic.
COLUMN_MAJOR_MIN_ROWS = 32
COLUMN_MAJOR_MIN_SIZE = 1 << 14


def column_major_weights(step_order, written) -> set:
    """Weight bases to store by columns: those of products whose input is spikes.

    A spiking population is mostly silent in any one step, so a product of its
    output reads only the columns of the neurons that spiked when its columns are
    contiguous (see the dot kernels). Only constant (unwritten), large, whole bases
    qualify whose every use is as such a product's ``A``: every other reader would
    need views of the new layout.
    """
    spikes = {
        op.output.base
        for op in step_order
        if isinstance(op, SimNeurons) and op.neurons.spiking
    }
    chosen, other_uses = set(), set()
    for op in step_order:
        weights = None
        if type(op) in (DotInc, BsrDotInc) and op.X.base in spikes:
            A = op.A
            dense = type(op) is DotInc and A.ndim == 2
            blocks = type(op) is BsrDotInc and A.ndim == 3
            if (
                (dense or blocks)
                and not A.is_view
                and not A.sparse
                and A.dtype.kind == "f"
                and A not in written
                and A.shape[-2] >= COLUMN_MAJOR_MIN_ROWS
                and A.size >= COLUMN_MAJOR_MIN_SIZE
                # (A finite sum has no infinity or NaN among its terms.)
                and np.isfinite(np.sum(A.initial_value))
            ):
                weights = A
                chosen.add(A)
        other_uses.update(s.base for s in op.all_signals if s is not weights)
    return chosen - other_uses


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
        for da, dx, dy in zip(a, x, y, strict=True):
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


def scalar_dot_refs(op: DotInc, layout: Layout):
    """Elementwise (Y, A, X) mat refs for a DotInc where A or X is 0-d, else None.

    ``np.dot`` with a 0-d operand is a plain product, so ``Y += A * X`` on the
    elementwise kernel does the same arithmetic; nengo's ``reshape_dot`` has already
    checked that the product has Y's size.
    """
    y = layout.vec_ref(op.Y)
    a, x = layout.vec_ref(op.A), layout.vec_ref(op.X)
    if y is None or a is None or x is None:
        return None
    n = y[1]
    refs = []
    for ref, sig in ((a, op.A), (x, op.X)):
        if sig.ndim == 0 or ref[1] == 1:
            refs.append((ref[0], 1, n, 0, 0, ref[3]))  # broadcast one value
        elif ref[1] == n:
            refs.append((ref[0], 1, n, 0, ref[2], ref[3]))
        else:
            return None
    return (y[0], 1, n, 0, y[2], y[3]), refs[0], refs[1]


def mixed_ref(sig, layout: Layout):
    """(in_ints, off, rows, cols, rstride, cstride) of a 1-D or 2-D signal in the float
    or the integer arena (a vector is one row)."""
    in_ints = sig.base in layout.int_offset
    offsets = layout.int_offset if in_ints else layout.offset
    off = offsets[sig.base] + sig.elemoffset
    if sig.ndim == 2:
        (rows, cols), (rs, cs) = sig.shape, sig.elemstrides
    else:
        rows, cols, rs, cs = 1, sig.shape[0], 0, sig.elemstrides[0]
    return (int(in_ints), off, rows, cols, rs, cs)


def int_dot_ok(op: DotInc, layout: Layout) -> bool:
    """Whether a DotInc with integer signals fits the mixed-arena kernel: minibatch 1
    (integer signals are not batched), a matrix or vector times a vector, and an
    integer Y only from integer operands (numpy refuses the cast otherwise)."""
    sigs = (op.A, op.X, op.Y)
    ints = [s.base in layout.int_offset for s in sigs]
    if layout.minibatch_size != 1 or not any(ints):
        return False
    # nengo reshapes a vector-vector dot (a scalar) into Y of size 1; nothing else
    if getattr(op, "reshape", None) and not (op.A.ndim == 1 and op.Y.shape == (1,)):
        return False
    if not all(i or layout.is_dense_float(s) for i, s in zip(ints, sigs, strict=True)):
        return False
    if op.A.ndim not in (1, 2) or op.X.ndim != 1 or op.Y.ndim != 1:
        return False
    if ints[2] and not (ints[0] and ints[1]):
        return False
    rows = op.A.shape[0] if op.A.ndim == 2 else 1
    return op.A.shape[-1] == op.X.shape[0] and rows == op.Y.shape[0]


@register(DotInc)
class DotIncLowering(Lowering):
    kind = "dot_inc"
    scalar_key = ("dot_inc", "scalar")
    int_key = ("dot_inc", "int")

    def group_key(self, op, layout):
        sigs = (op.A, op.X, op.Y)
        if int_dot_ok(op, layout):
            return self.int_key
        if not all(layout.is_dense_float(s) for s in sigs):
            return None
        if op.A.ndim == 0 or op.X.ndim == 0:
            return self.scalar_key if scalar_dot_refs(op, layout) is not None else None
        return self.kind if dot_refs(op, layout) is not None else None

    def kernel_kind(self, key):
        if key == self.int_key:
            return "int_dot_inc"
        return "elementwise_inc" if key == self.scalar_key else self.kind

    def lower(self, ops, layout):
        if int_dot_ok(ops[0], layout):
            fields = ("ints",) + MAT_FIELDS[:-1]
            params = {}
            for name in ("A", "X", "Y"):
                refs = [mixed_ref(getattr(op, name), layout) for op in ops]
                params.update(ref_fields(name, refs, fields))
            return params
        if ops[0].A.ndim == 0 or ops[0].X.ndim == 0:
            refs = [scalar_dot_refs(op, layout) for op in ops]
            params = {}
            for i, name in enumerate(("Y", "A", "X")):
                params.update(ref_fields(name, [r[i] for r in refs], MAT_FIELDS))
            return params
        refs = [dot_refs(op, layout) for op in ops]
        params = ref_fields("A", [r[0] for r in refs], MAT_FIELDS)
        params.update(ref_fields("X", [r[1] for r in refs], VEC_FIELDS))
        params.update(ref_fields("Y", [r[2] for r in refs], VEC_FIELDS))
        return params


# -- sparse products -----------------------------------------------------------------

BSR_FIELDS = ("off", "bstride", "R", "C", "kstride", "rstride", "cstride", "nbrow")


def sparse_product_fits(op: DotInc, n_rows: int, n_cols: int) -> bool:
    """Whether ``Y[...] += A.dot(X)`` (reshaped if ``op.reshape``) works in numpy for
    an ``n_rows x n_cols`` sparse A, with the product landing element for element."""
    X, Y = op.X, op.Y
    if X.ndim not in (1, 2) or Y.ndim not in (1, 2) or X.shape[0] != n_cols:
        return False
    product = (n_rows,) if X.ndim == 1 else (n_rows, X.shape[1])
    if int(np.prod(product)) != Y.size:
        return False
    if op.reshape:
        return True
    try:
        return np.broadcast_shapes(product, Y.shape) == Y.shape
    except ValueError:
        return False


def bsr_structure(op: DotInc, layout: Layout):
    """(A block fields, indptr, indices) of a SparseDotInc (as 1x1 blocks) or a
    BsrDotInc, or None when the operator's signals do not fit the kernel."""
    if isinstance(op, BsrDotInc):
        A = op.A
        if not layout.is_dense_float(A) or A.ndim != 3 or A.shape[0] == 0:
            return None
        indptr = np.asarray(op.indptr, dtype=np.int64)
        indices = np.asarray(op.indices, dtype=np.int64)
        k, R, C = A.shape
        if R == 0 or C == 0 or indices.size != k or indptr.size < 1 or indptr[-1] != k:
            return None
        if indices.min() < 0:
            return None
        n_rows, n_cols = (indptr.size - 1) * R, (int(indices.max()) + 1) * C
        ks, rs, cs = layout.elemstrides(A)
        fields = (layout.start(A), layout.bstride(A), R, C, ks, rs, cs, indptr.size - 1)
    else:
        A = op.A
        if not (layout.is_float(A) and A.base in layout.sparse) or A.is_view:
            return None
        csr = layout.sparse[A.base]
        indptr = csr.indptr.astype(np.int64)
        indices = csr.indices.astype(np.int64)
        n_rows, n_cols = csr.shape
        fields = (layout.offset[A.base], layout.bstride(A), 1, 1, 1, 0, 0, n_rows)
    if np.any(np.diff(indptr) < 0) or indptr[0] != 0:
        return None
    if not sparse_product_fits(op, n_rows, n_cols):
        return None
    return fields, indptr, indices


def starts(arrays: list[np.ndarray]) -> np.ndarray:
    """Where each array begins in their concatenation."""
    return np.cumsum([0] + [a.size for a in arrays])[:-1].astype(np.int64)


@register(SparseDotInc, BsrDotInc)
class SparseDotIncLowering(Lowering):
    """Y += A @ X for CSR (SparseDotInc) and block-sparse (BsrDotInc) A.

    Both become block-sparse rows (CSR has 1x1 blocks). Each output row is summed
    from zero in stored order, as scipy's ``csr_matvec``/``bsr_matvec`` do, then added
    to Y, as numpy's ``Y[...] += product`` does.
    """

    kind = "bsr_dot_inc"

    def group_key(self, op, layout):
        if not (layout.is_dense_float(op.X) and layout.is_dense_float(op.Y)):
            return None
        if layout.vec_ref(op.X) is None or layout.vec_ref(op.Y) is None:
            return None
        return self.kind if bsr_structure(op, layout) is not None else None

    def lower(self, ops, layout):
        fields, indptrs, indices = [], [], []
        for op in ops:
            f, ptr, idx = bsr_structure(op, layout)
            fields.append(f)
            indptrs.append(ptr)
            indices.append(idx)
        params = ref_fields("A", fields, BSR_FIELDS)
        params["indptr"] = np.concatenate(indptrs).astype(np.int64)
        params["indptr_start"] = starts(indptrs)
        params["indices"] = np.concatenate(indices).astype(np.int64)
        params["indices_start"] = starts(indices)
        params.update(ref_fields("X", [layout.vec_ref(op.X) for op in ops], VEC_FIELDS))
        params.update(ref_fields("Y", [layout.vec_ref(op.Y) for op in ops], VEC_FIELDS))
        return params
