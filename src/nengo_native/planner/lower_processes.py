"""SimProcess as native kernels.

Exact types only (a user subclass may override ``make_step`` and falls back):

- ``linear_filter``: `nengo.LinearFilter`, `nengo.Lowpass`, `nengo.Alpha`. The step
  variant (NoX, OneX, OneXScalar, NoD, General) is chosen by nengo's own
  ``LinearFilter.make_step`` so the kernel does the same arithmetic, in the same
  order, as the Python step it replaces.
- ``process_noise``: `WhiteNoise`, `FilteredNoise` (with one of the filters above)
  and `BrownNoise`, with a `nengo.dists.Gaussian`, `Uniform` (not integer) or
  `Choice` distribution (others fall back). The kernel draws numpy's legacy
  ``RandomState`` streams (``normal``, ``uniform``, ``rand``) itself.
- ``process_lookup``: `WhiteSignal` (its periodic signal, drawn at ``make_step``,
  becomes a table), `PresentInput`, and `Piecewise` ('zero' interpolation is looked
  up from the data points; the scipy interpolations are evaluated here at every step
  time up to the last data point). Piecewise data with callables runs through
  nengo's step, which calls them (as node functions are called).
- ``process_triangle``: `nengo.synapses.Triangle`.

Random streams. Item 0 of a minibatch draws exactly what ``nengo.Simulator`` draws:
the process's generator is ``np.random.RandomState(s0)`` with ``s0`` the seed
``process.get_rng`` uses (``process.seed``, else one ``randint`` from the simulator's
generator). Item ``b >= 1`` uses ``nengo_native.seeds.item_rng(s0, b)``. In a
``predict``, item ``b`` of a minibatch is item ``i = first_item + b`` of the whole batch
and gets item ``i``'s streams, so a batch's result does not depend on how it is split.
``Simulator.reset(seed)`` replays the simulator's generator in nengo's step order;
`SimProcessLowering.consume_rng` returns each op's ``s0`` and `reseed` turns them into
the noise kernels' new generator states and WhiteSignal's new tables. Until the first
reset, an op without a seed of its own uses ``s0 = 0``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import nengo.dists
import numpy as np
from nengo.builder.processes import SimProcess
from nengo.dists import Choice, Gaussian, Uniform
from nengo.processes import (
    BrownNoise,
    FilteredNoise,
    Piecewise,
    PresentInput,
    WhiteNoise,
    WhiteSignal,
)
from nengo.synapses import Alpha, LinearFilter, Lowpass, Triangle
from nengo.utils.numpy import maxint

from .. import _core
from ..seeds import item_rng
from .layout import MAT_FIELDS, VEC_FIELDS, Layout, ref_fields
from .lowering import Lowering, register

_NATIVE_PROCESSES = (LinearFilter, Lowpass, Alpha)

# The kernels' codes, from the core: nengo's LinearFilter step classes, the lookup
# modes and nengo.dists classes, by name.
_VARIANTS = {getattr(LinearFilter, n): c for n, c in _core.FILTER_VARIANTS.items()}
_LOOKUP_MODES = _core.LOOKUP_MODES
_DISTS = {getattr(nengo.dists, n): code for n, code in _core.NOISE_DISTS.items()}
# The noise kernel's `filter` for white (unfiltered) noise: below every variant.
_NO_FILTER = -1


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


def synapse_step(synapse, shape: tuple, X, dt: float):
    """nengo's step object for a native filter ``synapse`` with state signal ``X``
    (built on a scratch state), or None."""
    if type(synapse) not in _NATIVE_PROCESSES:
        return None
    if X.ndim != len(shape) + 1 or X.shape[1:] != shape:
        return None
    # Discretizing (a matrix exponential) costs far more than the rest of planning a
    # filter, and models repeat the same few synapses many times.
    key = (
        type(synapse),
        tuple(np.ravel(synapse.num)),
        tuple(np.ravel(synapse.den)),
        synapse.analog,
        getattr(synapse, "method", None),
        shape,
        X.shape,
        dt,
    )
    if key not in _STEPS:
        try:
            step = synapse.make_step(
                shape, shape, dt, None, {"X": np.zeros(X.shape, dtype=np.float64)}
            )
        except Exception:  # noqa: BLE001 - whatever nengo refuses, it reports itself
            step = None
        if len(_STEPS) > 4096:
            _STEPS.clear()
        _STEPS[key] = step if type(step) in _VARIANTS else None
    return _STEPS[key]


# Discretized filter steps by synapse parameters (their coefficients are read only).
_STEPS: dict = {}


def filter_step(op: SimProcess, dt: float):
    """nengo's step object for ``op``'s filter (built on a scratch state), or None
    when ``op`` is not a filter this module runs natively."""
    process, inp, out = op.process, op.input, op.output
    if type(process) not in _NATIVE_PROCESSES or inp is None:
        return None
    if inp.shape != out.shape or "X" not in op.state or len(op.state) != 1:
        return None
    return synapse_step(process, out.shape, op.state["X"], dt)


def flat_vec_ref(sig, layout: Layout):
    """(off, n, stride, bstride) of ``sig`` flattened, if its elements are strided."""
    if not layout.is_dense_float(sig):
        return None
    r = affine_ref(layout.elem_offsets(sig).reshape(1, sig.size))
    return None if r is None else (r[0], sig.size, r[4], layout.bstride(sig))


def state_ref(X, size: int, layout: Layout):
    """(off, rows, cols, rstride, cstride, bstride) of a state flattened to
    (X.shape[0], size), if its elements form a strided grid."""
    if not layout.is_dense_float(X):
        return None
    x = affine_ref(layout.elem_offsets(X).reshape(X.shape[0], size))
    return None if x is None else (*x, layout.bstride(X))


def filter_refs(op: SimProcess, layout: Layout):
    """Strided refs of input, output and state X (flattened to (n_states, size)),
    or None when one of them is not a strided grid in the arena."""
    u = flat_vec_ref(op.input, layout)
    y = flat_vec_ref(op.output, layout)
    x = state_ref(op.state["X"], op.output.size, layout)
    return None if u is None or y is None or x is None else (u, y, x)


def _independent_elements(op: SimProcess, layout: Layout, states=None) -> bool:
    """Whether element j of the output depends only on element j of the input and
    column j of X, so the kernel may go element by element.

    nengo copies the input before writing the output. Going element by element gives
    the same result when input and output touch disjoint memory or exactly the same
    elements in the same order; the state must not overlap either of them.
    """
    states = [op.state["X"]] if states is None else states
    inp, out = (layout.elem_offsets(s).ravel() for s in (op.input, op.output))
    same_in_out = op.input.base is op.output.base
    if same_in_out and not np.array_equal(inp, out) and np.intersect1d(inp, out).size:
        return False
    for i, state in enumerate(states):
        X = layout.elem_offsets(state).ravel()
        for sig, offsets in ((op.input, inp), (op.output, out)):
            if sig.base is state.base and np.intersect1d(offsets, X).size:
                return False
        for other in states[i + 1 :]:
            if (
                other.base is state.base
                and np.intersect1d(layout.elem_offsets(other).ravel(), X).size
            ):
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


# An interpolated Piecewise is tabulated at every step up to its last data point;
# beyond this many table values it falls back.
_MAX_TABLE = 20_000_000


def item_rngs(
    s0: int, minibatch_size: int, first_item: int = 0
) -> list[np.random.RandomState]:
    """The generators of a minibatch's items for item 0's seed ``s0``: item ``b`` is
    item ``first_item + b`` of the whole batch (see `nengo_native.seeds`)."""
    return [item_rng(s0, first_item + b) for b in range(minibatch_size)]


def _plan_seed(op: SimProcess) -> int:
    return 0 if op.process.seed is None else int(op.process.seed)


def _rng_params(
    seeds: list[int], batch: int, first_item: int = 0
) -> dict[str, np.ndarray]:
    """Generator states of every (op, item), op-major, for the noise kernel."""
    keys, pos, has_gauss, gauss = [], [], [], []
    for s0 in seeds:
        for rng in item_rngs(s0, batch, first_item):
            _, key, p, has, cached = rng.get_state(legacy=True)
            keys.append(np.asarray(key, dtype=np.int64))
            pos.append(p)
            has_gauss.append(has)
            gauss.append(cached)
    return {
        "rng_key": np.concatenate(keys),
        "rng_pos": np.array(pos, dtype=np.int64),
        "rng_has_gauss": np.array(has_gauss, dtype=np.int64),
        "rng_gauss": np.array(gauss, dtype=np.float64),
    }


def _no_input_vector_out(op: SimProcess, layout: Layout):
    """The output's ref when ``op`` has no input and a 1-D output, else None."""
    if op.input is not None or op.output.ndim != 1:
        return None
    return layout.vec_ref(op.output) if layout.is_dense_float(op.output) else None


def _noise_filter(op: SimProcess, dt: float):
    """nengo's filter step of a FilteredNoise/BrownNoise op, None for WhiteNoise,
    False when the op cannot run natively."""
    if type(op.process) is WhiteNoise:
        return None if not op.state else False
    if set(op.state) != {"X"}:
        return False
    step = synapse_step(op.process.synapse, op.output.shape, op.state["X"], dt)
    if step is None:
        return False
    if type(step) is LinearFilter.General and op.mode == "inc":
        return False  # nengo's own (1, n) result is refused by `+=`; let nengo say so
    return step


def _noise_ok(op: SimProcess, layout: Layout) -> bool:
    process = op.process
    dist = process.dist
    if type(dist) is Uniform and dist.integer:
        return False  # randint's rejection sampling: nengo runs it
    if type(dist) not in (Gaussian, Uniform, Choice):
        return False  # other distributions sample differently: nengo runs them
    if type(dist) is Choice and dist.dimensions != op.output.size:
        return False  # nengo raises its own error at make_step
    if _no_input_vector_out(op, layout) is None:
        return False
    step = _noise_filter(op, layout.dt)
    if step is False:
        return False
    if step is not None:
        X = op.state["X"]
        if state_ref(X, op.output.size, layout) is None:
            return False
        out, x = (layout.elem_offsets(s).ravel() for s in (op.output, X))
        if X.base is op.output.base and np.intersect1d(out, x).size:
            return False
    return True


def _dist_params(dists) -> dict[str, np.ndarray]:
    """What the noise kernel draws from (see `NoiseKernel` in processes.h): Gaussian
    mean and std, Uniform low and range, or Choice cumulative weights and options."""
    kind, first, second, ptr, cdf, values = [], [], [], [0], [], []
    for dist in dists:
        kind.append(_DISTS[type(dist)])
        if type(dist) is Gaussian:
            first.append(float(dist.mean))
            second.append(float(dist.std))
        elif type(dist) is Uniform:
            # numpy's uniform: low + (high - low) * random_sample(), the range in double
            first.append(float(dist.low))
            second.append(float(dist.high) - float(dist.low))
        else:
            first.append(0.0)
            second.append(0.0)
            cdf.append(np.cumsum(dist.p))
            values.append(np.asarray(dist.options, dtype=np.float64).ravel())
        ptr.append(ptr[-1] + (len(cdf[-1]) if type(dist) is Choice else 0))
    return {
        "dist": np.array(kind, dtype=np.int64),
        "mean": np.array(first),
        "std": np.array(second),
        "choice_ptr": np.array(ptr, dtype=np.int64),
        "choice_cdf": np.concatenate([np.zeros(0)] + cdf),
        "choice_values": np.concatenate([np.zeros(0)] + values),
    }


def _whitesignal_table(op: SimProcess, dt: float, rng) -> np.ndarray:
    """WhiteSignal's periodic signal, as its ``make_step`` draws it from ``rng``."""
    process, shape = op.process, op.output.shape
    step = process.make_step((0,), shape, dt, rng, {})
    rows = 2 * int(np.ceil(process.period / dt / 2.0))
    # step(t) returns signal[round(t / dt) % rows]: at t = i * dt that is row i.
    return np.array([step(i * dt) for i in range(rows)], dtype=np.float64)


def _piecewise_points(process: Piecewise):
    tp, yp = zip(*sorted(process.data.items()), strict=True)
    return tp, yp


def _grid_rows(process: Piecewise, dt: float) -> int:
    """Steps 0, 1, ... until the first one at or past the last data point."""
    tp, _ = _piecewise_points(process)
    return max(int(np.ceil(float(max(tp)) / dt)) + 1, 0) + 1


def _step_grid(process: Piecewise, dt: float, dtype) -> np.ndarray:
    """Simulator times of the `_grid_rows` steps, as the time signal holds them
    (``step * dt`` stored in the arena type)."""
    steps = np.arange(_grid_rows(process, dt), dtype=np.int64)
    return (steps * dt).astype(dtype).astype(np.float64)


def _lookup_ok(op: SimProcess, layout: Layout) -> bool:
    ref = _no_input_vector_out(op, layout)
    if ref is None or op.state:
        return False
    process, dt = op.process, layout.dt
    if type(process) is WhiteSignal:
        try:  # nengo validates `high` at make_step; the fallback raises its error
            process.make_step((0,), op.output.shape, dt, np.random.RandomState(0), {})
        except Exception:  # noqa: BLE001
            return False
        return True
    if type(process) is PresentInput:
        inputs = np.asarray(process.inputs)
        return inputs.reshape(len(inputs), -1).shape[1] == op.output.size
    _, yp = _piecewise_points(process)
    if process.interpolation == "zero":
        return not any(callable(y) for y in yp)
    return _grid_rows(process, dt) * op.output.size <= _MAX_TABLE


def _lookup_table(op: SimProcess, layout: Layout, s0: int, first_item: int = 0):
    """(mode, rows, table of shape (items, rows, size), constants) of a lookup op."""
    process, dt, size = op.process, layout.dt, op.output.size
    if type(process) is WhiteSignal:
        tables = [
            _whitesignal_table(op, dt, rng)
            for rng in item_rngs(s0, layout.minibatch_size, first_item)
        ]
        return _LOOKUP_MODES["Periodic"], tables[0].shape[0], np.stack(tables), [dt]
    if type(process) is PresentInput:
        inputs = np.asarray(process.inputs)
        table = inputs.reshape(len(inputs), -1).astype(np.float64)
        aux = [dt, float(process.presentation_time)]
        return _LOOKUP_MODES["Present"], len(table), table[None], aux
    tp, yp = _piecewise_points(process)
    if process.interpolation == "zero":
        table = np.array([np.ravel(y) for y in yp], dtype=np.float64)
        aux = [dt, *map(float, tp)]
        return _LOOKUP_MODES["PiecewiseZero"], len(tp), table[None], aux
    grid = _step_grid(process, dt, layout.dtype)
    # (nengo's make_step warns about 'cubic' without t=0; so does this, as in nengo.)
    step = process.make_step((0,), op.output.shape, dt, None, {})
    table = np.asarray(step(grid), dtype=np.float64).reshape(grid.size, size)
    for n in {0, grid.size // 2, grid.size - 1}:
        if not np.array_equal(np.ravel(step(float(grid[n]))), table[n]):
            # scipy evaluated a whole array differently from one point: one by one.
            table = np.array([np.ravel(step(float(t))) for t in grid], dtype=np.float64)
            break
    return _LOOKUP_MODES["StepGrid"], grid.size, table[None], [dt, *grid]


def _triangle_ok(op: SimProcess, layout: Layout) -> bool:
    if op.input is None or op.input.shape != op.output.shape or op.output.ndim > 1:
        return False
    if set(op.state) != {"X", "Y", "Xi"}:
        return False
    X, Y, Xi = op.state["X"], op.state["Y"], op.state["Xi"]
    size = op.output.size
    if X.shape[1:] != op.output.shape or Y.shape != op.output.shape or Xi.size != 1:
        return False
    refs = [flat_vec_ref(s, layout) for s in (op.input, op.output, Y, Xi)]
    if any(r is None for r in refs) or state_ref(X, size, layout) is None:
        return False
    return _independent_elements(op, layout, [X, Y, Xi])


class ProcessLowering:
    """How the processes of one family become one kernel call.

    Registered for exact process types with `register_process`; `SimProcessLowering`
    dispatches on ``type(op.process)``, as nengo's ``Builder.register`` does on the
    object's type.
    """

    kind: str = ""

    def ok(self, op: SimProcess, layout: Layout) -> bool:
        """Whether the kernel can run ``op`` (else it falls back)."""
        raise NotImplementedError

    def lower(self, ops: list[SimProcess], layout: Layout) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def reseed(
        self, ops: list[SimProcess], draws: list[Any], layout: Layout, first_item=None
    ):
        """The kernel's seed-dependent parameters for the ops' seeds ``s0`` (what
        `SimProcessLowering.consume_rng` returned), or None when the kernel does not
        depend on the seed; ``first_item`` as for `Lowering.reseed`."""
        return None


_process_lowerings: dict[type, ProcessLowering] = {}


def register_process(*process_types: type):
    """Class decorator registering a `ProcessLowering` for exactly these types."""

    def decorator(cls):
        instance = cls()
        for process_type in process_types:
            _process_lowerings[process_type] = instance
        return cls

    return decorator


def process_lowering(op: SimProcess) -> ProcessLowering | None:
    # Exact type: a subclass may override make_step, so it falls back unless registered.
    return _process_lowerings.get(type(op.process))


@register_process(*_NATIVE_PROCESSES)
class FilterLowering(ProcessLowering):
    """`nengo.LinearFilter`, `nengo.Lowpass`, `nengo.Alpha`."""

    kind = "linear_filter"

    def ok(self, op: SimProcess, layout: Layout) -> bool:
        step = filter_step(op, layout.dt)
        if step is None:
            return False
        general = type(step) is LinearFilter.General
        if general and op.mode == "inc" and op.output.ndim > 0:
            # nengo's General step returns shape (1, n) here, which `output += ...`
            # refuses; the fallback raises nengo's own error.
            return False
        return filter_refs(op, layout) is not None and _independent_elements(op, layout)

    def lower(self, ops: list[SimProcess], layout: Layout) -> dict:
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


@register_process(WhiteNoise, FilteredNoise, BrownNoise)
class NoiseLowering(ProcessLowering):
    """`WhiteNoise`, `FilteredNoise` and `BrownNoise`, drawing in the kernel."""

    kind = "process_noise"

    def ok(self, op: SimProcess, layout: Layout) -> bool:
        return _noise_ok(op, layout)

    def lower(self, ops: list[SimProcess], layout: Layout) -> dict:
        return self._lower(ops, layout, [_plan_seed(op) for op in ops])

    def reseed(self, ops, draws, layout: Layout, first_item=None):
        seeds = [int(s) for s in draws]
        return _rng_params(seeds, layout.minibatch_size, first_item or 0)

    def _lower(self, ops: list[SimProcess], layout: Layout, seeds) -> dict:
        dt = layout.dt
        alpha = 1.0 / np.sqrt(dt)  # as nengo's make_step computes it
        filt, coef_ptr, coefs, x_refs = [], [0], [], []
        for op in ops:
            step = _noise_filter(op, dt)
            if step is None:
                filt.append(_NO_FILTER)
                c = np.zeros(0)
                x_refs.append((0, 0, 0, 0, 0, 0))
            else:
                filt.append(_VARIANTS[type(step)])
                c = filter_coefficients(step)
                x_refs.append(state_ref(op.state["X"], op.output.size, layout))
            coefs.append(c)
            coef_ptr.append(coef_ptr[-1] + c.size)
        params = {
            "inc": np.array([int(op.mode == "inc") for op in ops], dtype=np.int64),
            "scale": np.array([int(bool(op.process.scale)) for op in ops]),
            "filter": np.array(filt, dtype=np.int64),
            **_dist_params([op.process.dist for op in ops]),
            "alpha": np.full(len(ops), float(alpha)),
            "coef_ptr": np.array(coef_ptr, dtype=np.int64),
            "coef": np.concatenate(coefs).astype(np.float64),
        }
        params.update(
            ref_fields("out", [layout.vec_ref(op.output) for op in ops], VEC_FIELDS)
        )
        params.update(ref_fields("X", x_refs, MAT_FIELDS))
        params.update(_rng_params(seeds, layout.minibatch_size))
        return params


@register_process(WhiteSignal, PresentInput, Piecewise)
class LookupLowering(ProcessLowering):
    """`WhiteSignal`, `PresentInput` and `Piecewise`, looked up in tables."""

    kind = "process_lookup"

    def ok(self, op: SimProcess, layout: Layout) -> bool:
        return _lookup_ok(op, layout)

    def lower(self, ops: list[SimProcess], layout: Layout) -> dict:
        seeds = [_plan_seed(op) for op in ops]
        params, meta = self._tables(ops, layout, seeds)
        aux_ptr = np.concatenate([[0], np.cumsum([len(m[2]) for m in meta])])
        params.update(
            {
                "mode": np.array([m[0] for m in meta], dtype=np.int64),
                "rows": np.array([m[1] for m in meta], dtype=np.int64),
                "aux_ptr": aux_ptr.astype(np.int64),
                "aux": np.array([a for m in meta for a in m[2]], dtype=np.float64),
                "inc": np.array([int(op.mode == "inc") for op in ops], dtype=np.int64),
                "t_off": np.array([layout.start(op.t) for op in ops], dtype=np.int64),
            }
        )
        params.update(
            ref_fields("out", [layout.vec_ref(op.output) for op in ops], VEC_FIELDS)
        )
        return params

    def reseed(self, ops, draws, layout: Layout, first_item=None):
        # Only WhiteSignal draws its table from the seed.
        if any(type(op.process) is WhiteSignal for op in ops):
            seeds = [int(s) for s in draws]
            return self._tables(ops, layout, seeds, first_item or 0)[0]
        return None

    def _tables(self, ops, layout: Layout, seeds, first_item=0) -> tuple[dict, list]:
        ptr, bstride, tables, meta = [], [], [], []
        size = 0
        for op, s0 in zip(ops, seeds, strict=True):
            mode, rows, table, aux = _lookup_table(op, layout, s0, first_item)
            ptr.append(size)
            block = rows * op.output.size
            bstride.append(block if table.shape[0] > 1 else 0)
            tables.append(table.ravel())
            size += table.size
            meta.append((mode, rows, aux))
        params = {
            "table_ptr": np.array(ptr, dtype=np.int64),
            "table_bstride": np.array(bstride, dtype=np.int64),
            "table": np.concatenate(tables).astype(np.float64),
        }
        return params, meta


@register_process(Triangle)
class TriangleLowering(ProcessLowering):
    """`nengo.synapses.Triangle`."""

    kind = "process_triangle"

    def ok(self, op: SimProcess, layout: Layout) -> bool:
        return _triangle_ok(op, layout)

    def lower(self, ops: list[SimProcess], layout: Layout) -> dict:
        params = {}
        for prefix, name in (("U", "input"), ("out", "output")):
            refs = [flat_vec_ref(getattr(op, name), layout) for op in ops]
            params.update(ref_fields(prefix, refs, VEC_FIELDS))
        for name in ("Y", "Xi"):
            refs = [flat_vec_ref(op.state[name], layout) for op in ops]
            params.update(ref_fields(name, refs, VEC_FIELDS))
        x_refs = [state_ref(op.state["X"], op.output.size, layout) for op in ops]
        params.update(ref_fields("X", x_refs, MAT_FIELDS))
        coefs = [
            op.process._get_coefficients(layout.dt, dtype=op.state["Y"].dtype)
            for op in ops
        ]
        params["n0"] = np.array([float(c[1]) for c in coefs])
        params["ndiff"] = np.array([float(c[2]) for c in coefs])
        params["inc"] = np.array([int(op.mode == "inc") for op in ops], dtype=np.int64)
        return params


@register(SimProcess)
class SimProcessLowering(Lowering):
    """nengo's own processes, through the `ProcessLowering` of their exact type."""

    def group_key(self, op: SimProcess, layout: Layout) -> Hashable | None:
        lowering = process_lowering(op)
        if lowering is None or not lowering.ok(op, layout):
            return None
        return lowering.kind

    def kernel_kind(self, key: Hashable) -> str:
        return key

    def lower(self, ops: list[SimProcess], layout: Layout) -> dict[str, np.ndarray]:
        # A group holds one kind, so one family's lowering serves every op in it.
        return process_lowering(ops[0]).lower(ops, layout)

    def consume_rng(self, op: SimProcess, rng: np.random.RandomState) -> Any:
        # SimProcess.make_step seeds the process's own generator from the simulator's
        # (one draw when the process has no seed), for every process type; this is
        # `process.get_rng`'s own expression, returning the seed instead.
        return rng.randint(maxint) if op.process.seed is None else op.process.seed

    def reseed(self, ops, draws, layout: Layout, first_item=None):
        return process_lowering(ops[0]).reseed(ops, draws, layout, first_item)
