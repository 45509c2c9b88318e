"""The backward pass against central finite differences, kernel family by family
and on whole networks (feed-forward, recurrent, with synapses, several steps)."""

import nengo
import numpy as np
import pytest
from nengo.exceptions import BuildError

import nengo_native

RTOL = 1e-5


def kernel_kinds(sim) -> set:
    kinds = set()
    for step in sim.program.steps:
        if getattr(step, "kind", None):
            kinds.add(step.training_kind or step.kind)
    return kinds


def check(net, x, n_steps=None, minibatch_size=2, optimize=True, kind=None):
    with nengo_native.Simulator(
        net,
        minibatch_size=minibatch_size,
        optimize=optimize,
        progress_bar=False,
        seed=1,
    ) as sim:
        if kind is not None:
            assert kind in kernel_kinds(sim), kernel_kinds(sim)
        errors = sim.check_gradients(x, n_steps=n_steps, max_checks=6, rtol=RTOL)
    assert errors, "no trainable parameters were checked"
    assert max(errors.values()) <= RTOL
    return errors


def inputs(node, batch=2, steps=4, seed=0):
    rng = np.random.RandomState(seed)
    return {node: rng.uniform(-1, 1, size=(batch, steps, node.size_out))}


def two_layer(neuron_type, synapse=None, n=12, **ens_kwargs):
    with nengo.Network(seed=3) as net:
        inp = nengo.Node(np.zeros(2))
        a = nengo.Ensemble(n, 2, neuron_type=neuron_type, **ens_kwargs)
        out = nengo.Node(size_in=1)
        nengo.Connection(inp, a, synapse=synapse)
        nengo.Connection(a, out, function=lambda x: x[0] * x[1], synapse=synapse)
        nengo.Probe(out)
    return net, inp


@pytest.mark.parametrize(
    "neuron_type, kind",
    [
        (nengo.LIFRate(), "neurons_lif_rate"),
        (nengo.LIF(), "neurons_lif_rate"),
        (nengo.RectifiedLinear(), "neurons_rectified_linear"),
        (nengo.SpikingRectifiedLinear(), "neurons_rectified_linear"),
        (nengo.Sigmoid(), "neurons_sigmoid"),
        (nengo.Tanh(), "neurons_tanh"),
        (nengo.AdaptiveLIFRate(tau_n=0.01, inc_n=0.5), "neurons_adaptive_lif_rate"),
        (nengo.AdaptiveLIF(tau_n=0.01, inc_n=0.5), "neurons_adaptive_lif_rate"),
        (nengo.RegularSpiking(nengo.LIFRate()), "neurons_linear"),
        (nengo.StochasticSpiking(nengo.Tanh()), "neurons_linear"),
        (nengo.PoissonSpiking(nengo.LIFRate()), "neurons_rectified_linear"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v,
)
def test_neuron_types(neuron_type, kind):
    net, inp = two_layer(neuron_type, synapse=0.005)
    check(net, inputs(inp), kind=kind)


def test_smoothed_lif_gradient_is_the_soft_rate_curve():
    """With lif_smoothing the gradient of LIF neurons is the smoothed curve's,
    which is not the gradient of the (LIFRate) forward pass: check it against
    finite differences of the smoothed rate itself."""
    net, inp = two_layer(nengo.LIF(), synapse=None)
    with net:
        nengo_native.configure_settings(lif_smoothing=0.1)
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        assert "neurons_lif_rate_smoothed" in kernel_kinds(sim)
        trainer = sim.trainer
        trainer.prepare()
        runtime = trainer.runtime
        samples, _, _ = runtime.run(1, inputs(inp, batch=1, steps=1), training=True)
        runtime.backward([np.ones_like(s) for s in samples])
        ens = net.ensembles[0]
        bias_key = (ens.neurons, "bias")
        grad = trainer.gradient(bias_key)
        # d out / d bias_i = w_i * d rate_i / d J_i, with the soft rate's slope
        weights = sim._engine.signal_value(sim.model.sig[net.connections[1]]["weights"])
        bias = trainer.get(bias_key)
        enc = trainer.get((ens, "encoders"))
        x = inputs(inp, batch=1, steps=1)[inp][0, 0]
        current = enc @ x + bias

        def soft_rate(j, sigma=0.1, tau_rc=0.02, tau_ref=0.002):
            js = sigma * np.log1p(np.exp((j - 1) / sigma))
            return 1 / (tau_ref + tau_rc * np.log1p(1 / js))

        eps = 1e-6
        slope = (soft_rate(current + eps) - soft_rate(current - eps)) / (2 * eps)
        assert np.allclose(grad, weights[0] * slope, rtol=1e-5, atol=1e-9)
        below = current < 1
        assert np.any(grad[below] != 0), (
            "below threshold too, the soft curve has a slope"
        )


def test_dense_and_elementwise_transforms():
    with nengo.Network(seed=0) as net:
        inp = nengo.Node(np.zeros(3))
        mid = nengo.Node(size_in=3)
        out = nengo.Node(size_in=2)
        nengo.Connection(inp, mid, transform=2.0, synapse=None)  # elementwise
        nengo.Connection(inp, mid, transform=[1.0, -0.5, 0.3], synapse=0.01)
        nengo.Connection(mid, out, transform=np.arange(6).reshape(2, 3) / 6.0)
        nengo.Probe(out)
    sim_kinds = check(net, inputs(inp))
    assert len(sim_kinds) == 3


@pytest.mark.parametrize("pairs", [1, 2], ids=["dense", "merged-bsr"])
def test_spike_weights_stored_by_columns(pairs):
    """Weights multiplying spikes are stored by columns (one product, or nengo's
    merged block-sparse one); their gradients go through the rate counterpart."""
    rng = np.random.RandomState(1)
    # (Seeds that put no rate neuron near its threshold, where finite differences
    # straddle the kink.)
    with nengo.Network(seed=1) as net:
        inp = nengo.Node(np.zeros(2))
        out = nengo.Node(size_in=1)
        for _ in range(pairs):
            a, b = nengo.Ensemble(130, 2), nengo.Ensemble(131, 1)
            nengo.Connection(inp, a, synapse=None)
            nengo.Connection(
                a.neurons, b.neurons, transform=rng.randn(131, 130) * 1e-3, synapse=None
            )
            nengo.Connection(b, out, synapse=None)
        nengo.Probe(out)
    with nengo_native.Simulator(net, minibatch_size=2, progress_bar=False) as sim:
        assert sim.program.layout.column_major
    errors = check(net, inputs(inp))
    assert any("131, 130" in str(key) for key in errors), list(errors)


def test_sparse_transform():
    with nengo.Network(seed=0) as net:
        inp = nengo.Node(np.zeros(4))
        a = nengo.Ensemble(10, 1, neuron_type=nengo.RectifiedLinear())
        out = nengo.Node(size_in=10)
        nengo.Connection(inp, a.neurons, transform=np.ones((10, 4)) * 0.1)
        sparse = nengo.Sparse(
            (10, 10), indices=[[0, 1], [3, 2], [5, 5], [9, 0]], init=[1.0, -2.0, 3, 4]
        )
        nengo.Connection(a.neurons, out, transform=sparse, synapse=0.005)
        nengo.Probe(out)
    check(net, inputs(inp), kind="bsr_dot_inc", optimize=False)


def test_slices_and_index_copies():
    with nengo.Network(seed=0) as net:
        inp = nengo.Node(np.zeros(4))
        a = nengo.Ensemble(16, 3, neuron_type=nengo.Tanh())
        out = nengo.Node(size_in=3)
        nengo.Connection(inp[[0, 2, 3]], a[[2, 0, 1]], synapse=None)
        nengo.Connection(a[1:], out[:2], synapse=0.01, transform=[[1, 2], [3, 4]])
        nengo.Connection(a[0], out[2], synapse=None, function=np.square)
        nengo.Probe(out)
    check(net, inputs(inp), kind="copy")


@pytest.mark.parametrize(
    "synapse",
    [
        nengo.Lowpass(0.01),
        nengo.Alpha(0.005),
        nengo.LinearFilter([1], [0.002, 0.03, 1]),  # two states, no passthrough
        nengo.LinearFilter([0.5, 1], [0.01, 1]),  # passthrough: the general step
    ],
    ids=["lowpass", "alpha", "no_d", "general"],
)
def test_synapses_through_time(synapse):
    net, inp = two_layer(nengo.LIFRate(), synapse=synapse)
    check(net, inputs(inp, steps=8), kind="linear_filter")


def test_recurrent_network_through_time():
    with nengo.Network(seed=2) as net:
        inp = nengo.Node(np.zeros(1))
        ens = nengo.Ensemble(20, 1, neuron_type=nengo.RectifiedLinear())
        nengo.Connection(inp, ens, transform=0.1, synapse=0.01)
        nengo.Connection(ens, ens, synapse=0.05)
        nengo.Probe(ens, synapse=0.02)
        nengo.Probe(ens.neurons)
    check(net, inputs(inp, steps=10))


def test_without_optimizer_and_single_item():
    net, inp = two_layer(nengo.LIFRate(), synapse=0.005)
    check(net, inputs(inp, batch=1), minibatch_size=None, optimize=False)


def test_batch_node_gradient_passes_through():
    with nengo.Network(seed=0) as net:
        inp = nengo.Node(np.zeros(2))
        a = nengo.Ensemble(10, 2, neuron_type=nengo.Tanh())
        exp = nengo_native.BatchNode(
            lambda t, x: np.exp(x),
            shape_in=(2,),
            gradient=lambda t, x, dy: dy * np.exp(x),
        )
        nengo.Connection(inp, a, synapse=None)
        nengo.Connection(a, exp, synapse=0.01)
        nengo.Probe(exp)
    errors = check(net, inputs(inp))
    assert any(p.name == "encoders" for p in errors)


def test_python_node_without_gradient_blocks_it_with_a_warning():
    with nengo.Network(seed=0) as net:
        inp = nengo.Node(np.zeros(1))
        a = nengo.Ensemble(10, 1, neuron_type=nengo.Tanh())
        square = nengo.Node(lambda t, x: x**2, size_in=1, label="square")
        out = nengo.Node(size_in=1)
        nengo.Connection(inp, a, synapse=None)
        nengo.Connection(a, square, synapse=None)
        nengo.Connection(square, out, synapse=None, transform=[[1.0]])
        p = nengo.Probe(out)
    x = inputs(inp, batch=1, steps=3)
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        before = {
            k: v.copy()
            for k, v in sim.get_nengo_params(net.ensembles)[0].items()
            if isinstance(v, np.ndarray)
        }
        sim.compile(optimizer="sgd", loss={p: "mse"})
        with pytest.warns(UserWarning, match="Node 'square'.*no gradient"):
            sim.fit(x, {p: np.ones((1, 3, 1))}, epochs=2, verbose=0)
        after = sim.get_nengo_params(net.ensembles)[0]
        out_conn = sim.get_nengo_params(net.connections[2])
    # nothing upstream of the node learns; the connection after it does
    for name, value in before.items():
        assert np.array_equal(after[name], value), name
    assert not np.allclose(out_conn["transform"].init, 1.0)


def test_non_differentiable_neurons_are_named():
    net, inp = two_layer(nengo.Izhikevich())
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        with pytest.raises(BuildError, match="Izhikevich"):
            sim.check_gradients(inputs(inp, batch=1))


def test_online_learning_rules_are_not_differentiable():
    with nengo.Network(seed=0) as net:
        inp = nengo.Node(np.zeros(1))
        a = nengo.Ensemble(10, 1)
        b = nengo.Node(size_in=1)
        conn = nengo.Connection(a, b, learning_rule_type=nengo.PES())
        nengo.Connection(inp, a)
        nengo.Connection(b, conn.learning_rule)
        nengo.Probe(b)
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        with pytest.raises(BuildError, match="no gradient through"):
            sim.check_gradients(inputs(inp, batch=1))


def test_check_gradients_reports_a_wrong_gradient():
    """The checker itself fails loudly when analytic and numeric disagree."""
    net, inp = two_layer(nengo.RectifiedLinear())
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        trainer = sim.trainer
        original = trainer.gradient
        trainer.gradient = lambda key: 2 * original(key)
        with pytest.raises(nengo.exceptions.SimulationError, match="differ"):
            sim.check_gradients(inputs(inp, batch=1))


def test_gradients_do_not_depend_on_thread_count():
    from nengo_native import _core

    net, inp = two_layer(nengo.LIFRate(), synapse=0.01, n=200)
    results = []
    previous = _core.get_num_threads()
    try:
        for threads in (1, 2):
            _core.set_num_threads(threads)
            with nengo_native.Simulator(
                net, minibatch_size=4, progress_bar=False
            ) as sim:
                trainer = sim.trainer
                trainer.prepare()
                samples, _, _ = trainer.runtime.run(
                    5, inputs(inp, batch=4, steps=5), training=True
                )
                trainer.runtime.backward([np.ones_like(s) for s in samples])
                results.append([trainer.gradient(p.key) for p in trainer.params])
    finally:
        _core.set_num_threads(previous)
    for a, b in zip(*results, strict=True):
        assert np.array_equal(a, b)
