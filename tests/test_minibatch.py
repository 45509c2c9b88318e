"""Minibatch simulation, run-time data and prediction (NengoDL's features)."""

import nengo
import numpy as np
import pytest
from nengo.exceptions import SimulationError, ValidationError

import nengo_native


def sin_square_net(seed=0):
    """The tutorial's network: a white-signal input, x**2, then sin."""
    with nengo.Network(seed=seed) as net:
        net.inpt = nengo.Node(nengo.processes.WhiteSignal(1, 5, rms=0.3))
        square = nengo.Ensemble(20, 1)
        sin = nengo.Ensemble(20, 1)
        outpt = nengo.Node(size_in=1)
        nengo.Connection(net.inpt, square)
        nengo.Connection(square, sin, function=np.square)
        nengo.Connection(sin, outpt, function=np.sin)
        net.inpt_p = nengo.Probe(net.inpt)
        net.outpt_p = nengo.Probe(outpt, synapse=0.01)
    return net


def ramps(items, steps=200):
    return (
        np.linspace(0.5, 1, items)[:, None, None]
        * np.linspace(-1, 1, steps)[None, :, None]
    )


def test_minibatch_items_get_different_input_signals():
    net = sin_square_net()
    with nengo_native.Simulator(net, minibatch_size=3, progress_bar=False) as sim:
        sim.run(0.3)
    x = sim.data[net.inpt_p]
    assert x.shape == (3, 300, 1)
    assert sim.data[net.outpt_p].shape == (3, 300, 1)
    assert not np.allclose(x[0], x[1]) and not np.allclose(x[1], x[2])


@pytest.mark.parametrize("minibatch_size", [None, 1, 3])
def test_item_zero_matches_nengo(minibatch_size):
    net = sin_square_net()
    with nengo.Simulator(net, seed=1, progress_bar=False) as ref:
        ref.run(0.2)
    with nengo_native.Simulator(
        net, seed=1, minibatch_size=minibatch_size, progress_bar=False
    ) as sim:
        sim.run(0.2)
    out = sim.data[net.outpt_p]
    if minibatch_size == 3:
        out = out[0]
    assert out.shape == ref.data[net.outpt_p].shape
    assert np.allclose(out, ref.data[net.outpt_p], rtol=0, atol=1e-12)


def test_ramps_given_at_run_time_appear_exactly_per_item():
    net = sin_square_net()
    x = ramps(3)
    with nengo_native.Simulator(net, minibatch_size=3, progress_bar=False) as sim:
        sim.run_steps(200, data={net.inpt: x})
        assert np.array_equal(sim.data[net.inpt_p], x)
        # without data the node's own process drives it again
        sim.run_steps(10)
        assert not np.allclose(sim.data[net.inpt_p][:, -10:], x[:, -10:])


def test_data_matches_nengo_node_with_same_values():
    """Feeding a ramp equals a model whose node outputs that ramp."""
    steps = 150
    x = ramps(1, steps)
    net = sin_square_net()
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        sim.run_steps(steps, data={net.inpt: x})
        fed = sim.data[net.outpt_p]
    with net:
        net.inpt.output = nengo.processes.PresentInput(x[0], presentation_time=0.001)
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run_steps(steps)
    assert np.allclose(fed, ref.data[net.outpt_p], rtol=0, atol=1e-12)


def test_constant_node_can_be_fed_and_returns_to_its_value():
    with nengo.Network(seed=0) as net:
        node = nengo.Node([0.25, -0.5])
        probe = nengo.Probe(node)
    x = np.arange(2 * 5 * 2, dtype=float).reshape(2, 5, 2)
    with nengo_native.Simulator(net, minibatch_size=2, progress_bar=False) as sim:
        sim.run_steps(5, data={node: x})
        sim.run_steps(3)
    data = sim.data[probe]
    assert np.array_equal(data[:, :5], x)
    assert np.array_equal(data[:, 5:], np.tile([0.25, -0.5], (2, 3, 1)))


def test_python_node_functions_run_per_item():
    calls = []

    def f(t, x):
        calls.append(x.copy())
        return 2 * x

    with nengo.Network(seed=0) as net:
        inp = nengo.Node([0.0])
        node = nengo.Node(f, size_in=1)
        nengo.Connection(inp, node, synapse=None)
        probe = nengo.Probe(node)
    x = np.arange(3 * 4, dtype=float).reshape(3, 4, 1)
    with nengo_native.Simulator(net, minibatch_size=3, progress_bar=False) as sim:
        calls.clear()
        sim.run_steps(4, data={inp: x})
    assert len(calls) == 12
    assert np.array_equal(sim.data[probe], 2 * x)


def test_learning_rule_learns_per_item():
    """Each item keeps its own learned weights: item b equals a run of b alone."""

    def build():
        with nengo.Network(seed=3) as net:
            net.stim = nengo.Node([0.0])
            pre = nengo.Ensemble(30, 1)
            post = nengo.Node(size_in=1)
            nengo.Connection(net.stim, pre)
            conn = nengo.Connection(pre, post, function=lambda x: 0)
            err = nengo.Node(size_in=1)
            nengo.Connection(post, err)
            nengo.Connection(net.stim, err, transform=-1)
            conn.learning_rule_type = nengo.PES(learning_rate=1e-3)
            nengo.Connection(err, conn.learning_rule)
            net.probe = nengo.Probe(post, synapse=0.01)
        return net

    net = build()
    x = np.concatenate([np.full((1, 100, 1), 0.5), np.full((1, 100, 1), -0.8)])
    with nengo_native.Simulator(net, minibatch_size=2, progress_bar=False) as sim:
        sim.run_steps(100, data={net.stim: x})
        batched = sim.data[net.probe]
    for b in range(2):
        with nengo_native.Simulator(net, progress_bar=False) as single:
            single.run_steps(100, data={net.stim: x[b : b + 1]})
            assert np.allclose(batched[b], single.data[net.probe], rtol=0, atol=1e-12)
    assert not np.allclose(batched[0], batched[1])


def test_predict_splits_batches_and_leaves_state():
    net = sin_square_net()
    x = ramps(6, 50)
    with nengo_native.Simulator(net, minibatch_size=3, progress_bar=False) as sim:
        out = sim.predict({net.inpt: x})
        assert sim.n_steps == 0
        assert out[net.outpt_p].shape == (6, 50, 1)
        assert np.array_equal(out[net.inpt_p], x)
        first = sim.predict_on_batch({net.inpt: x[:3]})
        second = sim.predict_on_batch(x[3:])  # one input node: a bare array works
        assert np.allclose(
            out[net.outpt_p],
            np.concatenate([first[net.outpt_p], second[net.outpt_p]]),
            rtol=0,
            atol=1e-12,
        )
        sim.run_steps(50, data={net.inpt: x[:3]})
        assert np.allclose(sim.data[net.outpt_p], first[net.outpt_p], atol=1e-12)


def test_stateful_predict_carries_state():
    net = sin_square_net()
    x = ramps(2, 40)
    with nengo_native.Simulator(net, minibatch_size=2, progress_bar=False) as sim:
        sim.predict({net.inpt: x}, stateful=True)
        assert sim.n_steps == 40
        cont = sim.predict({net.inpt: x})
        sim.reset()
        fresh = sim.predict({net.inpt: x})
    assert not np.allclose(cont[net.outpt_p], fresh[net.outpt_p])


def test_predict_without_input_needs_n_steps():
    net = sin_square_net()
    with nengo_native.Simulator(net, minibatch_size=2, progress_bar=False) as sim:
        out = sim.predict(n_steps=20)
        assert out[net.outpt_p].shape == (2, 20, 1)
        with pytest.raises(ValidationError, match="n_steps"):
            sim.predict()


@pytest.mark.parametrize("size", [0, -2, 1.5, "4", True])
def test_invalid_minibatch_size(size):
    with pytest.raises(ValidationError, match="minibatch_size"):
        nengo_native.Simulator(
            sin_square_net(), minibatch_size=size, progress_bar=False
        )


def test_huge_minibatch_refused_up_front():
    with nengo.Network() as net:
        nengo.Ensemble(1000, 1)
    with pytest.raises(ValidationError, match="GiB"):
        nengo_native.Simulator(net, minibatch_size=10**9, progress_bar=False)


@pytest.fixture
def batch_sim():
    net = sin_square_net()
    with nengo.Network():
        net.foreign = nengo.Node([1.0])
    with net:
        net.passthrough = nengo.Node(size_in=1)
    with nengo_native.Simulator(net, minibatch_size=2, progress_bar=False) as sim:
        yield sim, net


@pytest.mark.parametrize(
    "make_data, match",
    [
        (lambda net: {net.inpt: np.zeros((2, 10))}, r"shape \(2, 10\); expected"),
        (lambda net: {net.inpt: np.zeros((3, 10, 1))}, r"expected \(2, 10, 1\)"),
        (lambda net: {net.inpt: np.zeros((2, 10, 2))}, "size_out"),
        (lambda net: {net.inpt: np.zeros((2, 7, 1))}, "has 7 steps; expected 10"),
        (lambda net: {net.inpt: np.full((2, 10, 1), np.nan)}, "NaN"),
        (lambda net: {net.inpt: np.full((2, 10, 1), np.inf)}, "infinite"),
        (lambda net: {net.passthrough: np.zeros((2, 10, 1))}, "has an input"),
        (lambda net: {net.foreign: np.zeros((2, 10, 1))}, "not in this simulator"),
        (lambda net: {net.inpt_p: np.zeros((2, 10, 1))}, "keys must be nengo Nodes"),
        (lambda net: {net.inpt: [["a"] * 10] * 2}, "not numeric"),
    ],
)
def test_bad_run_data(batch_sim, make_data, match):
    sim, net = batch_sim
    with pytest.raises(ValidationError, match=match):
        sim.run_steps(10, data=make_data(net))
    assert sim.n_steps == 0


def test_predict_batch_not_multiple_of_minibatch_is_truncated(batch_sim):
    """As NengoDL: the samples past the last whole minibatch are left out, with
    its warning."""
    sim, net = batch_sim
    x = np.random.RandomState(0).uniform(-1, 1, size=(3, 10, 1))
    with pytest.warns(
        UserWarning,
        match=r"\(3\) is not evenly divisible by "
        r"Simulator.minibatch_size \(2\); input data will be truncated",
    ):
        out = sim.predict({net.inpt: x})
    full = sim.predict({net.inpt: x[:2]})
    for probe, value in out.items():
        assert len(value) == 2
        np.testing.assert_array_equal(value, full[probe])


def test_batch_node_matches_nengo_node_and_is_called_once_per_step():
    calls = []

    def batched(t, x):
        calls.append(x.shape)
        return np.sin(t) * x[:, ::-1] + x**2

    def per_item(t, x):
        return np.sin(t) * x[::-1] + x**2

    def build(node_type):
        with nengo.Network(seed=2) as net:
            white = nengo.processes.WhiteSignal(1, 5, seed=5)
            net.inp = nengo.Node(white, size_out=2)
            ens = nengo.Ensemble(40, 2)
            nengo.Connection(net.inp, ens)
            if node_type == "batch":
                node = nengo_native.BatchNode(batched, shape_in=2)
            else:
                node = nengo.Node(per_item, size_in=2)
            nengo.Connection(ens, node, synapse=None)
            net.probe = nengo.Probe(node, synapse=0.01)
        return net

    ref_net, net = build("node"), build("batch")
    with nengo_native.Simulator(ref_net, minibatch_size=4, progress_bar=False) as ref:
        ref.run_steps(60)
    with nengo_native.Simulator(net, minibatch_size=4, progress_bar=False) as sim:
        calls.clear()
        sim.run_steps(60)
    assert calls == [(4, 2)] * 60
    assert np.allclose(sim.data[net.probe], ref.data[ref_net.probe], rtol=0, atol=1e-12)
    # the same model runs in nengo.Simulator, as a node with a minibatch of 1
    with nengo.Simulator(net, progress_bar=False) as nengo_sim:
        nengo_sim.run_steps(60)
    assert np.allclose(
        nengo_sim.data[net.probe], sim.data[net.probe][0], rtol=0, atol=1e-12
    )


def test_batch_node_infers_shape_and_checks_output():
    node_ok = nengo_native.BatchNode(
        lambda t, x: np.zeros((len(x), 3, 2)), shape_in=4, add_to_container=False
    )
    assert node_ok.shape_out == (3, 2) and node_ok.size_out == 6
    with nengo.Network() as net:
        stim = nengo.Node([1.0, 2.0])
        bad = nengo_native.BatchNode(lambda t, x: x[:1], shape_in=2, shape_out=2)
        nengo.Connection(stim, bad, synapse=None)
    with nengo_native.Simulator(net, minibatch_size=3, progress_bar=False) as sim:
        with pytest.raises(SimulationError, match=r"expected \(3, 2\)"):
            sim.step()
    with pytest.raises(ValidationError, match="callable"):
        nengo_native.BatchNode("not a function", shape_in=1, add_to_container=False)
