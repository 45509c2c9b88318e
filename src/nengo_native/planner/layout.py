"""Where every signal lives: the arena layout and strided references into it."""

from __future__ import annotations

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


class Layout:
    """Offsets of base signals in the float arena and in the integer arena.

    Every base signal that some operator writes holds ``batch`` consecutive copies (one
    per minibatch item); a signal nobody writes (encoders, decoders, gains) is a
    parameter stored once and shared by the batch. A sparse signal stores its nonzero
    values; its structure goes into the kernels that use it.

    Parameters
    ----------
    bases : list of Signal
        Base signals in the order they should be laid out (contiguity follows it).
    written : set of Signal
        Base signals that some operator sets, increments or updates.
    batch : int
        Minibatch size.
    dtype : numpy.dtype
        Float type of the arena.
    """

    def __init__(self, bases, written, batch, dtype):
        self.batch = batch
        self.dtype = np.dtype(dtype)
        # Lowerings ask for the same signals' references many times.
        # Bases shared by the batch but written every step (the time), set by the
        # planner: they are state, like the batched bases.
        self.clock: list[Signal] = []
        self._elem_offsets: dict[Signal, np.ndarray] = {}
        self._vec_refs: dict[Signal, tuple | None] = {}
        self.offset: dict[Signal, int] = {}
        self.int_offset: dict[Signal, int] = {}
        self.batched: dict[Signal, bool] = {}
        self.sparse: dict[Signal, scipy.sparse.csr_matrix] = {}
        size = int_size = 0
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
            self.offset[base] = size
            self.batched[base] = base in written
            size += n * (batch if self.batched[base] else 1)
        self.size = size
        self.int_size = max(int_size, 1)

    # -- arena contents -------------------------------------------------------------

    def initial_arena(self) -> tuple[np.ndarray, np.ndarray]:
        """Initial float and integer arenas (every batch item starts the same)."""
        arena = np.zeros(self.size, dtype=self.dtype)
        for base, off in self.offset.items():
            if base in self.sparse:
                values = self.sparse[base].data
            else:
                values = np.asarray(base.initial_value).ravel()
            copies = self.batch if self.batched[base] else 1
            arena[off : off + copies * values.size] = np.tile(values, copies)
        int_arena = np.zeros(self.int_size, dtype=np.int64)
        for base, off in self.int_offset.items():
            values = np.asarray(base.initial_value).ravel()
            int_arena[off : off + values.size] = values
        return arena, int_arena

    def signal_dict(
        self, arena: np.ndarray, int_arena: np.ndarray, item: int = 0
    ) -> SignalDict:
        """A nengo `SignalDict` whose arrays are views of one batch item in the arena.

        nengo's own ``make_step`` closures (fallback operators, Python functions) read
        and write the simulator's memory through it.
        """
        signals = NativeSignalDict()
        for base, off in self.offset.items():
            if self.batched[base]:
                off += item * (
                    self.sparse[base].nnz if base in self.sparse else base.size
                )
            if base in self.sparse:
                csr = self.sparse[base]
                data = arena[off : off + csr.nnz]
                value = csr.copy()
                value.data = data  # scipy's constructor copies; the core needs a view
            else:
                value = arena[off : off + base.size].reshape(base.shape)
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

    def bstride(self, sig: Signal) -> int:
        base = sig.base
        if not self.batched[base]:
            return 0
        return self.sparse[base].nnz if base in self.sparse else base.size

    def batch_view(self, arena: np.ndarray, sig: Signal) -> np.ndarray:
        """View of ``sig`` over all batch items, shape ``(batch, *sig.shape)``."""
        itemsize = arena.itemsize
        view = np.lib.stride_tricks.as_strided(
            arena[self.start(sig) :],
            shape=(self.batch,) + sig.shape,
            strides=(self.bstride(sig) * itemsize,)
            + tuple(s * itemsize for s in sig.elemstrides),
            writeable=self.batched[sig.base],
        )
        return view

    def start(self, sig: Signal) -> int:
        """Arena offset of the first element of ``sig`` (batch item 0)."""
        return self.offset[sig.base] + sig.elemoffset

    def elem_offsets(self, sig: Signal) -> np.ndarray:
        """Arena offset of every element of ``sig``, in ``sig``'s shape (read-only:
        the array is shared)."""
        offsets = self._elem_offsets.get(sig)
        if offsets is None:
            strides = sig.elemstrides
            offsets = np.full(sig.shape, self.start(sig), dtype=np.int64)
            for axis, (n, stride) in enumerate(zip(sig.shape, strides)):
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
        dims = [(n, s) for n, s in zip(sig.shape, sig.elemstrides) if n != 1]
        if len(dims) > 1:
            return None
        n, stride = dims[0] if dims else (1, 1)
        return (self.start(sig), n, stride, self.bstride(sig))

    def mat_ref(self, sig: Signal):
        """(off, rows, cols, rstride, cstride, bstride); vectors are one row."""
        if sig.ndim > 2:
            return None
        if sig.ndim == 2:
            (rows, cols), (rs, cs) = sig.shape, sig.elemstrides
        elif sig.ndim == 1:
            rows, cols, rs, cs = 1, sig.shape[0], 0, sig.elemstrides[0]
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
    """nengo's `SignalDict`, with views computed in the arena's element size."""

    def __getitem__(self, key):
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            if not (isinstance(key, Signal) and key.is_view):
                raise
            base = dict.__getitem__(self, key.base)
            itemsize = base.dtype.itemsize
            view = np.ndarray(
                buffer=base,
                dtype=base.dtype,
                shape=key.shape,
                offset=key.elemoffset * itemsize,
                strides=tuple(s * itemsize for s in key.elemstrides),
            )
            view.flags.writeable = base.flags.writeable and not key.readonly
            dict.__setitem__(self, key, view)
            return view
