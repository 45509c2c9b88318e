"""The planner's own merging (``optimize=True``) against no merging and nengo.

The contract (issue 15): outputs of a merged plan stay within what nengo differs from
itself between ``optimize=True`` and ``optimize=False`` on the same network.
"""

from __future__ import annotations

import os
import sys
import warnings

import nengo
import numpy as np
import pytest
from nengo.exceptions import ValidationError

import nengo_native
from nengo_native.planner import KernelStep

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from bench.models import MODELS, make  # noqa: E402

# A sum of a few terms taken in another order moves by a few ULP of its terms, and
# 200 steps of filtering carry such differences along: 8 ULP of the output's size
# (basal ganglia with numpy 1.23's BLAS: 6 ULP between the dense kernel's order and
# numpy's, while nengo's own optimize=True and False differ by 4).
ULPS = 8
STEPS = 200


def run(cls, model, optimize, **kwargs):
    net, probe = make(model, "small")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fallbacks of some models are reported
        with cls(net, progress_bar=False, seed=0, optimize=optimize, **kwargs) as sim:
            sim.run_steps(STEPS)
            return sim.data[probe], sim


@pytest.mark.parametrize("model", sorted(MODELS))
def test_merged_plan_within_nengos_own_optimizer_difference(model):
    ref_true, _ = run(nengo.Simulator, model, True)
    ref_false, _ = run(nengo.Simulator, model, False)
    nengo_diff = np.max(np.abs(ref_true - ref_false))
    merged, sim = run(nengo_native.Simulator, model, True)
    unmerged, _ = run(nengo_native.Simulator, model, False)
    floor = ULPS * np.finfo(np.float64).eps * max(1.0, np.max(np.abs(ref_false)))
    tol = max(nengo_diff, floor)
    assert np.max(np.abs(merged - unmerged)) <= tol, model
    assert np.max(np.abs(merged - ref_false)) <= tol, model
    assert np.max(np.abs(merged - ref_true)) <= 2 * tol, model


def test_merging_makes_block_diagonal_products():
    """Circular convolution's encoder products (one per ensemble) become a few
    block-diagonal products, with nengo's optimizer off."""
    _, merged = run(nengo_native.Simulator, "circular_convolution", True)
    _, unmerged = run(nengo_native.Simulator, "circular_convolution", False)

    def ops_by_kind(sim):
        counts = {}
        for step in sim.program.steps:
            if isinstance(step, KernelStep):
                counts[step.kind] = counts.get(step.kind, 0) + len(step.ops)
        return counts

    m, u = ops_by_kind(merged), ops_by_kind(unmerged)
    assert m.get("bsr_dot_inc", 0) > 0 and "bsr_dot_inc" not in u
    # the same operators run, only grouped differently
    assert sum(m.values()) == sum(u.values())
    assert len(merged.step_order) == len(unmerged.step_order)  # model not rewritten


@pytest.mark.parametrize(
    "model", ["circular_convolution", "basal_ganglia", "integrator", "gated_memory"]
)
def test_merged_minibatch_items_equal_single_runs(model):
    """Merging chooses the same operators at every minibatch size (exact contract:
    an item equals the same input run alone)."""
    net, probe = make(model, "small")
    with nengo_native.Simulator(net, progress_bar=False, seed=0) as single:
        single.run_steps(50)
    with nengo_native.Simulator(
        net, progress_bar=False, seed=0, minibatch_size=3
    ) as batch:
        batch.run_steps(50)
    for item in range(3):
        np.testing.assert_array_equal(batch.data[probe][item], single.data[probe])


def test_optimize_nengo_is_todays_nengo_optimizer():
    """``optimize="nengo"`` runs nengo's optimizer (the model is rewritten) and
    gives nengo.Simulator's optimized output."""
    ref, _ = run(nengo.Simulator, "integrator", True)
    out, sim = run(nengo_native.Simulator, "integrator", "nengo")
    _, plain = run(nengo_native.Simulator, "integrator", True)
    assert len(sim.step_order) < len(plain.step_order)
    np.testing.assert_allclose(out, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("bad", ["yes", "Nengo", 1, None, 0.5])
def test_optimize_is_validated(bad):
    with nengo.Network() as net:
        nengo.Ensemble(5, 1)
    with pytest.raises(ValidationError, match="optimize"):
        nengo_native.Simulator(net, progress_bar=False, optimize=bad)
