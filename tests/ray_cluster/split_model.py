"""The model of the split-independence tests: every kind of random stream the
simulator has (noise processes as kernels, a WhiteSignal table, a user process that
runs through nengo's make_step, StochasticSpiking and PoissonSpiking neurons) and
learning rules (PES, Voja), so a result that depended on how a batch is split, or a
bad port of the per-item seeding, shows."""

from __future__ import annotations

import nengo
import numpy as np


class UserNoise(nengo.Process):
    """A process with no native kernel: runs through its own make_step per item."""

    def make_step(self, shape_in, shape_out, dt, rng, state):
        def step(t):
            return rng.uniform(-0.2, 0.2, size=shape_out)

        return step


def make_model(hook=None, n_steps: int = 40):
    """(net, stim, probes); ``hook(t)`` runs in a node (it must return nothing)."""
    with nengo.Network(seed=3) as net:
        stim = nengo.Node(np.zeros(2), label="stim")
        noise = nengo.Node(
            nengo.processes.WhiteNoise(nengo.dists.Gaussian(0, 0.5)), size_out=2
        )
        signal = nengo.Node(nengo.processes.WhiteSignal(1.0, high=5), size_out=1)
        user = nengo.Node(UserNoise(), size_out=2)
        pre = nengo.Ensemble(
            40, 2, neuron_type=nengo.StochasticSpiking(nengo.LIFRate())
        )
        post = nengo.Ensemble(
            30,
            2,
            neuron_type=nengo.PoissonSpiking(nengo.LIFRate()),
            noise=nengo.processes.WhiteNoise(nengo.dists.Gaussian(0, 0.1)),
        )
        nengo.Connection(stim, pre)
        nengo.Connection(noise, pre)
        nengo.Connection(signal, pre[0])
        nengo.Connection(user, post)
        weights = np.random.RandomState(1).randn(2, 40) * 1e-3
        learned = nengo.Connection(
            pre.neurons, post, transform=weights, learning_rule_type=nengo.PES(1e-3)
        )
        nengo.Connection(stim, learned.learning_rule)
        nengo.Connection(stim, post, learning_rule_type=nengo.Voja(1e-2))
        if hook is not None:
            nengo.Node(lambda t: hook(t), size_out=0)
        probes = [
            nengo.Probe(post, synapse=0.01),
            nengo.Probe(pre.neurons),
            nengo.Probe(post.neurons),
            nengo.Probe(learned, "weights", sample_every=0.01),
        ]
    return net, stim, probes


def make_data(batch: int = 8, n_steps: int = 40) -> np.ndarray:
    return np.random.RandomState(0).uniform(-1, 1, (batch, n_steps, 2))
