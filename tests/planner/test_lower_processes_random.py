"""Noise, WhiteSignal, PresentInput, Piecewise and Triangle run natively and match
nengo.Simulator for the same seed, also after reset(seed); minibatch items draw their
own streams (module docstring of `nengo_native.planner.lower_processes`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import nengo
import numpy as np
import pytest
from _batch import run_batched
from nengo.builder.processes import SimProcess
from nengo.processes import (
    BrownNoise,
    FilteredNoise,
    Piecewise,
    PresentInput,
    WhiteNoise,
    WhiteSignal,
)
from nengo.synapses import Triangle

import nengo_native

NATIVE = (
    WhiteNoise,
    FilteredNoise,
    BrownNoise,
    WhiteSignal,
    PresentInput,
    Piecewise,
    Triangle,
)


def process_net(interpolations=("cubic", "linear")) -> tuple[nengo.Network, list]:
    with nengo.Network(seed=3) as net:
        white = nengo.Node(WhiteNoise(), size_out=3)
        nengo.Node(  # seeded, unscaled, shifted: the draw is still numpy's
            WhiteNoise(dist=nengo.dists.Gaussian(0.5, 2), scale=False, seed=7),
            size_out=2,
        )
        nengo.Node(FilteredNoise(synapse=nengo.Alpha(0.01)), size_out=2)
        nengo.Node(FilteredNoise(synapse=nengo.Lowpass(0.005)), size_out=1)
        brown = nengo.Node(BrownNoise(), size_out=1)
        nengo.Node(WhiteSignal(0.5, high=10, y0=0), size_out=2)
        nengo.Node(WhiteSignal(0.1, high=30, rms=0.3), size_out=1)
        nengo.Node(PresentInput([[1, 2], [3, 4], [5, 6]], 0.013))
        nengo.Node(Piecewise({0: 1, 0.05: [2], 0.1: 3.5}))
        for kind in interpolations:
            data = {0: [1, 0], 0.05: [2, 1], 0.1: [3.5, -1], 0.13: [0, 0]}
            nengo.Node(Piecewise(data, interpolation=kind))
        ens = nengo.Ensemble(30, 3, noise=WhiteNoise(dist=nengo.dists.Gaussian(0, 0.1)))
        nengo.Connection(white, ens)
        tri = nengo.Node(size_in=3)
        nengo.Connection(white, tri, synapse=Triangle(0.01))
        tri1 = nengo.Node(size_in=1)
        nengo.Connection(brown, tri1, synapse=Triangle(0.2))  # > 128 taps: pairwise sum
        nodes = [n for n in net.nodes if n.size_out > 0]
        probes = [nengo.Probe(n) for n in nodes] + [nengo.Probe(ens.neurons)]
    return net, probes


def native_fallbacks(sim) -> list:
    return [
        op
        for op in sim.fallback_operators
        if isinstance(op, SimProcess) and type(op.process) in NATIVE
    ]


def data_of(sim, probes) -> list[np.ndarray]:
    return [sim.data[p].copy() for p in probes]


def assert_all_close(ref, got, probes):
    for p, x, y in zip(probes, ref, got, strict=True):
        assert np.allclose(x, y, atol=1e-12, rtol=0), p


@pytest.mark.parametrize("optimize", [False, True])
def test_processes_match_nengo_and_reset(optimize):
    net, probes = process_net()
    with nengo.Simulator(net, progress_bar=False, optimize=optimize) as ref:
        ref.run(0.2)
        r1 = data_of(ref, probes)
        ref.reset(seed=99)
        ref.run(0.2)
        r2 = data_of(ref, probes)
        ref.reset()
        ref.run(0.1)
        r3 = data_of(ref, probes)
    with nengo_native.Simulator(net, progress_bar=False, optimize=optimize) as sim:
        assert native_fallbacks(sim) == []
        sim.run(0.2)
        s1 = data_of(sim, probes)
        sim.reset(seed=99)
        sim.run(0.2)
        s2 = data_of(sim, probes)
        sim.reset()  # same seed again: the same noise from the start
        sim.run(0.1)
        s3 = data_of(sim, probes)
    assert_all_close(r1, s1, probes)
    assert_all_close(r2, s2, probes)
    assert_all_close(r3, s3, probes)
    assert not np.allclose(s1[0], s2[0])  # a new seed gives new noise


def test_float32_runs_close():
    net, probes = process_net(interpolations=("linear",))
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run(0.1)
    with nengo_native.Simulator(net, progress_bar=False, dtype="float32") as sim:
        assert native_fallbacks(sim) == []
        sim.run(0.1)
    for p in probes[:-1]:  # (spikes may flip under float32 rounding)
        assert np.allclose(ref.data[p], sim.data[p], atol=1e-3, rtol=1e-4), p


def test_unsupported_variants_fall_back_and_match():
    with nengo.Network(seed=1) as net:
        a = nengo.Node(
            WhiteNoise(dist=nengo.dists.Uniform(-3, 3, integer=True)), size_out=2
        )
        b = nengo.Node(Piecewise({0: lambda t: [np.sin(t)], 0.05: 1.0}))
        c = nengo.Node(WhiteNoise(), size_out=1)  # native, drawn after the fallbacks
        probes = [nengo.Probe(x) for x in (a, b, c)]
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run(0.05)
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        fallen = [type(op.process) for op in native_fallbacks(sim)]
        # Piecewise calls the user's function every step, like a node: not a fallback
        assert fallen == [WhiteNoise]
        sim.run(0.05)
    assert_all_close(data_of(ref, probes), data_of(sim, probes), probes)


@pytest.mark.parametrize(
    "dist",
    [
        nengo.dists.Uniform(-0.5, 1.5),
        nengo.dists.Choice([[0.5, -1.0], [2.0, 3.0], [0.0, 1.0]], weights=[1, 2, 3]),
        nengo.dists.Choice([[0.5, 0.5]]),
    ],
    ids=["uniform", "choice", "one_choice"],
)
@pytest.mark.parametrize("process", [WhiteNoise, FilteredNoise])
def test_uniform_and_choice_noise_are_native_and_exact(dist, process):
    with nengo.Network(seed=1) as net:
        node = nengo.Node(process(dist=dist), size_out=2)
        ens = nengo.Ensemble(2, 1, noise=process(dist=dist))
        probes = [nengo.Probe(node), nengo.Probe(ens.neurons, "input")]
    with nengo.Simulator(net, progress_bar=False, seed=3) as ref:
        ref.run_steps(40)
    with nengo_native.Simulator(net, progress_bar=False, seed=3) as sim:
        assert not native_fallbacks(sim)
        sim.run_steps(40)
    for p in probes:
        assert np.array_equal(ref.data[p], sim.data[p])


def test_batch_items_have_their_own_streams():
    dt, n_steps, seed = 0.001, 60, 5
    with nengo.Network(seed=8) as net:
        white = nengo.Node(WhiteNoise(seed=21), size_out=2)
        signal = nengo.Node(WhiteSignal(0.2, high=20), size_out=1)
        present = nengo.Node(PresentInput([[1.0], [2.0]], 0.01))
        ens = nengo.Ensemble(
            12, 1, neuron_type=nengo.PoissonSpiking(nengo.LIFRate()), seed=2
        )
        nengo.Connection(present, ens)
        probes = [nengo.Probe(x) for x in (white, signal, present, ens.neurons)]
    data, fallbacks = run_batched(
        net, minibatch_size=3, seed=seed, n_steps=n_steps, dt=dt
    )
    assert fallbacks == []
    with nengo.Simulator(net, seed=seed, dt=dt, progress_bar=False) as ref:
        ref.run_steps(n_steps)
    for p in probes:
        x = data[p]
        assert x.shape[:2] == (n_steps, 3)
        assert np.allclose(x[:, 0], ref.data[p], atol=1e-12, rtol=0), p  # item 0
        if p.target is present:
            assert np.array_equal(x[:, 1], x[:, 2])  # deterministic
        else:
            assert not np.allclose(x[:, 1], x[:, 0]) and not np.allclose(
                x[:, 1], x[:, 2]
            )
    # Item b's white noise is the documented stream (seed 21 is the process's own).
    for b in (1, 2):
        item_seed = int(np.random.SeedSequence([21, b]).generate_state(1)[0])
        expect = np.random.RandomState(item_seed).normal(size=(n_steps, 2))
        expect = expect * (1.0 / np.sqrt(dt))
        assert np.array_equal(data[probes[0]][:, b], expect)


@pytest.mark.parametrize("neuron_type", [nengo.StochasticSpiking, nengo.PoissonSpiking])
def test_batch_stochastic_neurons(neuron_type):
    with nengo.Network(seed=4) as net:
        inp = nengo.Node(Piecewise({0: 0.8, 0.03: -0.4}))
        ens = nengo.Ensemble(20, 1, neuron_type=neuron_type(nengo.LIFRate()))
        nengo.Connection(inp, ens)
        probe = nengo.Probe(ens.neurons)
    data, fallbacks = run_batched(net, minibatch_size=2, seed=3, n_steps=50)
    assert fallbacks == []
    with nengo.Simulator(net, seed=3, progress_bar=False) as ref:
        ref.run_steps(50)
    assert np.array_equal(data[probe][:, 0], ref.data[probe])
    assert not np.array_equal(data[probe][:, 1], data[probe][:, 0])


_THREAD_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import nengo
    import nengo_native
    from nengo.processes import WhiteNoise, WhiteSignal, FilteredNoise

    nengo.rc.set("decoder_cache", "enabled", "False")
    with nengo.Network(seed=2) as net:
        nodes = [nengo.Node(WhiteNoise(), size_out=50) for _ in range(40)]
        nodes += [nengo.Node(FilteredNoise(), size_out=50) for _ in range(40)]
        nodes += [nengo.Node(WhiteSignal(1.0, high=5), size_out=20) for _ in range(20)]
        ens = nengo.Ensemble(500, 2)
        nengo.Connection(nodes[0][:2], ens)
        post = nengo.Ensemble(400, 2)
        conn = nengo.Connection(ens, post, learning_rule_type=nengo.PES(1e-3))
        nengo.Connection(post, conn.learning_rule)
        probes = [nengo.Probe(n) for n in nodes[::7]] + [nengo.Probe(conn, "weights")]
    with nengo_native.Simulator(net, seed=1, progress_bar=False) as sim:
        sim.run_steps(40)
        np.savez(sys.argv[1], *[sim.data[p] for p in probes])
    """
)


def test_thread_count_does_not_change_noise(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_THREAD_SCRIPT)
    results = []
    for threads in ("1", "2"):
        out = tmp_path / f"out{threads}.npz"
        env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS="1")
        subprocess.run([sys.executable, str(script), str(out)], env=env, check=True)
        with np.load(out) as f:
            results.append([f[k] for k in sorted(f.files)])
    for a, b in zip(*results, strict=True):
        assert np.array_equal(a, b)
