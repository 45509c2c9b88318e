"""The arena layout: shared parameters first, then every item's copy of the state,
base by base (exact mode) or item by item (throughput mode)."""

from __future__ import annotations

import numpy as np
import pytest
from nengo.builder.signal import Signal

from nengo_native.planner.layout import CACHE_LINE_BYTES, Layout


def signals():
    rng = np.random.RandomState(0)
    weights = Signal(rng.randn(3, 5), name="weights")
    x = Signal(rng.randn(5), name="x")
    bias = Signal(rng.randn(3), name="bias")
    y = Signal(rng.randn(3), name="y")
    z = Signal(rng.randn(7), name="z")
    return [weights, x, bias, y, z], {x, y, z}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("item_major", [False, True])
def test_every_item_holds_its_own_copy_of_the_state(item_major, dtype):
    bases, written = signals()
    layout = Layout(bases, written, 4, dtype, dt=0.001, item_major=item_major)
    arena = np.full(layout.size, np.nan, dtype=dtype)
    layout.fill(arena, np.zeros(1, dtype=np.int64))
    for base in bases:
        view = layout.batch_view(arena, base)
        copies = 4 if base in written else 1
        assert layout.bstride(base) != 0 or copies == 1
        for item in range(copies):
            np.testing.assert_array_equal(view[item], base.initial_value.astype(dtype))
    # no two copies overlap: each element of the state belongs to one item of one base
    owner = np.zeros(layout.size, dtype=int)
    for base in written:
        for item in range(4):
            start = layout.offset[base] + item * layout.bstride(base)
            owner[start : start + base.size] += 1
    assert owner.max() == 1
    # the shared parameters come first, once each
    for base in set(bases) - written:
        assert layout.offset[base] + base.size <= layout.item_region.start


def test_item_major_keeps_each_item_together_on_cache_lines():
    bases, written = signals()
    layout = Layout(bases, written, 4, np.float32, dt=0.001, item_major=True)
    line = CACHE_LINE_BYTES // 4
    stride = layout.item_stride
    assert stride % line == 0 and layout.item_region.start % line == 0
    assert {layout.bstride(base) for base in written} == {stride}
    # x, y, z are next to each other within every item, as at minibatch size 1
    x, y, z = (b for b in bases if b in written)
    assert layout.offset[y] == layout.offset[x] + x.size
    assert layout.offset[z] == layout.offset[y] + y.size
    assert layout.keeps_adjacency


def test_base_major_keeps_a_bases_items_together():
    bases, written = signals()
    layout = Layout(bases, written, 4, np.float64, dt=0.001)
    for base in written:
        assert layout.bstride(base) == base.size
    assert not layout.keeps_adjacency


@pytest.mark.parametrize("item_major", [False, True])
def test_merging_sees_the_same_offsets_at_every_minibatch_size(item_major):
    bases, written = signals()
    single = Layout(bases, written, 1, np.float64, dt=0.001, item_major=item_major)
    batch = Layout(bases, written, 32, np.float64, dt=0.001, item_major=item_major)
    assert batch.single_item_offsets == single.offset == single.single_item_offsets


@pytest.mark.parametrize("item_major", [False, True])
def test_state_ranges_cover_every_items_state(item_major):
    bases, written = signals()
    layout = Layout(bases, written, 3, np.float64, dt=0.001, item_major=item_major)
    covered = np.zeros(layout.size, dtype=bool)
    for r in layout.state_ranges():
        covered[r] = True
    for base in bases:
        view = layout.batch_view(covered, base)
        assert view.all() == (base in written)
