"""Every kernel computes each minibatch item as it computes batch 1.

A Program planned for batch 3 from one model, with every item starting from the same
state, must give three copies of the batch-1 run, bit for bit: kernels must address item
b at ``off + b * bstride`` and share parameters across the batch.
"""

from __future__ import annotations

import functools

import nengo
import numpy as np
import pytest

from nengo_native.planner import CallbackStep, plan_model
from nengo_native.runtime import Runtime

NEURON_TYPES = [
    nengo.LIF(),
    nengo.AdaptiveLIF(tau_n=0.05, inc_n=0.2),
    nengo.LIFRate(),
    nengo.AdaptiveLIFRate(),
    nengo.RectifiedLinear(),
    nengo.SpikingRectifiedLinear(),
    nengo.RegularSpiking(nengo.LIFRate()),
    nengo.Sigmoid(),
    nengo.Tanh(),
    nengo.Izhikevich(),
]


@functools.cache
def build(optimize: bool):
    with nengo.Network(seed=3) as net:
        stim = nengo.Node([0.7, -0.4])
        ens = []
        rng = np.random.RandomState(1)
        for i, neuron_type in enumerate(NEURON_TYPES):
            n = 37 + 8 * i
            # Given gains and biases spare nengo from solving for them (slow for
            # some neuron types).
            scale = 10.0 if isinstance(neuron_type, nengo.Izhikevich) else 1.0
            e = nengo.Ensemble(
                n,
                2,
                neuron_type=neuron_type,
                gain=rng.uniform(0.5, 3, n) * scale,
                bias=rng.uniform(1, 3, n) * scale,
            )
            nengo.Connection(stim, e, synapse=nengo.Alpha(0.004) if i % 2 else 0.005)
            ens.append(e)
        lif, relu = ens[0], ens[4]
        # Dense neuron weights, a sparse transform and a recurrent decoded connection.
        nengo.Connection(
            lif.neurons,
            relu.neurons,
            transform=rng.uniform(-1, 1, (relu.n_neurons, lif.n_neurons)) * 1e-3,
        )
        nengo.Connection(
            relu.neurons,
            lif.neurons,
            transform=nengo.transforms.Sparse(
                (lif.n_neurons, relu.n_neurons),
                indices=np.array([[0, 0], [3, 5], [7, 2], [7, 9]]),
                init=np.array([0.1, -0.2, 0.3, 0.05]),
            ),
        )
        nengo.Connection(lif, lif, transform=0.5, synapse=0.02)
        nengo.Connection(ens[1], ens[2], function=np.square, synapse=0.01)
        probes = [nengo.Probe(e, synapse=0.01) for e in ens]
        probes += [nengo.Probe(e.neurons) for e in ens]
        probes.append(nengo.Probe(lif.neurons, "voltage"))
    # Built (and optimized) once: two runs of nengo's optimizer can merge differently.
    return plan_model(net, optimize=optimize).model


def run(model, batch, dtype, n_steps=120):
    program = plan_model(model=model, minibatch_size=batch, dtype=dtype, optimize=False)
    assert not any(isinstance(step, CallbackStep) for step in program.steps)
    runtime = Runtime(program, model.dt, model.step)
    runtime.reset_memory()
    samples, done, error = runtime.run(n_steps)
    assert error is None and done == n_steps
    return samples


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimize", [False, True])
# 5 items: sparse products over a minibatch of 4 or more put items in vector lanes,
# with a partly filled last vector.
@pytest.mark.parametrize("batch", [3, 5])
def test_batch_items_equal_batch_one(optimize, dtype, batch):
    model = build(optimize)
    one = run(model, 1, dtype)
    many = run(model, batch, dtype)
    for a, b in zip(one, many, strict=True):
        assert b.shape[1] == batch
        assert np.any(a != 0)
        for item in range(batch):
            np.testing.assert_array_equal(b[:, item], a[:, 0])
