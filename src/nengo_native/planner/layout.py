"""Where every signal lives: the arena layout and strided references into it."""

from __future__ import annotations

import bisect

import numpy as np
import scipy.sparse
from nengo.builder.signal import Signal, SignalDict
from nengo.transforms import SparseMatrix


def sparse_value(sig: Signal) -> scipy.sparse.csr_matrix:
    """The CSR matrix nengo would allocate for a sparse signal."""
    value = sig.initial_value
    if isinstance(value, SparseMatrix):
        value = value.allocate()
    return scipy.sparse.csr_matrix(value)


CACHE_LINE_BYTES = 64
"""The core allocates the arena on a cache line (see `Layout`)."""


class Layout:
    """Offsets of base signals in the float arena and in the integer arena.

    A signal nobody writes (encoders, decoders, gains) is a parameter stored once and
    shared by the minibatch, in the arena's first region. Every base signal that some
    operator writes has one copy per minibatch item, in the region after it, in one of
    two orders:

    - item-major (``item_major=True``): item ``b``'s copies of all of them form one
      block, ``item_stride`` elements after item ``b - 1``'s. Bases next to each other
      in ``bases`` are then next to each other in every item, and a thread that runs
      some of the items works in one stretch of memory (the throughput mode's
      item-parallel runs; see the core's Executor::run).
    - base-major: each base's copies are consecutive, ``bstride`` = its size apart.
      The exact kernels read a base's items together (a minibatch in vector lanes).

    Above minibatch size 1 the region starts on a cache line (the core allocates the
    arena on one), and so does every item's block when item-major: threads that split
    the minibatch never write the same line. A sparse signal stores its nonzero
    values; its structure goes into the kernels that use it.

    Parameters
    ----------
    bases : list of Signal
        Base signals in the order they should be laid out (contiguity follows it).
    written : set of Signal
        Base signals that some operator sets, increments or updates.
    minibatch_size : int
        Number of minibatch items.
    dtype : numpy.dtype
        Float type of the arena.
    dt : float
        The simulator's time step (lowerings that discretize need it).
    clock : list of Signal, optional
        Bases shared by the minibatch but written every step (the time): state, like
        the per-item bases.
    item_major : bool, optional
        Lay the items' copies out item by item instead of base by base.
    column_major : set of Signal, optional
        Base matrices (2-D, or stacks of matrices) stored with their last two axes
        swapped, so that each column is contiguous: the weights of products whose input
        is mostly zeros (spikes), which then read only the columns of nonzero inputs.
        Their views must cover whole matrices (see `elemstrides`).
    """

    def __init__(
        self,
        bases,
        written,
        minibatch_size: int,
        dtype,
        *,
        dt: float,
        clock=(),
        column_major=(),
        item_major: bool = False,
    ):
        self.minibatch_size = int(minibatch_size)
        self.item_major = bool(item_major)
        self.dtype = np.dtype(dtype)
        self.dt = float(dt)
        self.column_major = set(column_major)
        # Lowerings ask for the same signals' references many times.
        self._elem_offsets: dict[Signal, np.ndarray] = {}
        self._vec_refs: dict[Signal, tuple | None] = {}
        # nengo recomputes a view's offset and strides from a new array each time.
        self._elemoffsets: dict[Signal, int] = {}
        self._elemstrides: dict[Signal, tuple[int, ...]] = {}
        self.offset: dict[Signal, int] = {}
        self.int_offset: dict[Signal, int] = {}
        self.per_item: dict[Signal, bool] = {}
        self.sparse: dict[Signal, scipy.sparse.csr_matrix] = {}
        shared = local = int_size = 0
        local_offset: dict[Signal, int] = {}
        for base in bases:
            if base.sparse:
                value = sparse_value(base)
                self.sparse[base] = value
                n = value.nnz
            elif base.dtype.kind in "iub":
                self.int_offset[base] = int_size
                int_size += max(base.size, 1)
                continue
            else:
                n = base.size
            self.per_item[base] = base in written
            if self.per_item[base]:
                local_offset[base] = local
                local += n
            else:
                self.offset[base] = shared
                shared += n
        # The layout at minibatch size 1, where the planner decides its merges, so
        # that they are the same at every size (see `single_item_offsets`).
        self._single_item = {
            **self.offset,
            **{base: shared + off for base, off in local_offset.items()},
        }
        line = CACHE_LINE_BYTES // self.dtype.itemsize
        if self.minibatch_size > 1:
            shared = -(-shared // line) * line
            if self.item_major:
                local = -(-local // line) * line
        self.item_stride = local if self.item_major else 0
        self.item_region = slice(shared, shared + self.minibatch_size * local)
        # Base-major: a base's copies take its size times the minibatch.
        scale = 1 if self.item_major else self.minibatch_size
        for base, off in local_offset.items():
            self.offset[base] = shared + off * scale
        self.clock: list[Signal] = [base for base in clock if base in self.offset]
        self.size = self.item_region.stop
        self.int_size = max(int_size, 1)

    # -- arena contents -------------------------------------------------------------

    def fill(self, arena: np.ndarray, int_arena: np.ndarray, bases=None) -> None:
        """Write the initial values of ``bases`` (default: all) into the arenas, every
        batch item the same."""
        if bases is None:
            bases = [*self.offset, *self.int_offset]
        for base in bases:
            if base in self.int_offset:
                off = self.int_offset[base]
                int_arena[off : off + base.size] = np.ravel(base.initial_value)
                continue
            off = self.offset[base]
            if base in self.sparse:
                values = self.sparse[base].data
            else:
                values = np.asarray(base.initial_value)
            if base in self.column_major:  # shared by the batch: one copy
                self._shaped(base, arena[off : off + values.size])[...] = values
                continue
            copies = self.minibatch_size if self.per_item[base] else 1
            np.lib.stride_tricks.as_strided(
                arena[off:],
                shape=(copies, values.size),
                strides=(self.bstride(base) * arena.itemsize, arena.itemsize),
            )[...] = values.ravel()

    def _shaped(self, base: Signal, flat: np.ndarray) -> np.ndarray:
        """A dense base's arena slice as an array of the base's shape (a view with
        swapped strides for a column-major base)."""
        if base in self.column_major:
            swapped = base.shape[:-2] + base.shape[-1:] + base.shape[-2:-1]
            return flat.reshape(swapped).swapaxes(-1, -2)
        return flat.reshape(base.shape)

    def signal_dict(
        self, arena: np.ndarray, int_arena: np.ndarray, item: int = 0
    ) -> SignalDict:
        """A nengo `SignalDict` whose arrays are views of one batch item in the arena.

        nengo's own ``make_step`` closures (fallback operators, Python functions) read
        and write the simulator's memory through it.
        """
        signals = NativeSignalDict(self.elemstrides)
        for base, off in self.offset.items():
            if self.per_item[base]:
                off += item * self.bstride(base)
            if base in self.sparse:
                csr = self.sparse[base]
                data = arena[off : off + csr.nnz]
                value = csr.copy()
                value.data = data  # scipy's constructor copies; the core needs a view
            else:
                flat = signals.flat[base] = arena[off : off + base.size]
                value = self._shaped(base, flat)
                value.flags.writeable = not base.readonly
            dict.__setitem__(signals, base, value)
        for base in self.int_offset:
            # The core counts in int64; nengo shows integer signals in their own dtype,
            # so they live in their own arrays, synchronized around each run.
            dict.__setitem__(
                signals, base, np.array(base.initial_value, dtype=base.dtype)
            )
        return signals

    def sync_ints(
        self, signals: SignalDict, int_arena: np.ndarray, to_core: bool
    ) -> None:
        """Copy integer signals between their nengo arrays and the core's arena."""
        for base, off in self.int_offset.items():
            value = dict.__getitem__(signals, base)
            if to_core:
                int_arena[off : off + base.size] = value.ravel()
            else:
                value[...] = int_arena[off : off + base.size].reshape(base.shape)

    # -- references for kernels -----------------------------------------------------

    def elemstrides(self, sig: Signal) -> tuple[int, ...]:
        """Arena element strides of ``sig``: nengo's, except in a column-major base.

        Of a column-major base, only whole matrices can be viewed (the base itself,
        or one or more matrices of a stack: nengo's optimizer merges weights into a
        stack and leaves each connection a view of its own matrix); a matrix starts
        at the same element in both orders.
        """
        strides = self._elemstrides.get(sig)
        if strides is None:
            strides = self._elemstrides[sig] = self._arena_strides(sig)
        return strides

    def _arena_strides(self, sig: Signal) -> tuple[int, ...]:
        base = sig.base
        if base not in self.column_major:
            return sig.elemstrides
        rows, cols = base.shape[-2:]
        whole_matrices = (
            sig.shape[-2:] == (rows, cols)
            and sig.elemstrides[-2:] == base.elemstrides[-2:]
            and self._elemoffset(sig) % (rows * cols) == 0
        )
        if not whole_matrices:
            raise ValueError(f"{sig} views part of a matrix of column-major {base}")
        return tuple(sig.elemstrides[:-2]) + (1, rows)

    def bstride(self, sig: Signal) -> int:
        base = sig.base
        if not self.per_item[base]:
            return 0
        if self.item_major:
            return self.item_stride
        return self.sparse[base].nnz if base in self.sparse else base.size

    @property
    def keeps_adjacency(self) -> bool:
        """Whether bases adjacent at minibatch size 1 are adjacent within every item,
        so that joined views (`merge`) cover the same items at every size."""
        return self.item_major or self.minibatch_size == 1

    @property
    def single_item_offsets(self) -> dict[Signal, int]:
        """Where each float base would start at minibatch size 1: the planner's
        merging decides on these, so its choices are the same at every size."""
        return self._single_item

    def state_ranges(self) -> list[slice]:
        """Arena slices holding everything some step writes (the simulation state):
        the clock and the items' region."""
        ranges = [
            slice(self.offset[base], self.offset[base] + base.size)
            for base in self.clock
        ]
        if self.item_region.stop > self.item_region.start:
            ranges.append(self.item_region)
        return ranges

    def batch_view(self, arena: np.ndarray, sig: Signal) -> np.ndarray:
        """View of ``sig`` over all batch items, shape ``(batch, *sig.shape)``."""
        itemsize = arena.itemsize
        view = np.lib.stride_tricks.as_strided(
            arena[self.start(sig) :],
            shape=(self.minibatch_size,) + sig.shape,
            strides=(self.bstride(sig) * itemsize,)
            + tuple(s * itemsize for s in self.elemstrides(sig)),
            writeable=self.per_item[sig.base],
        )
        return view

    def start(self, sig: Signal) -> int:
        """Arena offset of the first element of ``sig`` (batch item 0)."""
        return self.offset[sig.base] + self._elemoffset(sig)

    def _elemoffset(self, sig: Signal) -> int:
        offset = self._elemoffsets.get(sig)
        if offset is None:
            offset = self._elemoffsets[sig] = sig.elemoffset
        return offset

    def elem_offsets(self, sig: Signal) -> np.ndarray:
        """Arena offset of every element of ``sig``, in ``sig``'s shape (read-only:
        the array is shared)."""
        offsets = self._elem_offsets.get(sig)
        if offsets is None:
            strides = self.elemstrides(sig)
            offsets = np.full(sig.shape, self.start(sig), dtype=np.int64)
            for axis, (n, stride) in enumerate(zip(sig.shape, strides, strict=True)):
                shape = [1] * sig.ndim
                shape[axis] = n
                step = np.arange(n, dtype=np.int64) * stride
                offsets = offsets + step.reshape(shape)
            offsets.flags.writeable = False
            self._elem_offsets[sig] = offsets
        return offsets

    def vec_ref(self, sig: Signal):
        """(off, n, stride, bstride) of a signal that is a vector, else None."""
        if sig not in self._vec_refs:
            self._vec_refs[sig] = self._vec_ref(sig)
        return self._vec_refs[sig]

    def _vec_ref(self, sig: Signal):
        if sig.ndim == 0:
            return (self.start(sig), 1, 1, self.bstride(sig))
        dims = [
            (n, s)
            for n, s in zip(sig.shape, self.elemstrides(sig), strict=True)
            if n != 1
        ]
        if len(dims) > 1:
            return None
        n, stride = dims[0] if dims else (1, 1)
        return (self.start(sig), n, stride, self.bstride(sig))

    def mat_ref(self, sig: Signal):
        """(off, rows, cols, rstride, cstride, bstride); vectors are one row."""
        if sig.ndim > 2:
            return None
        if sig.ndim == 2:
            (rows, cols), (rs, cs) = sig.shape, self.elemstrides(sig)
        elif sig.ndim == 1:
            rows, cols, rs, cs = 1, sig.shape[0], 0, self.elemstrides(sig)[0]
        else:
            rows, cols, rs, cs = 1, 1, 0, 0
        return (self.start(sig), rows, cols, rs, cs, self.bstride(sig))

    def is_float(self, sig: Signal) -> bool:
        return sig.base in self.offset

    def is_dense_float(self, sig: Signal) -> bool:
        return sig.base in self.offset and sig.base not in self.sparse


VEC_FIELDS = ("off", "n", "stride", "bstride")
MAT_FIELDS = ("off", "rows", "cols", "rstride", "cstride", "bstride")


def ref_fields(prefix: str, refs, fields) -> dict[str, np.ndarray]:
    """Ragged per-item arrays ``<prefix>_<field>`` from a list of reference tuples."""
    columns = np.array(refs, dtype=np.int64).reshape(len(refs), len(fields))
    return {f"{prefix}_{name}": columns[:, i].copy() for i, name in enumerate(fields)}


class NativeSignalDict(SignalDict):
    """nengo's `SignalDict`, with views computed in the arena's element size and
    order (see `Layout.elemstrides`)."""

    def __init__(self, elemstrides):
        super().__init__()
        self._elemstrides = elemstrides
        # Each dense float base's arena slice; integer bases are their own arrays.
        self.flat: dict[Signal, np.ndarray] = {}

    def __getitem__(self, key):
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            if not (isinstance(key, Signal) and key.is_view):
                raise
            base = dict.__getitem__(self, key.base)
            flat = self.flat.get(key.base)
            if flat is None:
                flat = base.reshape(-1)
            view = np.lib.stride_tricks.as_strided(
                flat[key.elemoffset :],
                shape=key.shape,
                strides=tuple(s * flat.itemsize for s in self._elemstrides(key)),
                writeable=base.flags.writeable and not key.readonly,
            )
            dict.__setitem__(self, key, view)
            return view


def disjoint(layout: Layout, reads, writes) -> bool:
    """Whether the written signals overlap neither each other nor the read ones.

    Kernels update element by element, while numpy finishes each whole-array
    operation before the next; the two agree only when no element is shared.
    """
    written_ranges, read_ranges = _ranges(layout, writes), _ranges(layout, reads)
    if written_ranges is not None and read_ranges is not None:
        # The usual case, contiguous signals: compare ranges, not elements.
        written_ranges.sort()
        ends = [end for _, end in written_ranges]
        if any(
            start < end
            for (start, _), end in zip(written_ranges[1:], ends[:-1], strict=True)
        ):
            return False
        starts = [start for start, _ in written_ranges]
        for start, end in read_ranges:
            i = bisect.bisect_right(starts, start)
            # the written range starting at or before `start`, and the next one
            if i > 0 and ends[i - 1] > start or i < len(starts) and starts[i] < end:
                return False
        return True
    written = np.concatenate([layout.elem_offsets(s).ravel() for s in writes])
    if np.unique(written).size != written.size:
        return False
    read = np.concatenate([layout.elem_offsets(s).ravel() for s in reads])
    return not np.intersect1d(written, read).size


def _ranges(layout: Layout, sigs) -> list[tuple[int, int]] | None:
    """[start, end) arena ranges of contiguous signals; None if one is not."""
    ranges = []
    for sig in sigs:
        ref = layout.vec_ref(sig)
        if ref is None or (ref[1] > 1 and ref[2] != 1):
            return None
        if ref[1] > 0:
            ranges.append((ref[0], ref[0] + ref[1]))
    return ranges
