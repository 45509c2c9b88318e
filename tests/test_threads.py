"""Results do not depend on the number of OpenMP threads (DESIGN rule 7).

One model is built once and run with 1 and then 2 threads (set through the core
between runs), so nothing but the threading can differ; the probes must be
bit-identical. The model is big enough that the core's parallel loops split work:
2000 x 2000 neuron weight matrices into separate targets, and one ensemble of
70 000 neurons whose update is split across threads.
"""

from __future__ import annotations

import nengo
import numpy as np
import pytest

import nengo_native
from nengo_native import _core


def build():
    rng = np.random.RandomState(0)
    with nengo.Network(seed=11) as net:
        stim = nengo.Node(lambda t: [np.sin(8 * t), np.cos(5 * t)])
        ens = [nengo.Ensemble(2000, 2, label=f"e{i}") for i in range(3)]
        big = nengo.Ensemble(70_000, 1, label="big")
        nengo.Connection(stim, ens[0])
        nengo.Connection(stim, big.neurons, transform=rng.uniform(-1, 1, (70_000, 2)))
        for pre, post in [(0, 1), (1, 2), (2, 0), (0, 2)]:
            nengo.Connection(
                ens[pre].neurons,
                ens[post].neurons,
                transform=rng.uniform(-1, 1, (2000, 2000)) * 2e-5,
                synapse=0.005,
            )
        ea = nengo.networks.EnsembleArray(50, n_ensembles=8, ens_dimensions=1)
        nengo.Connection(stim, ea.input[:2])
        nengo.Connection(ea.output, ea.input, transform=0.3, synapse=0.01)
        net.my_probes = [nengo.Probe(e.neurons) for e in ens + [big]]
        net.my_probes += [nengo.Probe(e.neurons, "voltage") for e in ens]
        net.my_probes.append(nengo.Probe(ea.output, synapse=0.01))
    return net


@pytest.fixture
def restore_threads():
    threads = _core.get_num_threads()
    yield
    _core.set_num_threads(threads)


@pytest.mark.skipif(not _core.openmp, reason="the core was built without OpenMP")
@pytest.mark.parametrize("optimize, minibatch_size", [(False, None), (True, 2)])
def test_same_results_for_1_and_2_threads(restore_threads, optimize, minibatch_size):
    net = build()
    with nengo_native.Simulator(
        net,
        seed=1,
        optimize=optimize,
        minibatch_size=minibatch_size,
        progress_bar=False,
    ) as sim:
        runs = []
        for threads in (1, 2):
            _core.set_num_threads(threads)
            sim.reset()
            sim.run_steps(30)
            runs.append([sim.data[p].copy() for p in net.my_probes])
    spikes = runs[0][3]
    assert spikes.any(), "the big ensemble should spike, or the test checks nothing"
    for one, two in zip(*runs, strict=True):
        assert np.array_equal(one, two)


def test_thread_count_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        _core.set_num_threads(0)


def split_net():
    """Enough LIF work per step (16 x 64 neurons, 32 items) that the throughput mode
    splits a minibatch of 32 over threads; inputs differ per item."""
    with nengo.Network(seed=5) as net:
        stim = nengo.Node(np.zeros(16))
        ea = nengo.networks.EnsembleArray(64, n_ensembles=16)
        nengo.Connection(stim, ea.input)
        nengo.Connection(ea.output, ea.input, transform=0.5, synapse=0.05)
        net.my_probes = [
            nengo.Probe(ea.output, synapse=0.01),
            nengo.Probe(ea.ea_ensembles[3].neurons),
        ]
    return net, stim


def runs_by_threads(sim, probes, thread_counts, **run_args):
    """Probe data and the number of threads the core split items over, per run."""
    runs = []
    for threads in thread_counts:
        _core.set_num_threads(threads)
        sim.reset()
        sim.run_steps(200, **run_args)
        split = sim._engine.runtime.executor.item_threads
        runs.append((split, [sim.data[p].copy() for p in probes]))
    return runs


@pytest.mark.skipif(not _core.openmp, reason="the core was built without OpenMP")
@pytest.mark.parametrize(
    "minibatch_size, dtype",
    # shares on cache lines, and shares that are not (17 items: 8 and 9)
    [(32, "float64"), (32, "float32"), (17, "float32")],
)
def test_fast_minibatch_split_over_threads_is_deterministic(
    restore_threads, minibatch_size, dtype
):
    net, stim = split_net()
    data = np.random.RandomState(2).uniform(-1, 1, (minibatch_size, 200, 16))
    with nengo_native.Simulator(
        net,
        minibatch_size=minibatch_size,
        exact=False,
        dtype=dtype,
        seed=3,
        progress_bar=False,
    ) as sim:
        runs = runs_by_threads(sim, net.my_probes, (1, 2, 2), data={stim: data})
    (serial, one), (split, two), (_, again) = runs
    assert (serial, split) == (1, 2)
    spikes = two[1]
    assert spikes.any() and not np.array_equal(spikes[:, 0], spikes[:, 1])
    for a, b in zip(two, again, strict=True):
        assert np.array_equal(a, b)
    # Each item's arithmetic is the serial run's (no kernel here blocks by batch width).
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.skipif(not _core.openmp, reason="the core was built without OpenMP")
def test_exact_minibatch_split_over_threads_is_bit_identical(restore_threads):
    # Filters and copies only (no neurons): exact kernels that split by item.
    with nengo.Network(seed=1) as net:
        stim = nengo.Node(np.zeros(16))
        outs = [nengo.Node(size_in=16) for _ in range(48)]
        for i, out in enumerate(outs):
            nengo.Connection(stim, out, synapse=0.005 + 0.001 * i)
        net.my_probes = [nengo.Probe(out, synapse=0.01) for out in outs[::7]]
    data = np.random.RandomState(4).randn(32, 200, 16)
    with nengo_native.Simulator(net, minibatch_size=32, progress_bar=False) as sim:
        runs = runs_by_threads(sim, net.my_probes, (1, 2), data={stim: data})
    (serial, one), (split, two) = runs
    assert (serial, split) == (1, 2)
    assert not np.array_equal(two[0][0], two[0][1])  # items differ
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.skipif(not _core.openmp, reason="the core was built without OpenMP")
def test_error_in_python_node_stops_a_split_run(restore_threads):
    net, stim = split_net()

    def fail_late(t, x):
        if t > 0.05:
            raise ValueError("node failed on purpose")
        return x

    with net:
        node = nengo.Node(fail_late, size_in=16)
        nengo.Connection(stim, node)
        probe = nengo.Probe(node)
    _core.set_num_threads(2)
    with nengo_native.Simulator(
        net, minibatch_size=32, exact=False, progress_bar=False
    ) as sim:
        with pytest.raises(Exception, match="node failed on purpose"):
            sim.run_steps(200)
        assert sim._engine.runtime.executor.item_threads == 2
        assert sim.n_steps == len(sim.data[probe][0]) == 50
