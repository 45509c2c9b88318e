"""Learning rules run natively, match nengo.Simulator, and learn per minibatch item."""

from __future__ import annotations

import nengo
import numpy as np
import pytest
from _batch import run_batched
from nengo.builder.learning_rules import SimBCM, SimOja, SimPES, SimRLS, SimVoja
from nengo.processes import PresentInput, WhiteSignal

import nengo_native

LEARNING_OPS = (SimPES, SimBCM, SimOja, SimVoja, SimRLS)


def learning_net(stim_process) -> tuple[nengo.Network, list]:
    """One connection per rule, driven by a native input process."""
    with nengo.Network(seed=5) as net:
        u = nengo.Node(stim_process, size_out=2)
        a = nengo.Ensemble(40, 2)
        b = nengo.Ensemble(30, 2)
        c = nengo.Ensemble(25, 2)
        nengo.Connection(u, a)
        pes = nengo.Connection(a, b, learning_rule_type=nengo.PES(1e-3))
        err = nengo.Node(size_in=2)
        nengo.Connection(b, err)
        nengo.Connection(u, err, transform=-1)
        nengo.Connection(err, pes.learning_rule)
        w = np.random.RandomState(0)
        bcm = nengo.Connection(
            a.neurons,
            c.neurons,
            transform=w.randn(25, 40) * 1e-3,
            learning_rule_type=nengo.BCM(1e-9),
        )
        oja = nengo.Connection(
            b.neurons,
            c.neurons,
            transform=w.randn(25, 30) * 1e-3,
            learning_rule_type=nengo.Oja(1e-8),
        )
        nengo.Connection(u, c, learning_rule_type=nengo.Voja(1e-2))
        rls = nengo.Connection(a, c, learning_rule_type=nengo.RLS(1e-3))
        nengo.Connection(err, rls.learning_rule)
        probes = [nengo.Probe(x, "weights") for x in (pes, bcm, oja, rls)]
        probes += [nengo.Probe(c, "scaled_encoders"), nengo.Probe(b), nengo.Probe(c)]
    return net, probes


def stimulus():
    return PresentInput([[0.6, -0.2], [-0.5, 0.4], [0.1, 0.8]], 0.04)


@pytest.mark.parametrize("optimize", [False, True])
def test_learning_rules_match_nengo(optimize):
    net, probes = learning_net(stimulus())
    with nengo.Simulator(net, progress_bar=False, optimize=optimize) as ref:
        ref.run(0.3)
    with nengo_native.Simulator(net, progress_bar=False, optimize=optimize) as sim:
        assert not [op for op in sim.fallback_operators if isinstance(op, LEARNING_OPS)]
        assert sim.fallback_operators == []
        sim.run(0.3)
    for p in probes:
        assert np.allclose(ref.data[p], sim.data[p], atol=1e-12, rtol=0), p


def test_subclass_of_rule_op_falls_back():
    class MyPES(SimPES):
        pass

    net, probes = learning_net(stimulus())
    model = nengo.builder.Model(dt=0.001)
    model.build(net)
    for op in model.operators:
        if type(op) is SimPES:
            op.__class__ = MyPES
    with nengo_native.Simulator(None, model=model, progress_bar=False) as sim:
        assert [type(op) for op in sim.fallback_operators] == [MyPES]


def test_batch_of_identical_items_learns_like_one():
    net, probes = learning_net(stimulus())
    n_steps, seed = 200, 2
    data, fallbacks = run_batched(net, minibatch_size=3, seed=seed, n_steps=n_steps)
    assert fallbacks == []
    with nengo.Simulator(net, seed=seed, progress_bar=False) as ref:
        ref.run_steps(n_steps)
    for p in probes:
        x = data[p]
        for b in range(3):
            assert np.allclose(x[:, b], ref.data[p], atol=1e-12, rtol=0), (p, b)


def test_batch_items_learn_their_own_weights():
    net, probes = learning_net(WhiteSignal(0.5, high=5, rms=0.4))
    data, _ = run_batched(net, minibatch_size=2, seed=1, n_steps=150)
    with nengo.Simulator(net, seed=1, progress_bar=False) as ref:
        ref.run_steps(150)
    for p in probes:
        x = data[p]
        assert np.allclose(x[:, 0], ref.data[p], atol=1e-12, rtol=0), p
        assert not np.allclose(x[-1, 0], x[-1, 1]), p  # different inputs, weights
