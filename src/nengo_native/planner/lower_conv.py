"""ConvInc and ConvTransposeInc (nengo's Convolution transforms) as native kernels."""

from __future__ import annotations

import numpy as np
from nengo.builder.transforms import ConvInc, ConvTransposeInc

from .layout import VEC_FIELDS, Layout, ref_fields
from .lowering import Lowering, register

GEOMETRY_FIELDS = (
    "x_h",
    "x_w",
    "x_c",
    "y_h",
    "y_w",
    "y_c",
    "k_h",
    "k_w",
    "stride_h",
    "stride_w",
    "pad_h",
    "pad_w",
    "groups",
    "channels_last",
)
WEIGHT_FIELDS = ("off", "bstride", "k1", "k2", "ci", "co")


def leading_pad(padding: str, large: int, small: int, stride: int, k: int) -> int:
    """Zeros before the first element of the large side (the convolution's input).

    nengo's ``calc_pad`` gives the total for "same", split floor-first; its transposed
    convolution pads the dilated input so that it is exactly the transpose of the
    convolution from its output shape to its input shape, with the same split.
    """
    if padding == "valid":
        return 0
    return max((small - 1) * stride + k - large, 0) // 2


def to_2d(shape) -> tuple:
    """A 1-D convolution is a 2-D one with a single row (as nengo's make_step does)."""
    return (1,) * (2 - len(shape)) + tuple(int(n) for n in shape)


def conv_fields(op, layout: Layout):
    """(geometry, weight fields, X ref, Y ref) of one operator, or None when the
    kernel cannot run it."""
    conv = op.conv
    transpose = isinstance(op, ConvTransposeInc)
    if conv.dimensions not in (1, 2):
        return None  # nengo's make_step raises its NotImplementedError
    groups = int(conv.groups)
    if transpose and groups != 1:
        return None
    W, X, Y = op.W, op.X, op.Y
    if not all(layout.is_dense_float(s) for s in (W, X, Y)):
        return None
    # Y is summed into while X and W are read, possibly by other threads: no element
    # may be shared (nengo's merging often puts X and Y in one base, side by side;
    # items of one base share its batch stride, so item 0's elements decide).
    written = layout.elem_offsets(Y).ravel()
    for read in (X, W):
        if (
            read.base is Y.base
            and np.intersect1d(written, layout.elem_offsets(read).ravel()).size
        ):
            return None
    x, y = layout.vec_ref(X), layout.vec_ref(Y)
    in_shape, out_shape = conv.input_shape, conv.output_shape
    if x is None or y is None or x[1] != in_shape.size or y[1] != out_shape.size:
        return None
    n_in, n_out = in_shape.n_channels, out_shape.n_channels
    kernel = tuple(conv.kernel_size)
    if W.shape != kernel + (n_in // groups, n_out):
        return None
    in_sp, out_sp = to_2d(in_shape.spatial_shape), to_2d(out_shape.spatial_shape)
    k, strides = to_2d(kernel), to_2d(conv.strides)
    large, small = (out_sp, in_sp) if transpose else (in_sp, out_sp)
    pads = [
        leading_pad(conv.padding, large[i], small[i], strides[i], k[i]) for i in (0, 1)
    ]
    geometry = (
        *in_sp,
        n_in,
        *out_sp,
        n_out,
        *k,
        *strides,
        *pads,
        groups,
        int(conv.channels_last),
    )
    wk = tuple(W.elemstrides[:-2])
    wk = (0,) * (2 - len(wk)) + wk
    weight = (layout.start(W), layout.bstride(W), *wk, *W.elemstrides[-2:])
    return geometry, weight, x, y


@register(ConvInc, ConvTransposeInc)
class ConvIncLowering(Lowering):
    """Y += W * X (a correlation, as nengo computes it) or its transpose.

    The kernel sums each output element's terms from zero before adding them to Y, as
    numpy's ``Y[...] += conv2d(X, W)`` does; the order of the terms differs from
    numpy's BLAS product, so results agree to rounding.
    """

    def group_key(self, op, layout):
        if conv_fields(op, layout) is None:
            return None
        return "conv_transpose_inc" if isinstance(op, ConvTransposeInc) else "conv_inc"

    def kernel_kind(self, key):
        return key

    def lower(self, ops, layout):
        fields = [conv_fields(op, layout) for op in ops]
        params = ref_fields("X", [f[2] for f in fields], VEC_FIELDS)
        params.update(ref_fields("Y", [f[3] for f in fields], VEC_FIELDS))
        params.update(ref_fields("W", [f[1] for f in fields], WEIGHT_FIELDS))
        geometry = np.array([f[0] for f in fields], dtype=np.int64)
        for i, name in enumerate(GEOMETRY_FIELDS):
            params[name] = geometry[:, i].copy()
        return params
