"""SimProcess as native kernels (linear filters).

Only the exact types `nengo.LinearFilter`, `nengo.Lowpass` and `nengo.Alpha` run
natively: a user subclass may override ``make_step`` and falls back. The filter's
step variant (NoX, OneX, OneXScalar, NoD, General) is chosen by nengo's own
``LinearFilter.make_step`` so the native kernel does the same arithmetic, in the
same order, as the Python step it replaces.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from nengo.builder.processes import SimProcess
from nengo.synapses import Alpha, LinearFilter, Lowpass

from .layout import MAT_FIELDS, VEC_FIELDS, Layout, ref_fields
from .lowering import Lowering, register

_NATIVE_PROCESSES = (LinearFilter, Lowpass, Alpha)

# Kernel variant codes; must match `FilterVariant` in kernels/linear_filter.h.
_VARIANTS = {
    LinearFilter.NoX: 0,
    LinearFilter.OneX: 1,
    LinearFilter.OneXScalar: 2,
    LinearFilter.NoD: 3,
    LinearFilter.General: 4,
}


def affine_ref(offsets: np.ndarray) -> tuple[int, int, int, int, int] | None:
    """``(off, rows, cols, rstride, cstride)`` if the 2-D element offsets form a
    strided grid (``offsets[i, j] == off + i * rstride + j * cstride``), else None."""
    rows, cols = offsets.shape
    if offsets.size == 0:
        return (0, rows, cols, 0, 0)
    off = int(offsets[0, 0])
    rs = int(offsets[1, 0] - off) if rows > 1 else 0
    cs = int(offsets[0, 1] - off) if cols > 1 else 0
    grid = off + np.arange(rows)[:, None] * rs + np.arange(cols)[None, :] * cs
    return (off, rows, cols, rs, cs) if np.array_equal(grid, offsets) else None


def filter_step(op: SimProcess, dt: float):
    """nengo's step object for ``op``'s filter (built on a scratch state), or None
    when ``op`` is not a filter this module runs natively."""
    process, inp, out = op.process, op.input, op.output
    if type(process) not in _NATIVE_PROCESSES or inp is None:
        return None
    if inp.shape != out.shape or "X" not in op.state or len(op.state) != 1:
        return None
    X = op.state["X"]
    if X.ndim != out.ndim + 1 or X.shape[1:] != out.shape:
        return None
    try:
        step = process.make_step(
            inp.shape, out.shape, dt, None, {"X": np.zeros(X.shape, dtype=np.float64)}
        )
    except Exception:  # noqa: BLE001 - whatever nengo refuses, nengo reports itself
        return None
    return step if type(step) in _VARIANTS else None


def filter_refs(op: SimProcess, layout: Layout):
    """Strided refs of input, output and state X (flattened to (n_states, size)),
    or None when one of them is not a strided grid in the arena."""
    sigs = (op.input, op.output, op.state["X"])
    if not all(layout.is_dense_float(s) for s in sigs):
        return None
    inp, out, X = sigs
    size = out.size
    u = affine_ref(layout.elem_offsets(inp).reshape(1, size))
    y = affine_ref(layout.elem_offsets(out).reshape(1, size))
    x = affine_ref(layout.elem_offsets(X).reshape(X.shape[0], size))
    if u is None or y is None or x is None:
        return None
    return (
        (u[0], size, u[4], layout.bstride(inp)),
        (y[0], size, y[4], layout.bstride(out)),
        (x[0], x[1], x[2], x[3], x[4], layout.bstride(X)),
    )


def _independent_elements(op: SimProcess, layout: Layout) -> bool:
    """Whether element j of the output depends only on element j of the input and
    column j of X, so the kernel may go element by element.

    nengo copies the input before writing the output. Going element by element gives
    the same result when input and output touch disjoint memory or exactly the same
    elements in the same order; the state must not overlap either of them.
    """
    sigs = (op.input, op.output, op.state["X"])
    inp, out, X = (layout.elem_offsets(s).ravel() for s in sigs)
    same_in_out = op.input.base is op.output.base
    if same_in_out and not np.array_equal(inp, out) and np.intersect1d(inp, out).size:
        return False
    for sig, offsets in ((op.input, inp), (op.output, out)):
        if sig.base is op.state["X"].base and np.intersect1d(offsets, X).size:
            return False
    return True


def filter_coefficients(step) -> np.ndarray:
    """The numbers the kernel needs for ``step``'s variant, as nengo computed them."""
    kind = type(step)
    if kind is LinearFilter.NoX:
        return np.array([step.d], dtype=np.float64)
    if kind in (LinearFilter.OneX, LinearFilter.OneXScalar):
        return np.array([step.a, step.b], dtype=np.float64)
    return np.concatenate(
        [np.ravel(step.A), np.ravel(step.B), np.ravel(step.C), np.ravel(step.D)]
    ).astype(np.float64)


@register(SimProcess)
class SimProcessLowering(Lowering):
    """Linear filters (``nengo.LinearFilter``, ``Lowpass``, ``Alpha``) in any mode."""

    kind = "linear_filter"

    def group_key(self, op: SimProcess, layout: Layout) -> Hashable | None:
        dt = getattr(layout, "dt", None)
        step = None if dt is None else filter_step(op, dt)
        if step is None:
            return None
        general = type(step) is LinearFilter.General
        if general and op.mode == "inc" and op.output.ndim > 0:
            # nengo's General step returns shape (1, n) here, which `output += ...`
            # refuses; the fallback raises nengo's own error.
            return None
        if filter_refs(op, layout) is None or not _independent_elements(op, layout):
            return None
        return self.kind

    def lower(self, ops: list[SimProcess], layout: Layout) -> dict[str, np.ndarray]:
        variant, inc, coef_ptr, coefs = [], [], [0], []
        u_refs, y_refs, x_refs = [], [], []
        for op in ops:
            step = filter_step(op, layout.dt)
            variant.append(_VARIANTS[type(step)])
            inc.append(int(op.mode == "inc"))
            c = filter_coefficients(step)
            coefs.append(c)
            coef_ptr.append(coef_ptr[-1] + c.size)
            u, y, x = filter_refs(op, layout)
            u_refs.append(u)
            y_refs.append(y)
            x_refs.append(x)
        params = {
            "variant": np.array(variant, dtype=np.int64),
            "inc": np.array(inc, dtype=np.int64),
            "coef_ptr": np.array(coef_ptr, dtype=np.int64),
            "coef": np.concatenate(coefs).astype(np.float64),
        }
        params.update(ref_fields("U", u_refs, VEC_FIELDS))
        params.update(ref_fields("Out", y_refs, VEC_FIELDS))
        params.update(ref_fields("X", x_refs, MAT_FIELDS))
        return params

    def consume_rng(self, op: SimProcess, rng: np.random.RandomState) -> None:
        # SimProcess.make_step seeds the process's own generator from the simulator's
        # (one draw when the process has no seed), for every process type.
        op.process.get_rng(rng)
