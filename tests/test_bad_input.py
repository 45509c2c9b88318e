"""Malformed use raises a clear exception (nengo's types), and never crashes.

The catalogue
-------------
`CASES` lists malformed uses, one per entry, each with the exception type a user gets
and a pattern its message must match; `test_catalogue` runs each on a fresh simulator
and then checks that the simulator is unchanged and still runs (where the case leaves
it open and runnable). Sections of `CASES`:

=========================  =====  ==================================================
section                    cases  what
=========================  =====  ==================================================
data keys                      6  not a Node, a foreign node, a node with input, ...
data shapes                    8  ndim, steps, size_out, minibatch, ragged, scalar
data types and values         10  strings, object, complex, None, NaN, inf, float32,
                                   step data, data for 0 steps
minibatch_size                 7  0, negative, float, str, bool, too big (2 dtypes)
constructor                   11  dt, seed, model, progress_bar
running                        7  steps' memory, reset seeds, progress_bar, trange
predict                       11  batch sizes, non-input nodes, n_steps, stateful
after close                    4  predict, predict_on_batch, signals, run with data
sim.data and attributes        4  foreign probe, foreign object, dt, probe arrays
configure_settings             4  unknown names, outside a network, bad values
BatchNode                     10  bad arguments; bad return values at run time
=========================  =====  ==================================================

82 cases in `CASES` (``test_catalogue_size`` keeps this table honest). The dedicated
tests below add: run/run_steps/step/reset/re-enter on a closed simulator (6), bad run
times (7) and step counts (7), bad dtypes (5), node functions that raise (3: the error
propagates, the probes keep the finished steps, the clock shows them, the simulator
runs on), a BatchNode function that raises (1), a node that raises inside predict (1:
the simulator's state and clock are left as they were), node functions returning wrong
shapes, NaN or non-numbers (7), unbuildable networks (4), writes of bad values into
signals (4), re-entrant calls from a node (3), malformed Programs at the core's border
(2), ``run_steps(0)`` (1), and the memory estimate against a measured large minibatch
and the available-memory reading (2).

Fixed while writing this (each was a crash, a hang, an out-of-memory kill or a
misleading message before): minibatch memory estimate (a minibatch of 10**7 of a small
model passed the old check and took all memory; free memory was read as MemFree, so page
cache counted as used, and a container's limit was ignored), probe memory for long runs
and predictions, numeric strings and complex data silently cast, float32 overflow of
data, dt/seed/model/progress_bar/n_steps/stateful/sample_every unchecked (NumPy or
pybind11 errors, or nonsense results), an empty predict batch or dict, signals after
close, sim.data keys not in the model, BatchNode's float shapes. ``run_steps(0)`` raises
ValidationError, as nengo's does (issue 15; it was a no-op here before).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nengo
import numpy as np
import pytest
from nengo.exceptions import (
    BuildError,
    ConfigError,
    NetworkContextError,
    ReadonlyError,
    SimulationError,
    SimulatorClosed,
    ValidationError,
)

import nengo_native
from nengo_native import BatchNode


def small_net():
    with nengo.Network(seed=0) as net:
        stim = nengo.Node(lambda t: [np.sin(10 * t)])
        ens = nengo.Ensemble(20, 1)
        nengo.Connection(stim, ens)
        net.probe = nengo.Probe(ens, synapse=0.01)
    return net


@pytest.fixture
def sim():
    s = nengo_native.Simulator(small_net(), progress_bar=False)
    yield s
    s.close()


# -- the catalogue ---------------------------------------------------------------------


def feed_net():
    """Two input nodes (one constant, one a function), an ensemble, a passthrough."""
    with nengo.Network(seed=0) as net:
        net.stim = nengo.Node([0.5], label="stim")
        net.stim2 = nengo.Node(lambda t: [t, -t], label="stim2")
        net.ens = nengo.Ensemble(10, 1)
        net.mid = nengo.Node(size_in=1, label="mid")
        nengo.Connection(net.stim, net.ens)
        nengo.Connection(net.ens, net.mid)
        nengo.Connection(net.stim2[0], net.mid)
        net.p = nengo.Probe(net.ens, synapse=0.01)
        net.pm = nengo.Probe(net.mid)
    return net


def batch_node_net(func):
    def make():
        with nengo.Network(seed=0) as net:
            net.stim = nengo.Node([0.5, -0.5], label="stim")
            net.bn = BatchNode(func, shape_in=2, shape_out=2, label="bn")
            nengo.Connection(net.stim, net.bn, synapse=None)
            net.p = nengo.Probe(net.bn)
        return net

    return make


@dataclass
class Ctx:
    net: Any
    sim: Any  # None for cases that make their own simulator


@dataclass
class Case:
    id: str
    call: Callable[[Ctx], Any]
    exc: type
    match: str
    sim: dict | None = field(default_factory=dict)  # None: the case builds it
    net: Callable = feed_net
    usable: bool = True  # the simulator runs on afterwards


def new_sim(**kwargs):
    def call(ctx):
        nengo_native.Simulator(ctx.net, **{"progress_bar": False, **kwargs}).close()

    return call


def in_net(fn):
    def call(ctx):
        with ctx.net:
            fn()

    return call


def closed(fn):
    def call(ctx):
        ctx.sim.close()
        fn(ctx.sim)

    return call


def zeros(*shape):
    return np.zeros(shape)


MB4 = {"minibatch_size": 4}
STR = np.array([[["1.0"]] * 5])  # numeric strings: not silently cast
FOREIGN_NODE = nengo.Node([1.0], label="foreign", add_to_container=False)
FOREIGN_ENS = nengo.Ensemble(2, 1, add_to_container=False)
FOREIGN_PROBE = nengo.Probe(FOREIGN_ENS, add_to_container=False)

CASES = [
    # data keys
    Case(
        "data-key-str",
        lambda c: c.sim.run_steps(5, data={"stim": zeros(1, 5, 1)}),
        ValidationError,
        "keys must be nengo Nodes .got str",
    ),
    Case(
        "data-key-ensemble",
        lambda c: c.sim.run_steps(5, data={c.net.ens: zeros(1, 5, 1)}),
        ValidationError,
        "keys must be nengo Nodes .got Ensemble",
    ),
    Case(
        "data-key-foreign-node",
        lambda c: c.sim.run_steps(5, data={FOREIGN_NODE: zeros(1, 5, 1)}),
        ValidationError,
        "'foreign' cannot be fed: it is not in this simulator's model",
    ),
    Case(
        "data-key-node-with-input",
        lambda c: c.sim.run_steps(5, data={c.net.mid: zeros(1, 5, 1)}),
        ValidationError,
        r"'mid' cannot be fed: it has an input \(size_in > 0\)",
    ),
    Case(
        "data-bare-array-two-inputs",
        lambda c: c.sim.run_steps(5, data=zeros(1, 5, 1)),
        ValidationError,
        "a bare array needs exactly one input node; the model has 2",
    ),
    Case(
        "data-list-of-arrays",
        lambda c: c.sim.run(0.005, data=[zeros(1, 5, 1), zeros(1, 5, 2)]),
        ValidationError,
        "pass a dict",
    ),
    # data shapes
    Case(
        "data-2d",
        lambda c: c.sim.run_steps(5, data={c.net.stim: zeros(5, 1)}),
        ValidationError,
        r"'stim' has shape \(5, 1\); expected \(1, 5, 1\) \(minibatch, n_steps",
    ),
    Case(
        "data-4d",
        lambda c: c.sim.run_steps(5, data={c.net.stim: zeros(1, 5, 1, 1)}),
        ValidationError,
        r"has shape \(1, 5, 1, 1\); expected \(1, 5, 1\)",
    ),
    Case(
        "data-wrong-steps",
        lambda c: c.sim.run_steps(5, data={c.net.stim: zeros(1, 4, 1)}),
        ValidationError,
        "'stim' has 4 steps; expected 5",
    ),
    Case(
        "data-wrong-steps-run",
        lambda c: c.sim.run(0.005, data={c.net.stim: zeros(1, 6, 1)}),
        ValidationError,
        "'stim' has 6 steps; expected 5",
    ),
    Case(
        "data-wrong-size-out",
        lambda c: c.sim.run_steps(5, data={c.net.stim2: zeros(1, 5, 1)}),
        ValidationError,
        r"'stim2' has shape \(1, 5, 1\); expected \(1, 5, 2\)",
    ),
    Case(
        "data-wrong-minibatch",
        lambda c: c.sim.run_steps(5, data={c.net.stim: zeros(3, 5, 1)}),
        ValidationError,
        r"has shape \(3, 5, 1\); expected \(4, 5, 1\)",
        sim=MB4,
    ),
    Case(
        "data-scalar",
        lambda c: c.sim.run_steps(5, data={c.net.stim: 0.5}),
        ValidationError,
        r"has shape \(\); expected \(1, 5, 1\)",
    ),
    Case(
        "data-ragged",
        lambda c: c.sim.run_steps(5, data={c.net.stim: [[[1.0]], [[1.0], [2.0]]]}),
        ValidationError,
        "'stim' is not numeric",
    ),
    # data types and values
    Case(
        "data-strings",
        lambda c: c.sim.run_steps(5, data={c.net.stim: np.full((1, 5, 1), "a")}),
        ValidationError,
        r"'stim' is not numeric \(dtype <U1\)",
    ),
    Case(
        "data-numeric-strings",
        lambda c: c.sim.run_steps(5, data={c.net.stim: STR}),
        ValidationError,
        r"is not numeric \(dtype <U3\); expected real numbers",
    ),
    Case(
        "data-object-array",
        lambda c: c.sim.run_steps(
            5, data={c.net.stim: np.full((1, 5, 1), 1.0, dtype=object)}
        ),
        ValidationError,
        r"is not numeric \(dtype object\)",
    ),
    Case(
        "data-complex",
        lambda c: c.sim.run_steps(5, data={c.net.stim: np.ones((1, 5, 1)) * 1j}),
        ValidationError,
        r"is not numeric \(dtype complex128\)",
    ),
    Case(
        "data-none-value",
        lambda c: c.sim.run_steps(5, data={c.net.stim: None}),
        ValidationError,
        r"is not numeric \(dtype object\)",
    ),
    Case(
        "data-nan",
        lambda c: c.sim.run_steps(
            5, data={c.net.stim: np.where(np.arange(5) == 3, np.nan, 0)[None, :, None]}
        ),
        ValidationError,
        r"'stim' contains NaN or infinite values \(first at index \(0, 3, 0\)\)",
    ),
    Case(
        "data-inf",
        lambda c: c.sim.run_steps(5, data={c.net.stim: np.full((1, 5, 1), -np.inf)}),
        ValidationError,
        "contains NaN or infinite values",
    ),
    Case(
        "data-float32-overflow",
        lambda c: c.sim.run_steps(5, data={c.net.stim: np.full((1, 5, 1), 1e39)}),
        ValidationError,
        "'stim' has values beyond the range of float32",
        sim={"dtype": "float32"},
    ),
    Case(
        "step-data-two-steps",
        lambda c: c.sim.step(data={c.net.stim: zeros(1, 2, 1)}),
        ValidationError,
        "'stim' has 2 steps; expected 1",
    ),
    Case(
        "run-steps-0-with-data",
        lambda c: c.sim.run_steps(0, data={c.net.stim: zeros(1, 4, 1)}),
        ValidationError,
        "'stim' has 4 steps; expected 0",
    ),
    # minibatch_size
    Case("mb-0", new_sim(minibatch_size=0), ValidationError, r"at least 1 \(got 0\)"),
    Case("mb-negative", new_sim(minibatch_size=-3), ValidationError, "at least 1"),
    Case(
        "mb-float",
        new_sim(minibatch_size=2.0),
        ValidationError,
        r"minibatch_size: must be a positive integer or None \(got 2.0\)",
    ),
    Case("mb-str", new_sim(minibatch_size="4"), ValidationError, "positive integer"),
    Case("mb-bool", new_sim(minibatch_size=True), ValidationError, "positive integer"),
    Case(
        "mb-too-big-for-memory",
        new_sim(minibatch_size=10**9),
        ValidationError,
        r"minibatch_size: the simulator's state would need about [\d.]+ GiB with a "
        r"minibatch of 1000000000, but only [\d.]+ GiB is available",
        sim=None,
    ),
    Case(
        "mb-too-big-for-memory-float32",
        new_sim(minibatch_size=10**9, dtype="float32"),
        ValidationError,
        "would need about .* GiB",
        sim=None,
    ),
    # constructor
    Case("dt-0", new_sim(dt=0), ValidationError, r"dt: must be a positive finite"),
    Case("dt-negative", new_sim(dt=-0.001), ValidationError, r"positive finite"),
    Case("dt-nan", new_sim(dt=float("nan")), ValidationError, r"positive finite"),
    Case("dt-inf", new_sim(dt=float("inf")), ValidationError, r"positive finite"),
    Case("dt-str", new_sim(dt="1ms"), ValidationError, r"dt: must be a number"),
    Case("seed-negative", new_sim(seed=-1), ValidationError, r"seed: must be in \["),
    Case("seed-float", new_sim(seed=1.5), ValidationError, r"seed: must be an integer"),
    Case("seed-too-big", new_sim(seed=2**32), ValidationError, r"2\*\*32"),
    Case("seed-str", new_sim(seed="1"), ValidationError, r"seed: must be an integer"),
    Case(
        "model-not-a-model",
        new_sim(model="model"),
        ValidationError,
        r"model: must be a nengo.builder.Model or None \(got str\)",
    ),
    Case(
        "progress-bar-str",
        new_sim(progress_bar="yes"),
        ValidationError,
        "progress_bar: must be True, False, None or a .*ProgressBar",
    ),
    # running
    Case(
        "run-steps-probe-memory",
        lambda c: c.sim.run_steps(10**12),
        ValidationError,
        r"steps: probe data for 1000000000000 steps would need about [\d.]+ GiB",
    ),
    Case(
        "run-time-probe-memory",
        lambda c: c.sim.run(1e10),
        ValidationError,
        r"probe data for 10000000000000 steps would need about",
    ),
    Case(
        "reset-seed-negative", lambda c: c.sim.reset(seed=-5), ValidationError, "seed"
    ),
    Case("reset-seed-str", lambda c: c.sim.reset(seed="x"), ValidationError, "integer"),
    Case(
        "run-progress-bar-str",
        lambda c: c.sim.run_steps(3, progress_bar="yes"),
        ValidationError,
        "progress_bar: must be",
    ),
    Case(
        "trange-sample-every-0",
        lambda c: c.sim.trange(sample_every=0),
        ValidationError,
        r"sample_every: must be a positive finite number \(got 0\)",
    ),
    Case(
        "trange-dt-and-sample-every",
        lambda c: c.sim.trange(dt=0.01, sample_every=0.01),
        ValidationError,
        "Cannot specify both `dt` and `sample_every`",
    ),
    # predict
    Case(
        "predict-batch-under-one-minibatch",
        lambda c: c.sim.predict({c.net.stim: zeros(3, 5, 1)}),
        ValidationError,
        "x: the data have 3 samples, fewer than one minibatch",
        sim=MB4,
    ),
    Case(
        "predict-mixed-batch-sizes",
        lambda c: c.sim.predict(
            {c.net.stim: zeros(4, 5, 1), c.net.stim2: zeros(8, 5, 2)}
        ),
        ValidationError,
        r"'stim2' has shape \(8, 5, 2\); expected \(4, 5, 2\)",
        sim=MB4,
    ),
    Case(
        "predict-x-for-non-input-node",
        lambda c: c.sim.predict({c.net.mid: zeros(4, 5, 1)}),
        ValidationError,
        "x: Node 'mid' cannot be fed: it has an input",
        sim=MB4,
    ),
    Case(
        "predict-no-x-no-n-steps",
        lambda c: c.sim.predict(),
        ValidationError,
        "give input data or n_steps",
        sim=MB4,
    ),
    Case(
        "predict-empty-dict",
        lambda c: c.sim.predict({}),
        ValidationError,
        "give input data or n_steps",
        sim=MB4,
    ),
    Case(
        "predict-empty-batch",
        lambda c: c.sim.predict({c.net.stim: zeros(0, 5, 1)}),
        ValidationError,
        r"the batch is empty \(0 items\)",
        sim=MB4,
    ),
    Case(
        "predict-n-steps-negative",
        lambda c: c.sim.predict(n_steps=-1),
        ValidationError,
        r"n_steps: Must be a non-negative integer \(got -1\)",
        sim=MB4,
    ),
    Case(
        "predict-n-steps-float",
        lambda c: c.sim.predict_on_batch(n_steps=2.5),
        ValidationError,
        r"n_steps: Must be a non-negative integer \(got 2.5\)",
        sim=MB4,
    ),
    Case(
        "predict-n-steps-mismatch",
        lambda c: c.sim.predict({c.net.stim: zeros(4, 5, 1)}, n_steps=3),
        ValidationError,
        "'stim' has 5 steps; expected 3",
        sim=MB4,
    ),
    Case(
        "predict-on-batch-wrong-batch",
        lambda c: c.sim.predict_on_batch({c.net.stim: zeros(8, 5, 1)}),
        ValidationError,
        r"has shape \(8, 5, 1\); expected \(4, 5, 1\)",
        sim=MB4,
    ),
    Case(
        "predict-stateful-str",
        lambda c: c.sim.predict(n_steps=2, stateful="no"),
        ValidationError,
        "stateful: must be True or False",
        sim=MB4,
    ),
    # after close
    Case(
        "closed-predict",
        closed(lambda s: s.predict(n_steps=2)),
        SimulatorClosed,
        "closed",
    ),
    Case(
        "closed-predict-on-batch",
        closed(lambda s: s.predict_on_batch(n_steps=2)),
        SimulatorClosed,
        "closed",
    ),
    Case(
        "closed-signals",
        closed(lambda s: s.signals[s.model.step]),
        SimulatorClosed,
        "closed: its signals were freed",
    ),
    Case(
        "closed-run-with-data",
        closed(lambda s: s.run_steps(5, data={FOREIGN_NODE: zeros(1, 5, 1)})),
        SimulatorClosed,
        "closed",
    ),
    # sim.data and attributes
    Case(
        "sim-data-foreign-probe",
        lambda c: c.sim.data[FOREIGN_PROBE],
        KeyError,
        "this probe is not part of this simulator's model",
    ),
    Case(
        "sim-data-foreign-ensemble",
        lambda c: c.sim.data[FOREIGN_ENS],
        KeyError,
        "this object is not part of this simulator's model",
    ),
    Case(
        "set-dt",
        lambda c: setattr(c.sim, "dt", 0.01),
        ReadonlyError,
        "dt is read-only",
    ),
    Case(
        "write-probe-data",
        lambda c: c.sim.data[c.net.p].__setitem__(0, 1.0),
        ValueError,
        "read-only",
    ),
    # configure_settings
    Case(
        "configure-unknown-setting",
        in_net(lambda: nengo_native.configure_settings(trainabel=False)),
        ConfigError,
        "Unknown nengo_native setting 'trainabel'; valid settings are 'trainable'",
        sim=None,
    ),
    Case(
        "configure-outside-network",
        lambda c: nengo_native.configure_settings(trainable=False),
        NetworkContextError,
        "must be called inside a network context",
        sim=None,
    ),
    Case(
        "configure-trainable-not-bool",
        in_net(lambda: nengo_native.configure_settings(trainable="yes")),
        ValidationError,
        "trainable: must be None, True or False",
        sim=None,
    ),
    Case(
        "configure-lif-smoothing-negative",
        in_net(lambda: nengo_native.configure_settings(lif_smoothing=-0.1)),
        ValidationError,
        "lif_smoothing: must be None or a positive finite number",
        sim=None,
    ),
    # BatchNode: arguments
    Case(
        "batchnode-not-callable",
        in_net(lambda: BatchNode(5, shape_in=2)),
        ValidationError,
        "func: must be callable",
        sim=None,
    ),
    Case(
        "batchnode-shape-negative",
        in_net(lambda: BatchNode(lambda t, x: x, shape_in=-2, shape_out=2)),
        ValidationError,
        r"shape_in: must be positive integers \(got \(-2,\)\)",
        sim=None,
    ),
    Case(
        "batchnode-shape-float",
        in_net(lambda: BatchNode(lambda t, x: x, shape_in=2.5, shape_out=2)),
        ValidationError,
        r"shape_in: must be an int or a tuple of ints \(got 2.5\)",
        sim=None,
    ),
    Case(
        "batchnode-no-input-no-time",
        in_net(lambda: BatchNode(lambda x: x, shape_out=2, pass_time=False)),
        ValidationError,
        "pass_time: a node with no input must receive the time",
        sim=None,
    ),
    Case(
        "batchnode-gradient-not-callable",
        in_net(lambda: BatchNode(lambda t, x: x, shape_in=2, gradient=1)),
        ValidationError,
        "gradient: must be callable or None",
        sim=None,
    ),
    Case(
        "batchnode-uninferable-shape",
        in_net(lambda: BatchNode(lambda t: 1.0)),
        ValidationError,
        "shape_out: could not infer the output shape",
        sim=None,
    ),
    # BatchNode: return values at run time (the simulator stays at step 0)
    Case(
        "batchnode-returns-wrong-shape",
        lambda c: c.sim.run_steps(3),
        SimulationError,
        r"bn: function returned shape \(4, 5\); expected \(4, 2\) \(minibatch",
        sim=MB4,
        net=batch_node_net(lambda t, x: np.zeros((4, 5))),
        usable=False,
    ),
    Case(
        "batchnode-returns-one-item",
        lambda c: c.sim.run_steps(3),
        SimulationError,
        r"returned shape \(1, 2\); expected \(4, 2\)",
        sim=MB4,
        net=batch_node_net(lambda t, x: x[:1]),
        usable=False,
    ),
    Case(
        "batchnode-returns-nan",
        lambda c: c.sim.run_steps(3),
        SimulationError,
        "bn: function returned non-finite values",
        sim=MB4,
        net=batch_node_net(lambda t, x: x * np.nan),
        usable=False,
    ),
    Case(
        "batchnode-returns-str",
        lambda c: c.sim.run_steps(3),
        SimulationError,
        "bn: function returned str, not numbers",
        sim=MB4,
        net=batch_node_net(lambda t, x: "x"),
        usable=False,
    ),
]


def test_catalogue_size():
    assert len(CASES) == 82
    assert len({case.id for case in CASES}) == len(CASES)


def n_samples(sim, probe) -> int:
    batched = (sim.minibatch_size or 1) > 1  # (minibatch, samples, ...)
    return sim.data[probe].shape[1 if batched else 0]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_catalogue(case):
    net = case.net()
    if case.sim is None:
        with pytest.raises(case.exc, match=case.match):
            case.call(Ctx(net, None))
        return
    sim = nengo_native.Simulator(net, progress_bar=False, **case.sim)
    try:
        before = 2 if case.usable else 0
        if before:
            sim.run_steps(before)  # (run_steps(0) raises, as in nengo)
        with pytest.raises(case.exc, match=case.match):
            case.call(Ctx(net, sim))
        assert sim.n_steps == before  # nothing ran
        if sim.closed:
            assert all(n_samples(sim, p) == before for p in sim.model.probes)
        elif case.usable:
            sim.run_steps(3)
            assert sim.n_steps == before + 3
            assert all(n_samples(sim, p) == before + 3 for p in sim.model.probes)
    finally:
        sim.close()


# -- closed simulator ------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: s.run(0.01), "closed"),
        (lambda s: s.run_steps(3), "closed"),
        (lambda s: s.step(), "closed"),
        (lambda s: s.reset(), "closed"),
        (lambda s: s.reset(seed=5), "closed"),
        (lambda s: s.__enter__(), "closed"),
    ],
    ids=["run", "run_steps", "step", "reset", "reset_seed", "reenter"],
)
def test_closed_simulator_raises(call, match):
    s = nengo_native.Simulator(small_net(), progress_bar=False)
    s.run_steps(2)
    s.close()
    with pytest.raises(SimulatorClosed, match=match):
        call(s)
    assert s.n_steps == 2
    assert len(s.data[s.model.probes[0]]) == 2


# -- run times and step counts ---------------------------------------------------------


@pytest.mark.parametrize(
    "t, match",
    [
        (-0.1, "positive"),
        (-1, "positive"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (float("-inf"), "finite"),
        ("abc", "number"),
        (None, "number"),
    ],
)
def test_bad_run_time(sim, t, match):
    with pytest.raises(ValidationError, match=match):
        sim.run(t)
    assert sim.n_steps == 0
    sim.run(0.005)  # still usable
    assert sim.n_steps == 5


@pytest.mark.parametrize("steps", [1.5, -1, -100, "3", None, 2.0, np.float64(3)])
def test_bad_run_steps(sim, steps):
    with pytest.raises(ValidationError, match="non-negative integer"):
        sim.run_steps(steps)
    assert sim.n_steps == 0
    sim.run_steps(np.int64(4))  # numpy integers are fine
    assert sim.n_steps == 4


@pytest.mark.parametrize(
    "dtype, match",
    [
        ("int32", "float32 or float64"),
        ("float16", "float32 or float64"),
        ("complex128", "float32 or float64"),
        (np.int64, "float32 or float64"),
        ("not-a-dtype", "not a dtype"),
    ],
)
def test_bad_dtype(dtype, match):
    with pytest.raises(ValidationError, match=match):
        nengo_native.Simulator(small_net(), dtype=dtype, progress_bar=False)


# -- user code failing -----------------------------------------------------------------


class _FailOnCall:
    """Node output that raises on the n-th call made during simulation."""

    def __init__(self, fail_at_step):
        self.fail_at_step = fail_at_step
        self.armed = False  # nengo calls the function once at build time

    def __call__(self, t):
        if self.armed and round(t / 0.001) == self.fail_at_step:
            self.fail_at_step = None
            raise RuntimeError("user node failed")
        self.armed = True
        return [t]


def _fail_net():
    fn = _FailOnCall(fail_at_step=5)
    with nengo.Network(seed=0) as net:
        node = nengo.Node(fn)
        ens = nengo.Ensemble(10, 1)
        nengo.Connection(node, ens)
        net.probe = nengo.Probe(node)
    return net


def test_node_exception_propagates_and_simulator_stays_usable():
    results = []
    for cls in (nengo.Simulator, nengo_native.Simulator):
        net = _fail_net()
        with cls(net, progress_bar=False) as s:
            with pytest.raises(RuntimeError, match="user node failed"):
                s.run_steps(10)
            assert len(s.data[net.probe]) == 4  # samples of the completed steps
            np.testing.assert_allclose(
                s.data[net.probe].ravel(), [0.001, 0.002, 0.003, 0.004]
            )
            s.run_steps(3)  # usable after the error
            results.append((s.n_steps, np.array(s.data[net.probe])))
    (ref_steps, ref_data), (steps, data) = results
    assert steps == ref_steps
    np.testing.assert_allclose(data, ref_data, rtol=0, atol=1e-12)


def test_node_exception_n_steps_counts_completed_steps():
    net = _fail_net()
    with nengo_native.Simulator(net, progress_bar=False) as s:
        with pytest.raises(RuntimeError, match="user node failed"):
            s.run_steps(10)
        assert s.n_steps == len(s.data[net.probe]) == 4
        assert s.time == pytest.approx(0.004)


@pytest.mark.parametrize(
    "output, match",
    [
        (lambda t: [1.0, 2.0], "invalid type"),
        (lambda t: np.array([1.0, 2.0]), "invalid type"),
        (lambda t: [np.nan], "non-finite"),
        (lambda t: [np.inf], "non-finite"),
        (lambda t: None, "non-finite"),
        (lambda t: "x", "invalid type"),
        (lambda t: ["1.0"], "invalid type"),
    ],
    ids=["list-shape", "array-shape", "nan", "inf", "none", "str", "numeric-str"],
)
@pytest.mark.parametrize("minibatch_size", [1, 3])
def test_node_bad_return_value(output, match, minibatch_size):
    calls = {"n": 0}

    def fn(t):
        # nengo calls the function once at build time to infer the size
        calls["n"] += 1
        return [0.0] if calls["n"] == 1 else output(t)

    with nengo.Network() as net:
        node = nengo.Node(fn)
        post = nengo.Node(size_in=1)
        nengo.Connection(node, post)
    with nengo.Simulator(net, progress_bar=False) as ref:
        with pytest.raises(SimulationError, match=match):
            ref.run_steps(3)
    calls["n"] = 1  # as after the node's creation: the next call fails
    with nengo_native.Simulator(
        net, progress_bar=False, minibatch_size=minibatch_size
    ) as s:
        with pytest.raises(SimulationError, match=match):
            s.run_steps(3)
        assert s.n_steps == 0


def test_node_with_input_bad_return_value():
    with nengo.Network() as net:
        stim = nengo.Node([0.5])
        node = nengo.Node(lambda t, x: x / 0.0 if t > 0.0015 else x, size_in=1)
        nengo.Connection(stim, node, synapse=None)
    with nengo_native.Simulator(net, progress_bar=False) as s:
        with pytest.raises(SimulationError, match="non-finite"):
            s.run_steps(5)


def test_batch_node_exception_propagates_and_simulator_stays_usable():
    fail = {"at": 0.0035}

    def fn(t, x):
        if fail["at"] is not None and t > fail["at"]:
            fail["at"] = None
            raise RuntimeError("batch function failed")
        return 2 * x

    net = batch_node_net(fn)()
    with nengo_native.Simulator(net, progress_bar=False, minibatch_size=3) as s:
        with pytest.raises(RuntimeError, match="batch function failed"):
            s.run_steps(10)
        assert s.n_steps == 3  # the steps that finished, as their samples
        assert s.data[net.p].shape == (3, 3, 2)
        s.run_steps(4)
        # as in nengo (see test_node_exception_propagates_and_simulator_stays_usable),
        # the failed step's time update had run: the clock moves on past it
        assert s.n_steps == 8
        assert s.data[net.p].shape == (3, 7, 2)
        np.testing.assert_allclose(s.data[net.p], np.tile([1.0, -1.0], (3, 7, 1)))


def test_node_exception_in_predict_leaves_state_unchanged():
    armed = {"on": False}

    def fn(t, x):
        if armed["on"] and t > 0.0035:
            raise RuntimeError("node failed in predict")
        return x

    with nengo.Network(seed=0) as net:
        stim = nengo.Node([0.0])
        ens = nengo.Ensemble(10, 1)
        node = nengo.Node(fn, size_in=1, size_out=1)
        nengo.Connection(stim, ens)
        nengo.Connection(ens, node)
        p = nengo.Probe(node)
    x = np.linspace(-1, 1, 4 * 6).reshape(4, 6, 1)
    with nengo_native.Simulator(net, progress_bar=False, minibatch_size=2) as s:
        s.run_steps(2)
        expected = s.predict({stim: x})[p]
        armed["on"] = True
        with pytest.raises(RuntimeError, match="node failed in predict"):
            s.predict({stim: x})
        assert (s.n_steps, s.time) == (2, pytest.approx(0.002))
        armed["on"] = False
        np.testing.assert_array_equal(s.predict({stim: x})[p], expected)
        s.run_steps(1)
        assert s.n_steps == 3 and s.data[p].shape == (2, 3, 1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_available_memory_is_what_the_kernel_can_give():
    """MemAvailable (with reclaimable caches), not MemFree: a machine whose memory
    sits in the page cache must not refuse a minibatch that fits."""
    from nengo_native.inputs import available_memory

    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < available_memory() <= total


_MEASURE = textwrap.dedent(
    """
    import os, sys, nengo, numpy as np, nengo_native
    from nengo_native import inputs
    nengo.rc.set("decoder_cache", "enabled", "False")
    with nengo.Network(seed=0) as net:
        stim = nengo.Node(lambda t: [np.sin(t)])
        ens = nengo.Ensemble(20, 1)
        nengo.Connection(stim, ens)
        nengo.Probe(ens, synapse=0.01)
    estimates = []
    real_check = inputs.check_memory
    def spy(need, *args, **kwargs):
        estimates.append(need)
        return real_check(need, *args, **kwargs)
    nengo_native.simulator.check_memory = spy
    def resident():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    before = resident()
    sim = nengo_native.Simulator(net, progress_bar=False, minibatch_size=20000)
    print(estimates[0], resident() - before)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.skipif(
    "san" in os.environ.get("LD_PRELOAD", ""), reason="a sanitizer's allocator"
)
def test_memory_estimate_matches_a_large_minibatch():
    """For a small model the per-item Python objects outweigh the arena; the estimate
    that refuses a too-large minibatch counts them."""
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    estimate, measured = map(int, proc.stdout.split()[-2:])
    assert 0.7 * measured <= estimate <= 3 * measured, (estimate, measured)


def test_run_zero_steps_raises_like_nengo(sim):
    sim.run_steps(2)
    with pytest.raises(ValidationError, match="must be at least 1"):
        sim.run_steps(0)  # nengo's progress bar refuses 0 steps
    assert sim.n_steps == 2 and len(sim.data[sim.model.probes[0]]) == 2


# -- things that can't be built --------------------------------------------------------


@pytest.mark.parametrize(
    "network", ["a string", 5, object()], ids=["str", "int", "obj"]
)
def test_unbuildable_network(network):
    with pytest.raises((BuildError, ValidationError), match="Cannot build"):
        nengo_native.Simulator(network, progress_bar=False)


def test_algebraic_loop_is_a_build_error():
    with nengo.Network() as net:
        a = nengo.Node(size_in=1)
        b = nengo.Node(size_in=1)
        nengo.Connection(a, b, synapse=None)
        nengo.Connection(b, a, synapse=None)
    with pytest.raises(BuildError, match="cycle"):
        nengo_native.Simulator(net, progress_bar=False)


def test_failed_build_does_not_warn_resource(recwarn):
    import gc

    with pytest.raises(BuildError):
        nengo_native.Simulator("a string", progress_bar=False)
    gc.collect()
    assert not [w for w in recwarn if issubclass(w.category, ResourceWarning)]


# -- writing bad values into signals ---------------------------------------------------


@pytest.mark.parametrize(
    "value, match",
    [(np.zeros(5), "broadcast"), (np.zeros((20, 2)), "broadcast"), ("abc", "convert")],
)
def test_signal_write_wrong_shape(sim, value, match):
    ens = sim.model.toplevel.all_ensembles[0]
    v = sim.model.sig[ens.neurons]["voltage"]
    with pytest.raises(ValueError, match=match):
        sim.signals[v] = value
    sim.run_steps(3)
    assert np.all(np.isfinite(sim.data[sim.model.probes[0]]))


def test_readonly_signal_write(sim):
    ens = sim.model.toplevel.all_ensembles[0]
    sig = sim.model.sig[ens]["encoders"]
    with pytest.raises(ValueError, match="read-only"):
        sim.signals[sig] = np.zeros(sig.shape)


# -- nothing crashes the interpreter ---------------------------------------------------

_REENTRANT = textwrap.dedent(
    """
    import sys, nengo, numpy as np, nengo_native
    nengo.rc.set("decoder_cache", "enabled", "False")
    mode = sys.argv[1]
    holder = {}
    def f(t):
        s = holder.pop("sim", None)
        if s is not None and t > 0.0025:
            getattr(s, mode)()
        elif s is not None:
            holder["sim"] = s
        return [t]
    with nengo.Network() as net:
        a = nengo.Ensemble(20, 1)
        n = nengo.Node(f)
        nengo.Connection(n, a)
        p = nengo.Probe(a)
    sim = nengo_native.Simulator(net, progress_bar=False)
    holder["sim"] = sim
    try:
        sim.run_steps(10)
    except Exception as e:
        print("raised", type(e).__name__)
    try:
        sim.run_steps(2)
    except nengo.exceptions.SimulatorClosed:
        print("closed")
    print("alive", len(sim.data[p]))
    """
)


@pytest.mark.parametrize("mode", ["close", "step", "reset"])
def test_reentrant_calls_from_node_do_not_crash(mode):
    """A node function that closes/steps/resets its own simulator mid-run."""
    proc = subprocess.run(
        [sys.executable, "-c", _REENTRANT, mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "alive" in proc.stdout
    if mode == "close":
        assert "closed" in proc.stdout


@pytest.mark.parametrize(
    "kind, params, match",
    [
        (
            "reset",
            {"value": [0.0], "seg_ptr": [1, 0], "seg_dst": [], "seg_len": []},
            "seg_ptr",
        ),
        (
            "copy",
            {
                "src_bstride": [0],
                "dst_bstride": [0],
                "inc": [0],
                "seg_ptr": [0, 0],
                "seg_dst": [],
                "seg_len": [],
                "seg_src": [],
                "chain_ptr": [0, 2],
            },
            "chain_ptr' must end at 1",
        ),
    ],
)
def test_core_rejects_malformed_ragged_arrays(kind, params, match):
    """The core checks a Program's offsets once, at its border, and says which."""
    from nengo_native import _core

    executor = _core.Executor64(16, 1, 1, 0.001, 0)
    params = {
        k: np.asarray(v, dtype=np.float64 if k == "value" else np.int64)
        for k, v in params.items()
    }
    params.setdefault("dst_bstride", np.zeros(1, dtype=np.int64))
    params.setdefault("chain_ptr", np.array([0, 1]))
    with pytest.raises(ValueError, match=match):
        executor.add_kernel(kind, params)
