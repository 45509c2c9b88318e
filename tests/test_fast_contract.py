"""The accuracy contract of the throughput mode (``exact=False``), on every benchmark
model over 5 seeds (small sizes, short runs):

- the probed output's error against a reference (the exact mode in float64, the
  closest to the ideal every model has) is no worse than 1.1x the exact float32
  run's, averaged over the seeds;
- each spiking ensemble's mean firing rate is within 1% of the exact mode's;
- runs are deterministic for a fixed thread count and minibatch size.
"""

from __future__ import annotations

import os
import sys

import nengo
import numpy as np
import pytest
from nengo.exceptions import ValidationError

import nengo_native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.models import MODELS, make  # noqa: E402

SEEDS = range(5)
STEPS = 300


def _spiking_probes(net):
    with net:
        return [
            nengo.Probe(ens.neurons)
            for ens in net.all_ensembles
            if ens.neuron_type.spiking
        ]


def _run(model, seed, dtype, exact):
    net, probe = make(model, "small", seed=seed)
    rates = _spiking_probes(net)
    with nengo_native.Simulator(
        net, seed=seed, progress_bar=False, dtype=dtype, exact=exact
    ) as sim:
        sim.run_steps(STEPS)
        out = np.array(sim.data[probe], dtype=np.float64)
        mean_rates = [float(np.mean(sim.data[p])) for p in rates]
    return out, mean_rates


@pytest.mark.parametrize("model", sorted(MODELS))
def test_fast_mode_accuracy(model):
    err_exact, err_fast, scale = [], [], []
    rates_exact, rates_fast = [], []
    for seed in SEEDS:
        ref, _ = _run(model, seed, "float64", True)
        out32, r32 = _run(model, seed, "float32", True)
        fast, rfast = _run(model, seed, "float32", False)
        err_exact.append(np.sqrt(np.mean((out32 - ref) ** 2)))
        err_fast.append(np.sqrt(np.mean((fast - ref) ** 2)))
        scale.append(np.sqrt(np.mean(ref**2)))
        rates_exact += r32
        rates_fast += rfast
    # A floor of 2% of the output's size: in these short runs one spike shifted by a
    # step moves a filtered output by about that, and float32 rounding alone may
    # happen to shift none (exact float32 then matches float64 to 1e-7).
    floor = 0.02 * np.mean(scale)
    assert np.mean(err_fast) <= 1.1 * np.mean(err_exact) + floor, (
        err_fast,
        err_exact,
    )
    rates_exact, rates_fast = np.array(rates_exact), np.array(rates_fast)
    # Mean output over an ensemble is amplitude times its mean rate; near-silent
    # ensembles (a few spikes in the run) compare to one spike's worth.
    one_spike = 1.0 / (STEPS * 0.001) / 50
    np.testing.assert_array_less(
        np.abs(rates_fast - rates_exact), 0.01 * np.abs(rates_exact) + one_spike
    )


@pytest.mark.parametrize("minibatch", [1, 3])
def test_fast_mode_deterministic(minibatch):
    net, probe = make("integrator", "small", seed=1)
    outs = []
    for _ in range(2):
        with nengo_native.Simulator(
            net,
            seed=2,
            progress_bar=False,
            dtype="float32",
            exact=False,
            minibatch_size=minibatch,
        ) as sim:
            sim.run_steps(100)
            outs.append(sim.data[probe].copy())
    np.testing.assert_array_equal(outs[0], outs[1])


def test_fast_mode_plans_fast_kernels():
    net, _ = make("integrator", "small")
    with nengo_native.Simulator(net, progress_bar=False, exact=False) as sim:
        kinds = {s.kind for s in sim.program.steps if hasattr(s, "kind")}
        assert sim.exact is False and sim.program.exact is False
    assert "neurons_lif_fast" in kinds and "neurons_lif" not in kinds
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        kinds = {s.kind for s in sim.program.steps if hasattr(s, "kind")}
        assert sim.exact is True
    assert "neurons_lif" in kinds and "neurons_lif_fast" not in kinds


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "neuron_type",
    [
        nengo.LIF(),
        # dt / tau_rc = 2: a decay over more than one time constant per step
        nengo.LIF(tau_rc=0.0005, tau_ref=0.001),
        # dt / tau_rc = 0.8: the longest series, and spikes past their bound
        nengo.LIF(tau_rc=0.00125, tau_ref=0.001),
        # voltages starting above threshold (below the input) spike at once, with
        # spike times far from those of a crossing within the step
        nengo.LIF(initial_state={"voltage": nengo.dists.Uniform(1.0, 1.9)}),
        nengo.LIF(min_voltage=-1, amplitude=0.5),
    ],
    ids=["default", "fast_decay", "long_series", "far_above_threshold", "min_voltage"],
)
def test_fast_lif_spike_counts(neuron_type, dtype):
    """Every regime of the fast LIF update (the branch-free lanes, their series at
    their longest and past their bound, and the follow-up lists where a step is longer
    than tau_rc) gives each neuron the exact kernel's spike count to within one, and
    the same first spikes."""
    with nengo.Network(seed=1) as net:
        ens = nengo.Ensemble(
            203,  # not a multiple of any vector width: the last lanes are padding
            1,
            neuron_type=neuron_type,
            gain=nengo.dists.Choice([1.0]),
            bias=nengo.dists.Uniform(2, 30),
        )
        spikes = nengo.Probe(ens.neurons)
        voltage = nengo.Probe(ens.neurons, "voltage")
    runs = {}
    for exact in (True, False):
        with nengo_native.Simulator(
            net, progress_bar=False, dtype=dtype, exact=exact
        ) as sim:
            sim.run_steps(1000)
            runs[exact] = (sim.data[spikes], sim.data[voltage])
    (s_exact, _), (s_fast, v_fast) = runs[True], runs[False]
    assert s_exact.sum() > 1000
    counts_exact = np.count_nonzero(s_exact, axis=0)
    counts_fast = np.count_nonzero(s_fast, axis=0)
    assert np.abs(counts_fast - counts_exact).max() <= 1
    np.testing.assert_array_equal(s_fast[:2], s_exact[:2])
    assert np.all(v_fast >= neuron_type.min_voltage)
    assert np.isfinite(v_fast).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_neurons_independent_of_grouping(dtype):
    """The fast neuron kernels update each neuron on its own: a run of ensembles that
    lie back to back (at minibatch 1) or of one ensemble's items (at minibatch 3) is
    one vector loop, and every item still gets the spikes it gets alone."""
    with nengo.Network(seed=3) as net:
        stim = nengo.Node(np.linspace(-1, 1, 40))
        probes = []
        for neuron_type in [
            nengo.LIF(),
            nengo.LIF(),
            nengo.LIF(tau_rc=0.03),
            nengo.AdaptiveLIF(),
            nengo.AdaptiveLIF(),
        ]:
            ens = nengo.Ensemble(40, 1, neuron_type=neuron_type)
            nengo.Connection(stim, ens.neurons, transform=2.0, synapse=None)
            probes.append(nengo.Probe(ens.neurons))
            probes.append(nengo.Probe(ens.neurons, "voltage"))
    outputs = {}
    for minibatch in (1, 3):
        with nengo_native.Simulator(
            net, exact=False, minibatch_size=minibatch, progress_bar=False, dtype=dtype
        ) as sim:
            sim.run_steps(200)
            outputs[minibatch] = [sim.data[p] for p in probes]
    for alone, batched in zip(outputs[1], outputs[3], strict=True):
        assert alone.any()
        for b in range(3):
            np.testing.assert_array_equal(batched[b], alone)


@pytest.mark.parametrize("exact", [True, False])
def test_input_free_node_called_once_per_step_when_not_exact(exact):
    """exact=False calls a node without input once per step for the whole minibatch
    and gives every item its output; a node with input is still called per item."""
    calls = {"source": 0, "sink": 0}

    def source(t):
        calls["source"] += 1
        return [np.sin(t), t]

    def sink(t, x):
        calls["sink"] += 1
        return 2 * x

    with nengo.Network() as net:
        stim = nengo.Node(source)
        doubled = nengo.Node(sink, size_in=2)
        nengo.Connection(stim, doubled, synapse=None)
        p_stim = nengo.Probe(stim)
        p_doubled = nengo.Probe(doubled)
    calls.update(source=0, sink=0)  # nengo calls each once to find its output size
    with nengo_native.Simulator(
        net, minibatch_size=4, exact=exact, progress_bar=False
    ) as sim:
        sim.run_steps(10)
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run_steps(10)
    assert calls["source"] == (4 if exact else 1) * 10 + 10
    assert calls["sink"] == 4 * 10 + 10
    for b in range(4):
        np.testing.assert_allclose(sim.data[p_stim][b], ref.data[p_stim], rtol=1e-15)
        np.testing.assert_allclose(
            sim.data[p_doubled][b], ref.data[p_doubled], rtol=1e-15
        )


@pytest.mark.parametrize("bad", [0, 1, "yes", None, 1.0])
def test_exact_not_bool(bad):
    with nengo.Network() as net:
        nengo.Ensemble(5, 1)
    with pytest.raises(ValidationError, match="exact"):
        nengo_native.Simulator(net, exact=bad)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_rate_neurons_close(dtype):
    """LIFRate in SIMD lanes agrees with the exact kernel to a few ULP."""
    with nengo.Network(seed=0) as net:
        stim = nengo.Node(np.linspace(-1, 1, 7))
        ens = nengo.Ensemble(300, 7, neuron_type=nengo.LIFRate())
        nengo.Connection(stim, ens)
        p = nengo.Probe(ens.neurons)
    outs = []
    for exact in (True, False):
        with nengo_native.Simulator(
            net, progress_bar=False, dtype=dtype, exact=exact
        ) as sim:
            sim.run_steps(5)
            outs.append(sim.data[p])
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(outs[1], outs[0], rtol=rtol, atol=rtol)


@pytest.mark.parametrize(
    "neuron_type, smoothing, kind",
    [
        (nengo.LIFRate(), None, "neurons_lif_rate_fast"),
        (nengo.LIF(), None, "neurons_lif_rate_fast"),
    ],
)
def test_fast_mode_gradients(neuron_type, smoothing, kind):
    """Training follows exact=False, and float64 gradients still match central
    finite differences to 1e-4. (The smoothed LIF gradient is a surrogate, which
    finite differences do not check in either mode.)"""
    with nengo.Network(seed=3) as net:
        if smoothing is not None:
            nengo_native.configure_settings(lif_smoothing=smoothing)
        inp = nengo.Node(np.zeros(2))
        a = nengo.Ensemble(12, 2, neuron_type=neuron_type)
        out = nengo.Node(size_in=1)
        nengo.Connection(inp, a, synapse=0.01)
        nengo.Connection(a, out, function=lambda x: x[0] * x[1], synapse=0.01)
        nengo.Probe(out)
    x = {inp: np.random.RandomState(0).uniform(-1, 1, size=(2, 4, 2))}
    with nengo_native.Simulator(
        net, minibatch_size=2, progress_bar=False, seed=1, exact=False
    ) as sim:
        kinds = {
            s.training_kind or s.kind for s in sim.program.steps if hasattr(s, "kind")
        }
        assert kind in kinds, kinds
        errors = sim.check_gradients(x, max_checks=6, rtol=1e-4)
    assert errors and max(errors.values()) <= 1e-4


@pytest.mark.parametrize("minibatch", [1, 3])
def test_fast_gradients_through_merged_ensembles(minibatch):
    """Merged encoders that start from the ensembles' biases (the throughput mode's
    stand-in for copying them) pass every bias, encoder and decoder its gradient: all
    of them match the exact mode's."""
    from nengo_native.training.losses import get_loss

    with nengo.Network(seed=6) as net:
        inp = nengo.Node(np.zeros(5))
        array = nengo.networks.EnsembleArray(
            9, n_ensembles=5, neuron_type=nengo.LIFRate()
        )
        nengo.Connection(inp, array.input, synapse=None)
        probe = nengo.Probe(array.output, synapse=0.01)
    rng = np.random.RandomState(0)
    x = {inp: rng.uniform(-1, 1, size=(minibatch, 4, 5))}
    y = {probe: rng.uniform(-1, 1, size=(minibatch, 4, 5))}
    grads = []
    for exact in (True, False):
        with nengo_native.Simulator(
            net, minibatch_size=minibatch, progress_bar=False, seed=1, exact=exact
        ) as sim:
            fused = [
                s for s in sim.program.steps if "Y_init" in getattr(s, "params", {})
            ]
            assert bool(fused) != exact
            trainer = sim.trainer
            data, _, n_steps = trainer.inputs(x, None)
            trainer.prepare()
            trainer.loss_and_gradients(data, y, n_steps, {probe: get_loss("mse")}, {})
            grads.append(trainer.gradients())
    assert any("bias" in str(key) for key in grads[0]), list(grads[0])
    for key, exact_grad in grads[0].items():
        assert np.any(exact_grad != 0), key
        np.testing.assert_allclose(grads[1][key], exact_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_neurons", [3, 13])
def test_fast_rate_gradients_of_every_neuron(n_neurons):
    """Every neuron's gradient, also those past the last whole vector of an ensemble
    (13 neurons: a remainder in float64 and float32 vectors; 3: less than one vector),
    matches the exact mode's: all parameters, not a sample of them."""
    from nengo_native.training.losses import get_loss

    with nengo.Network(seed=2) as net:
        inp = nengo.Node(np.zeros(2))
        a = nengo.Ensemble(n_neurons, 2, neuron_type=nengo.LIFRate())
        b = nengo.Ensemble(n_neurons, 1, neuron_type=nengo.LIFRate())
        nengo.Connection(inp, a, synapse=None)
        nengo.Connection(a, b, function=lambda x: x[0] * x[1], synapse=None)
        probe = nengo.Probe(b, synapse=None)
    rng = np.random.RandomState(0)
    x = {inp: rng.uniform(-1, 1, size=(3, 2, 2))}
    y = {probe: rng.uniform(-1, 1, size=(3, 2, 1))}
    grads = []
    for exact in (True, False):
        with nengo_native.Simulator(
            net, minibatch_size=3, progress_bar=False, seed=1, exact=exact
        ) as sim:
            trainer = sim.trainer
            data, _, n_steps = trainer.inputs(x, None)
            trainer.prepare()
            trainer.loss_and_gradients(data, y, n_steps, {probe: get_loss("mse")}, {})
            grads.append(trainer.gradients())
    assert grads[0].keys() == grads[1].keys()
    for key, exact_grad in grads[0].items():
        assert np.any(exact_grad != 0), key
        np.testing.assert_allclose(grads[1][key], exact_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("minibatch", [1, 3, 17])
@pytest.mark.parametrize("n_neurons", [5, 13, 64, 100])
def test_fast_merged_products_match_exact(dtype, minibatch, n_neurons):
    """The merged encoders and decoders of many small ensembles (more rows than a
    vector has lanes; ensembles shorter than a vector, longer and not a multiple of
    it, as long as the rows kept in registers, longer; items in groups of a vector's
    lanes and left over) sum in another order in the throughput mode, to within the
    dtype's rounding."""
    with nengo.Network(seed=4) as net:
        stim = nengo.Node(lambda t: np.sin(np.arange(11) + 7 * t))
        # ReLU neurons are the same in both modes: only the products differ
        array = nengo.networks.EnsembleArray(
            n_neurons, n_ensembles=11, neuron_type=nengo.RectifiedLinear()
        )
        nengo.Connection(stim, array.input, synapse=None)
        out = array.add_output("square", np.square)
        probes = [nengo.Probe(array.output), nengo.Probe(out)]
    outputs = []
    for exact in (True, False):
        with nengo_native.Simulator(
            net, progress_bar=False, exact=exact, dtype=dtype, minibatch_size=minibatch
        ) as sim:
            kinds = {getattr(s, "kind", None) for s in sim.program.steps}
            assert ("bsr_dot_inc_fast" in kinds) != exact, kinds
            # the fast encoders start from the biases: no separate copy of them
            fused = [
                s for s in sim.program.steps if "Y_init" in getattr(s, "params", {})
            ]
            assert bool(fused) != exact
            sim.run_steps(20)
            outputs.append([sim.data[p] for p in probes])
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for exact_out, fast_out in zip(*outputs, strict=True):
        assert np.abs(exact_out).max() > 0.1
        np.testing.assert_allclose(fast_out, exact_out, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_item_same_bits_alone_or_in_a_minibatch(dtype):
    """In a network of per-item kernels (small ensembles' encoders and decoders, LIF),
    an item of a minibatch gets the bits it gets run alone: the decoder rows of a
    vector's width of items (or, run alone, of rows) are reduced together, each in its
    own order."""
    items = 11  # a group of 8 items side by side (float32; 2 groups in float64), 3 left
    with nengo.Network(seed=6) as net:
        stim = nengo.Node(np.zeros(9))
        # 9 rows: 8 side by side run alone (4 + 4 in float64), one left; 37 neurons: a
        # tail after whole vectors
        array = nengo.networks.EnsembleArray(37, n_ensembles=9)
        nengo.Connection(stim, array.input, synapse=None)
        probe = nengo.Probe(array.output, synapse=0.01)
    data = np.random.RandomState(3).uniform(-1, 1, (items, 50, 9))
    with nengo_native.Simulator(
        net, minibatch_size=items, exact=False, dtype=dtype, progress_bar=False
    ) as sim:
        sim.run_steps(50, data={stim: data})
        together = sim.data[probe]
    assert np.abs(together).max() > 0.1
    for b in (0, 7, 8, items - 1):
        with nengo_native.Simulator(
            net, exact=False, dtype=dtype, progress_bar=False
        ) as alone:
            alone.run_steps(50, data={stim: data[b : b + 1]})
            np.testing.assert_array_equal(alone.data[probe], together[b])


def test_fast_products_gradients():
    """The throughput mode's products (decoder rows, encoder columns, larger blocks
    and dense matrices, each over the whole minibatch) give float64 gradients that
    match central finite differences to 1e-4."""
    with nengo.Network(seed=5) as net:
        inp = nengo.Node(np.zeros(4))
        a = nengo.Ensemble(24, 4, neuron_type=nengo.LIFRate())
        b = nengo.Ensemble(16, 1, neuron_type=nengo.LIFRate())
        c = nengo.Ensemble(20, 4, neuron_type=nengo.LIFRate())
        mix = nengo.Node(size_in=3)
        out = nengo.Node(size_in=3)
        nengo.Connection(inp, a, synapse=0.01)
        nengo.Connection(a, b, function=lambda x: x[0] * x[1], synapse=0.01)
        nengo.Connection(a, c, function=np.tanh, synapse=0.01)
        nengo.Connection(c.neurons, mix, transform=np.full((3, 20), 0.01), synapse=None)
        nengo.Connection(mix, out, transform=np.arange(9.0).reshape(3, 3) / 9)
        nengo.Connection(b, out[0], synapse=0.01)
        # ensembles alike, joined into block-sparse products by the planner
        for d in range(3):
            e = nengo.Ensemble(10, 1, neuron_type=nengo.LIFRate())
            nengo.Connection(inp[d], e, synapse=None)
            nengo.Connection(e, out[d], function=np.sin, synapse=0.01)
        nengo.Probe(out)
    x = {inp: np.random.RandomState(0).uniform(-1, 1, size=(3, 4, 4))}
    with nengo_native.Simulator(
        net, minibatch_size=3, progress_bar=False, seed=1, exact=False
    ) as sim:
        kinds = {s.kind for s in sim.program.steps if hasattr(s, "kind")}
        assert {"bsr_dot_inc_fast", "dot_inc_fast"} <= kinds, kinds
        errors = sim.check_gradients(x, max_checks=8, rtol=1e-4)
    assert errors and max(errors.values()) <= 1e-4
