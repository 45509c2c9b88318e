"""Reset, Copy and TimeUpdate as native kernels."""

from __future__ import annotations

import nengo.utils.numpy as npext
import numpy as np
from nengo.builder.operator import Copy, Reset, TimeUpdate

from .layout import Layout
from .lowering import Lowering, register


def segments(dst: np.ndarray, src: np.ndarray | None = None):
    """Run-length encode element offsets into unit-stride segments.

    A new segment starts wherever ``dst`` (or ``src``) does not continue the previous
    element by one, so repeated indices become separate segments run in order.
    """
    dst = np.asarray(dst, dtype=np.int64).ravel()
    if dst.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, (None if src is None else empty)
    breaks = np.diff(dst) != 1
    if src is not None:
        src = np.asarray(src, dtype=np.int64).ravel()
        breaks |= np.diff(src) != 1
    starts = np.concatenate([[0], np.flatnonzero(breaks) + 1])
    lengths = np.diff(np.concatenate([starts, [dst.size]]))
    return dst[starts], lengths, (None if src is None else src[starts])


def pack_segments(items, with_src: bool) -> dict[str, np.ndarray]:
    """Concatenate per-item segments into the ragged ``seg_*`` arrays."""
    counts = [len(item[0]) for item in items]
    params = {
        "seg_ptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "seg_dst": np.concatenate([item[0] for item in items]).astype(np.int64),
        "seg_len": np.concatenate([item[1] for item in items]).astype(np.int64),
    }
    if with_src:
        params["seg_src"] = np.concatenate([item[2] for item in items]).astype(np.int64)
    return params


@register(TimeUpdate)
class TimeUpdateLowering(Lowering):
    kind = "time_update"

    def group_key(self, op, layout: Layout):
        ok = op.step.base in layout.int_offset and layout.is_dense_float(op.time)
        return (self.kind, op) if ok and op.time.size == 1 else None

    def lower(self, ops, layout):
        (op,) = ops
        return {
            "step_off": np.array(
                [layout.int_offset[op.step.base] + op.step.elemoffset]
            ),
            "time_off": np.array([layout.start(op.time)]),
        }


@register(Reset)
class ResetLowering(Lowering):
    kind = "reset"

    def group_key(self, op, layout):
        return self.kind if layout.is_dense_float(op.dst) else None

    def lower(self, ops, layout):
        items = []
        for op in ops:
            run = unit_run(op.dst, layout)
            items.append(
                segments(layout.elem_offsets(op.dst))
                if run is None
                else run_segment(run)
            )
        params = pack_segments(items, with_src=False)
        params["dst_bstride"] = np.array([layout.bstride(op.dst) for op in ops])
        params["value"] = np.array([op.value for op in ops], dtype=np.float64)
        return params


def unit_run(sig, layout: Layout) -> tuple[int, int] | None:
    """(first arena offset, length) of a non-empty signal whose elements are one
    unit-stride run of the arena (most vectors), else None."""
    ref = layout.vec_ref(sig)
    if ref is None or ref[1] == 0 or (ref[2] != 1 and ref[1] > 1):
        return None
    return ref[0], ref[1]


def run_segment(dst: tuple[int, int], src: tuple[int, int] | None = None):
    """`segments` of one unit-stride run (of ``dst``, and ``src`` of the same length):
    what it would find, without the element offsets."""
    start, length = dst
    return (
        np.array([start]),
        np.array([length]),
        None if src is None else np.array([src[0]]),
    )


def copy_runs(op: Copy, layout: Layout):
    """(dst, src) `unit_run`s of a copy of a whole signal into one of the same size,
    else None (slices, broadcasting, strides: see `copy_offsets`)."""
    if op.src_slice is not None or op.dst_slice is not None:
        return None
    dst, src = unit_run(op.dst, layout), unit_run(op.src, layout)
    if dst is None or src is None or dst[1] != src[1]:
        return None
    return dst, src


def copy_offsets(op: Copy, layout: Layout):
    """Element offsets (dst, src) the copy touches, broadcast as numpy would."""
    src = layout.elem_offsets(op.src)
    dst = layout.elem_offsets(op.dst)
    if op.src_slice is not None:
        src = (
            src[np.asarray(op.src_slice)]
            if npext.is_array_like(op.src_slice)
            else src[op.src_slice]
        )
    if op.dst_slice is not None:
        dst = (
            dst[np.asarray(op.dst_slice)]
            if npext.is_array_like(op.dst_slice)
            else dst[op.dst_slice]
        )
    return dst, np.broadcast_to(src, dst.shape)


@register(Copy)
class CopyLowering(Lowering):
    kind = "copy"

    def group_key(self, op, layout):
        if not (layout.is_dense_float(op.src) and layout.is_dense_float(op.dst)):
            return None
        runs = copy_runs(op, layout)
        if runs is not None:
            (dst, n), (src, _) = runs
            if op.src.base is op.dst.base and dst < src + n and src < dst + n:
                return None  # overlapping copies need numpy's buffering semantics
            return (self.kind, op.inc)
        try:
            dst, src = copy_offsets(op, layout)
        except (IndexError, ValueError):
            return None  # let nengo raise its own error at make_step
        if op.src.base is op.dst.base and np.intersect1d(dst, src).size:
            return None  # overlapping copies need numpy's buffering semantics
        if not op.inc and np.unique(dst).size < dst.size:
            return None  # nengo refuses repeated indices without inc
        return (self.kind, op.inc)

    def lower(self, ops, layout):
        items = []
        for op in ops:
            runs = copy_runs(op, layout)
            items.append(
                segments(*copy_offsets(op, layout))
                if runs is None
                else run_segment(*runs)
            )
        params = pack_segments(items, with_src=True)
        params["src_bstride"] = np.array([layout.bstride(op.src) for op in ops])
        params["dst_bstride"] = np.array([layout.bstride(op.dst) for op in ops])
        params["inc"] = np.array([int(ops[0].inc)])
        return params
