"""Native SimNeurons kernels against nengo's reference simulator."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import nengo
import numpy as np
import pytest
from nengo.builder.neurons import SimNeurons
from nengo.dists import Uniform

import nengo_native

SPIKING = (
    nengo.LIF,
    nengo.AdaptiveLIF,
    nengo.SpikingRectifiedLinear,
    nengo.Izhikevich,
    nengo.RegularSpiking,
    nengo.StochasticSpiking,
    nengo.PoissonSpiking,
)

# (id, neuron type factory, ensemble keyword arguments)
CASES = [
    ("lif", lambda: nengo.LIF(), {}),
    (
        "lif_params",
        lambda: nengo.LIF(tau_rc=0.03, tau_ref=0.001, min_voltage=-1, amplitude=0.5),
        {},
    ),
    ("lif_rate", lambda: nengo.LIFRate(), {}),
    (
        "lif_rate_params",
        lambda: nengo.LIFRate(tau_rc=0.05, tau_ref=0.0, amplitude=2),
        {},
    ),
    ("adaptive_lif", lambda: nengo.AdaptiveLIF(tau_n=0.1, inc_n=0.05), {}),
    ("adaptive_lif_rate", lambda: nengo.AdaptiveLIFRate(tau_n=0.1, inc_n=0.05), {}),
    ("rectified_linear", lambda: nengo.RectifiedLinear(amplitude=0.3), {}),
    ("spiking_rectified_linear", lambda: nengo.SpikingRectifiedLinear(), {}),
    ("sigmoid", lambda: nengo.Sigmoid(), {}),
    ("tanh", lambda: nengo.Tanh(), {}),
    ("izhikevich", lambda: nengo.Izhikevich(), {}),
    (
        "izhikevich_ch",
        lambda: nengo.Izhikevich(reset_voltage=-50, reset_recovery=2),
        {},
    ),
    ("regular_lif_rate", lambda: nengo.RegularSpiking(nengo.LIFRate()), {}),
    ("regular_tanh", lambda: nengo.RegularSpiking(nengo.Tanh(), amplitude=0.5), {}),
    ("regular_adaptive", lambda: nengo.RegularSpiking(nengo.AdaptiveLIFRate()), {}),
    ("stochastic_lif_rate", lambda: nengo.StochasticSpiking(nengo.LIFRate()), {}),
    ("stochastic_tanh", lambda: nengo.StochasticSpiking(nengo.Tanh()), {}),
    (
        "stochastic_relu_high",
        lambda: nengo.StochasticSpiking(nengo.RectifiedLinear()),
        {"max_rates": Uniform(2000, 5000)},
    ),
    ("poisson_lif_rate", lambda: nengo.PoissonSpiking(nengo.LIFRate()), {}),
    ("poisson_sigmoid", lambda: nengo.PoissonSpiking(nengo.Sigmoid(), amplitude=2)),
    ("poisson_tanh", lambda: nengo.PoissonSpiking(nengo.Tanh()), {}),
    # Rates up to 30 kHz give lam = rate * dt on both sides of 10: numpy's
    # multiplication method and its PTRS rejection sampler both run.
    (
        "poisson_relu_high",
        lambda: nengo.PoissonSpiking(nengo.RectifiedLinear()),
        {"max_rates": Uniform(5000, 30000)},
    ),
]
CASES = [case if len(case) == 3 else (*case, {}) for case in CASES]


def make_net(neuron_type, n_ensembles=1, n_neurons=50, seed=3, **ens_kwargs):
    """Ensembles of ``neuron_type`` driven by a time-varying input, probing output and
    every state signal (and the base type's rates for rates-to-spikes types).

    The input is one-dimensional so that the currents are formed by single products,
    exactly as numpy forms them; with more dimensions the dot kernel's summation order
    may differ from numpy's BLAS by an ulp, which chaotic neurons (Izhikevich) amplify.
    """
    with nengo.Network(seed=seed) as net:
        u = nengo.Node(lambda t: np.sin(8 * t) + 0.5 * np.cos(5 * t))
        probes = []
        for _ in range(n_ensembles):
            ens = nengo.Ensemble(n_neurons, 1, neuron_type=neuron_type, **ens_kwargs)
            nengo.Connection(u, ens)
            probes.extend(
                nengo.Probe(ens.neurons, attr) for attr in neuron_type.probeable
            )
    return net, probes


def run_both(net, probes, t=0.3, optimize=True, **native_kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # base types that spike, merged extra state
        with nengo.Simulator(net, progress_bar=False, optimize=optimize) as ref:
            ref.run(t)
        with nengo_native.Simulator(
            net, progress_bar=False, optimize=optimize, **native_kwargs
        ) as sim:
            sim.run(t)
    return ref, sim


def assert_matches(ref, sim, probes, spiking):
    for probe in probes:
        expected, actual = ref.data[probe], sim.data[probe]
        assert actual.shape == expected.shape, probe
        if spiking and probe.attr == "output":
            assert np.array_equal(actual, expected), probe
        else:
            assert np.allclose(actual, expected, rtol=0, atol=1e-12), probe


def native_neuron_ops(sim):
    fallback = set(map(id, sim.fallback_operators))
    return [
        op
        for op in sim.model.operators
        if isinstance(op, SimNeurons) and id(op) not in fallback
    ]


@pytest.mark.parametrize(
    "factory, ens_kwargs", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_matches_nengo(factory, ens_kwargs):
    neuron_type = factory()
    net, probes = make_net(neuron_type, **ens_kwargs)
    ref, sim = run_both(net, probes)
    assert not any(isinstance(op, SimNeurons) for op in sim.fallback_operators)
    assert_matches(ref, sim, probes, isinstance(neuron_type, SPIKING))
    if isinstance(neuron_type, SPIKING):
        assert any(ref.data[p].any() for p in probes if p.attr == "output"), (
            "no spikes at all"
        )


@pytest.mark.parametrize(
    "factory, optimize",
    [
        (nengo.LIF, True),
        (nengo.LIF, False),
        (nengo.Izhikevich, True),
        (nengo.Izhikevich, False),
        # nengo's optimizer merges stochastic ops onto one of their RandomStates, and
        # which one varies from build to build (nengo warns): only unmerged repeats.
        (lambda: nengo.PoissonSpiking(nengo.LIFRate()), False),
        (lambda: nengo.StochasticSpiking(nengo.Tanh()), False),
    ],
    ids=["lif-opt", "lif", "izhikevich-opt", "izhikevich", "poisson", "stochastic"],
)
def test_many_ensembles(factory, optimize):
    """Several ops in one kernel call (merged into views of one signal or not)."""
    neuron_type = factory()
    net, probes = make_net(neuron_type, n_ensembles=4, n_neurons=30)
    ref, sim = run_both(net, probes, optimize=optimize)
    assert not any(isinstance(op, SimNeurons) for op in sim.fallback_operators)
    assert_matches(ref, sim, probes, spiking=True)


def test_subclass_falls_back():
    class MyLIF(nengo.LIF):
        def step(self, dt, J, output, voltage, refractory_time):
            super().step(dt, J * 1.5, output, voltage, refractory_time)

    net, probes = make_net(MyLIF())
    ref, sim = run_both(net, probes)
    fallback = [op for op in sim.fallback_operators if isinstance(op, SimNeurons)]
    assert len(fallback) == 1 and type(fallback[0].neurons) is MyLIF
    assert_matches(ref, sim, probes, spiking=True)


def test_stochastic_streams_survive_reset():
    """nengo never rewinds the neurons' RandomState: neither may the kernel."""
    net, probes = make_net(nengo.PoissonSpiking(nengo.LIFRate()))
    with (
        nengo.Simulator(net, progress_bar=False) as ref,
        nengo_native.Simulator(net, progress_bar=False) as sim,
    ):
        runs = []
        for s in (ref, sim):
            s.run(0.1)
            first = s.data[probes[0]].copy()
            s.reset()
            s.run(0.1)
            runs.append((first, s.data[probes[0]].copy()))
    (ref_first, ref_second), (first, second) = runs
    assert np.array_equal(first, ref_first)
    assert np.array_equal(second, ref_second)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("lam_range", [(0.0, 9.99), (10.0, 400.0), (1e-4, 0.05)])
def test_poisson_stream_matches_numpy(lam_range):
    """Many draws of the kernel's generator against numpy's legacy RandomState.poisson.

    The rate type's output equals its bias, so every neuron's lam is known exactly and
    the spikes are ``amplitude / dt * rng.poisson(lam)`` with numpy's own generator.
    """
    n, steps, dt = 200, 400, 0.001
    lam = np.random.RandomState(1).uniform(*lam_range, size=n)
    with nengo.Network(seed=1) as net:
        ens = nengo.Ensemble(
            n,
            1,
            neuron_type=nengo.PoissonSpiking(nengo.RectifiedLinear()),
            gain=np.ones(n),
            bias=lam / dt,
        )
        probe = nengo.Probe(ens.neurons)
    with nengo_native.Simulator(net, dt=dt, progress_bar=False) as sim:
        (op,) = [
            o
            for o in sim.model.operators
            if isinstance(o, SimNeurons) and "rng" in o.state_extra
        ]
        # The kernel took over the stream at planning; the model's copy stays put.
        numpy_rng = np.random.RandomState()
        numpy_rng.set_state(op.state_extra["rng"].get_state())
        sim.run_steps(steps)
        rates = sim.signals[sim.model.sig[ens.neurons]["rate_out"]].copy()
    expected = np.array([numpy_rng.poisson(rates * dt, n) for _ in range(steps)]) / dt
    assert np.array_equal(sim.data[probe], expected)
    assert expected.any()


def test_stochastic_stream_matches_numpy():
    n, steps, dt = 300, 300, 0.001
    rates = np.random.RandomState(2).uniform(-3000, 3000, size=n)
    with nengo.Network(seed=2) as net:
        ens = nengo.Ensemble(
            n,
            1,
            neuron_type=nengo.StochasticSpiking(nengo.RectifiedLinear()),
            gain=np.ones(n),
            bias=rates,
        )
        probe = nengo.Probe(ens.neurons)
    with nengo_native.Simulator(net, dt=dt, progress_bar=False) as sim:
        (op,) = [
            o
            for o in sim.model.operators
            if isinstance(o, SimNeurons) and "rng" in o.state_extra
        ]
        numpy_rng = np.random.RandomState()
        numpy_rng.set_state(op.state_extra["rng"].get_state())
        sim.run_steps(steps)
    frac, whole = np.modf(dt * np.maximum(rates, 0))
    expected = (
        np.array([whole + (numpy_rng.random_sample(n) < frac) for _ in range(steps)])
        / dt
    )
    assert np.array_equal(sim.data[probe], expected)


@pytest.mark.parametrize(
    "factory",
    [nengo.LIFRate, nengo.LIF, nengo.Sigmoid, nengo.Izhikevich, nengo.AdaptiveLIF],
    ids=["lif_rate", "lif", "sigmoid", "izhikevich", "adaptive_lif"],
)
def test_float32_close_to_float64(factory):
    neuron_type = factory()
    net, probes = make_net(neuron_type)
    ref, sim = run_both(net, probes, dtype="float32")
    assert not any(isinstance(op, SimNeurons) for op in sim.fallback_operators)
    out = probes[0]
    assert sim.data[out].dtype == np.float32
    expected, actual = ref.data[out], sim.data[out]
    if isinstance(neuron_type, SPIKING):
        # Rounding shifts a few spikes by a step; firing rates stay put.
        count_ref, count = expected.sum(axis=0) * ref.dt, actual.sum(axis=0) * sim.dt
        assert np.allclose(count, count_ref, atol=3)
        assert abs(count.sum() - count_ref.sum()) <= 0.02 * count_ref.sum() + 3
    else:
        assert np.allclose(
            actual, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max()
        )


THREAD_SCRIPT = """
import hashlib, sys, nengo, numpy as np, nengo_native
with nengo.Network(seed=5) as net:
    u = nengo.Node(lambda t: np.sin(10 * t))
    ens = nengo.Ensemble(40000, 1, neuron_type=nengo.{neuron})
    nengo.Connection(u, ens)
    p = nengo.Probe(ens.neurons)
    v = nengo.Probe(ens.neurons, "{state}")
with nengo_native.Simulator(net, progress_bar=False) as sim:
    sim.run(0.05)
print(hashlib.sha256(sim.data[p].tobytes() + sim.data[v].tobytes()).hexdigest())
"""


@pytest.mark.parametrize(
    "neuron, state",
    [("LIF()", "voltage"), ("PoissonSpiking(nengo.LIFRate())", "rate_out")],
    ids=["lif", "poisson"],
)
def test_thread_count_does_not_change_results(neuron, state):
    script = THREAD_SCRIPT.format(neuron=neuron, state=state)
    digests = []
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        result = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.append(result.stdout.strip())
    assert digests[0] == digests[1]


def test_native_kernel_ops_are_grouped():
    net, _ = make_net(nengo.LIF(), n_ensembles=3, n_neurons=10)
    with nengo_native.Simulator(net, progress_bar=False, optimize=False) as sim:
        assert len(native_neuron_ops(sim)) == 3
        kinds = [s.kind for s in sim.program.steps if hasattr(s, "kind")]
        assert kinds.count("neurons_lif") == 1


def test_overlapping_neuron_signals_are_found():
    """Neuron kernels update element by element, so a neuron operator whose written
    signals overlap each other or what it reads must fall back; ranges that only
    touch are fine. Contiguous and strided signals give the same answers."""
    from nengo.builder.signal import Signal

    from nengo_native.planner.layout import Layout, disjoint

    base = Signal(np.zeros(20), name="base")
    layout = Layout([base], {base}, 1, np.float64, dt=0.001)
    a, b, c = base[0:5], base[5:10], base[8:12]
    even, odd = base[0:20:2], base[1:20:2]
    assert disjoint(layout, reads=[base[10:20]], writes=[b, a])
    assert not disjoint(layout, reads=[], writes=[b, c])
    assert not disjoint(layout, reads=[base[4:6]], writes=[a])
    assert not disjoint(layout, reads=[base[12:20], base[9:10]], writes=[a, b])
    assert disjoint(layout, reads=[odd], writes=[even])
    assert not disjoint(layout, reads=[base[3:4]], writes=[odd, base[2:3]])
    assert disjoint(layout, reads=[base[4:5]], writes=[odd, base[2:3]])
    assert not disjoint(layout, reads=[even], writes=[a])
