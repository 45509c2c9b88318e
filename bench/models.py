"""Benchmark models, each a function (size) -> (network, probe)."""

from __future__ import annotations

import nengo
import numpy as np

SIZES = {"small": 16, "medium": 64, "large": 128}


def integrator(dimensions: int, n_neurons: int = 64, seed: int = 0):
    """EnsembleArray integrating an oscillating input through a recurrent connection."""
    with nengo.Network(seed=seed) as net:
        stim = nengo.Node(
            lambda t: np.sin(2 * np.pi * t * np.arange(1, dimensions + 1))
        )
        ens = nengo.networks.EnsembleArray(n_neurons, n_ensembles=dimensions)
        nengo.Connection(stim, ens.input, transform=0.1, synapse=0.1)
        nengo.Connection(ens.output, ens.input, synapse=0.1)
        probe = nengo.Probe(ens.output, synapse=0.01)
    return net, probe


def circular_convolution(dimensions: int, n_neurons: int = 64, seed: int = 0):
    """nengo.networks.CircularConvolution of two fixed random vectors."""
    rng = np.random.RandomState(seed)
    with nengo.Network(seed=seed) as net:
        a = nengo.Node(rng.randn(dimensions) / np.sqrt(dimensions))
        b = nengo.Node(rng.randn(dimensions) / np.sqrt(dimensions))
        cconv = nengo.networks.CircularConvolution(n_neurons, dimensions)
        nengo.Connection(a, cconv.input_a)
        nengo.Connection(b, cconv.input_b)
        probe = nengo.Probe(cconv.output, synapse=0.01)
    return net, probe


def basal_ganglia(dimensions: int, n_neurons: int = 64, seed: int = 0):
    """nengo.networks.BasalGanglia selecting among ``dimensions`` actions."""
    rng = np.random.RandomState(seed)
    with nengo.Network(seed=seed) as net:
        utilities = nengo.Node(rng.uniform(0.2, 0.8, size=dimensions))
        bg = nengo.networks.BasalGanglia(dimensions, n_neurons_per_ensemble=n_neurons)
        nengo.Connection(utilities, bg.input)
        probe = nengo.Probe(bg.output, synapse=0.01)
    return net, probe


MODELS = {
    "integrator": integrator,
    "circular_convolution": circular_convolution,
    "basal_ganglia": basal_ganglia,
}
