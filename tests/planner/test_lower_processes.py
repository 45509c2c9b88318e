"""SimProcess with linear filters runs natively and matches nengo.Simulator."""

from __future__ import annotations

import nengo
import numpy as np
import pytest
from nengo.builder import Model
from nengo.builder.processes import SimProcess
from nengo.builder.signal import Signal

import nengo_native

NATIVE_FILTERS = (nengo.LinearFilter, nengo.Lowpass, nengo.Alpha)

SYNAPSES = {
    "lowpass": nengo.Lowpass(0.01),
    "alpha": nengo.Alpha(0.005),
    "second_order": nengo.LinearFilter([1], [0.001, 0.05, 1]),
    "passthrough": nengo.LinearFilter([0.5, 1], [0.1, 1]),
    "gain_only": nengo.LinearFilter([2], [1]),
    "discrete": nengo.LinearFilter([0.2], [1, -0.8], analog=False),
    "none": None,
}


def run_both(net, probes, optimize, t=0.25, seed=1):
    """Probe data of nengo.Simulator and nengo_native.Simulator, and the latter."""
    with nengo.Simulator(net, seed=seed, progress_bar=False, optimize=optimize) as ref:
        ref.run(t)
    with nengo_native.Simulator(
        net, seed=seed, progress_bar=False, optimize=optimize
    ) as sim:
        sim.run(t)
    return ref, sim


def filter_fallbacks(sim) -> list:
    return [
        op
        for op in sim.fallback_operators
        if isinstance(op, SimProcess) and type(op.process) in NATIVE_FILTERS
    ]


def assert_probes_match(ref, sim, probes):
    for p in probes:
        assert np.allclose(ref.data[p], sim.data[p], atol=1e-12, rtol=0), p


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("name", list(SYNAPSES))
def test_filters_match_nengo(name, optimize):
    synapse = SYNAPSES[name]
    with nengo.Network(seed=3) as net:
        u = nengo.Node(lambda t: [np.sin(7 * t), np.cos(3 * t), t])
        vec = nengo.Node(size_in=3)
        scalar = nengo.Node(size_in=1)
        nengo.Connection(u, vec, synapse=synapse)
        nengo.Connection(u[1], scalar, synapse=synapse)  # size-1 (OneXScalar) path
        ens = nengo.Ensemble(40, 3)
        nengo.Connection(vec, ens, synapse=synapse)
        probes = [
            nengo.Probe(vec),
            nengo.Probe(scalar),
            nengo.Probe(vec, synapse=nengo.Alpha(0.004)),
            nengo.Probe(scalar, synapse=0.01),
            nengo.Probe(ens, synapse=nengo.LinearFilter([1], [0.001, 0.05, 1])),
            nengo.Probe(ens.neurons, synapse=0.005),
        ]
    ref, sim = run_both(net, probes, optimize)
    assert filter_fallbacks(sim) == []
    assert_probes_match(ref, sim, probes)


@pytest.mark.parametrize("optimize", [False, True])
def test_many_filters_and_noise_keep_seeds(optimize):
    """Unseeded noise after native filters gets the seed it gets in nengo (each
    SimProcess draws from the simulator's generator, native or not)."""
    with nengo.Network(seed=11) as net:
        u = nengo.Node(np.sin)
        outs = []
        for tau in (0.002, 0.005, 0.01, 0.02):
            n = nengo.Node(size_in=1)
            nengo.Connection(u, n, synapse=nengo.Lowpass(tau))
            outs.append(n)
        noise = nengo.Node(nengo.processes.WhiteNoise())
        noise2 = nengo.Node(nengo.processes.WhiteSignal(1.0, high=10), size_out=2)
        probes = [nengo.Probe(n) for n in outs + [noise, noise2]]
        probes.append(nengo.Probe(noise2, synapse=nengo.Alpha(0.01)))
    ref, sim = run_both(net, probes, optimize)
    assert filter_fallbacks(sim) == []
    assert_probes_match(ref, sim, probes)


@pytest.mark.parametrize("optimize", [False, True])
def test_subclass_falls_back_and_matches(optimize):
    class MyLowpass(nengo.Lowpass):
        pass

    with nengo.Network(seed=2) as net:
        u = nengo.Node(lambda t: [np.sin(5 * t), t])
        n = nengo.Node(size_in=2)
        nengo.Connection(u, n, synapse=MyLowpass(0.01))
        nengo.Connection(u, n, synapse=nengo.Lowpass(0.02))
        probes = [nengo.Probe(n), nengo.Probe(n, synapse=MyLowpass(0.005))]
    ref, sim = run_both(net, probes, optimize)
    fallen = [op for op in sim.fallback_operators if isinstance(op, SimProcess)]
    assert fallen and all(type(op.process) is MyLowpass for op in fallen)
    assert filter_fallbacks(sim) == []
    assert_probes_match(ref, sim, probes)


def test_reset_restarts_filters():
    with nengo.Network(seed=4) as net:
        u = nengo.Node(np.cos)
        n = nengo.Node(size_in=1)
        nengo.Connection(u, n, synapse=nengo.Alpha(0.01))
        p = nengo.Probe(n, synapse=0.02)
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        sim.run(0.1)
        first = sim.data[p].copy()
        sim.reset()
        sim.run(0.1)
        assert np.array_equal(first, sim.data[p])


@pytest.mark.parametrize("mode", ["set", "inc", "update"])
@pytest.mark.parametrize(
    "synapse", [nengo.Lowpass(0.01), nengo.Alpha(0.01), SYNAPSES["passthrough"]]
)
def test_modes_on_a_hand_built_model(mode, synapse):
    """Every SimProcess mode, with a strided input view and a nonzero initial state."""

    def build():
        model = Model(dt=0.001)
        u = Signal(np.linspace(-1, 1, 8), name="u")
        out = Signal(np.full(4, 0.25), name="out")
        state = synapse.make_state((4,), (4,), model.dt, y0=0.5)
        X = Signal(state["X"], name="X")
        op = SimProcess(synapse, u[::2], out, model.time, mode=mode, state={"X": X})
        model.add_op(op)
        return model, (out, X)

    general_inc = mode == "inc" and synapse is SYNAPSES["passthrough"]
    results = []
    for simulator in (nengo.Simulator, nengo_native.Simulator):
        model, sigs = build()
        with simulator(None, model=model, progress_bar=False, optimize=False) as sim:
            if general_inc:
                # nengo's General step cannot increment a vector output (its result
                # has shape (1, n)); the native simulator falls back and fails alike.
                with pytest.raises(ValueError):
                    sim.run_steps(7)
                continue
            sim.run_steps(7)
            results.append([np.array(sim.signals[s]) for s in sigs])
            if simulator is nengo_native.Simulator:
                assert filter_fallbacks(sim) == []
    for a, b in zip(*results, strict=True):
        assert np.allclose(a, b, atol=1e-12, rtol=0)
