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
