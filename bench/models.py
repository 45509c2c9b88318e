"""Benchmark models: each builds a ``(network, probe)`` pair at a named size.

Every model takes its size parameters as keyword arguments, plus ``neuron_type``
and ``seed``; `make` looks the parameters of a named size up in `SIZES`.
The module imports nothing but nengo and numpy, so NengoDL's interpreter can
build the same networks (see `bench.worker`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nengo
import numpy as np

NEURON_TYPES: dict[str, Callable[[], nengo.neurons.NeuronType]] = {
    "lif": nengo.LIF,
    "relu": nengo.RectifiedLinear,
}
"""Neuron types by the name used on the command line and in results."""


def _neuron(neuron_type: str | nengo.neurons.NeuronType) -> nengo.neurons.NeuronType:
    if isinstance(neuron_type, nengo.neurons.NeuronType):
        return neuron_type
    return NEURON_TYPES[neuron_type]()


def _network(seed: int, neuron_type: str) -> nengo.Network:
    """A seeded network whose ensembles (subnetworks' too) use ``neuron_type``."""
    net = nengo.Network(seed=seed)
    net.config[nengo.Ensemble].neuron_type = _neuron(neuron_type)
    return net


def integrator(
    dimensions: int, n_neurons: int = 64, neuron_type: str = "lif", seed: int = 0
) -> tuple[nengo.Network, nengo.Probe]:
    """EnsembleArray integrating an oscillating input through a recurrent connection.

    Parameters
    ----------
    dimensions : int
        Number of one-dimensional ensembles in the array.
    n_neurons : int
        Neurons per ensemble.
    neuron_type : str
        A key of `NEURON_TYPES`.
    seed : int
        Network seed.

    Returns
    -------
    net, probe : nengo.Network, nengo.Probe
        The network and a filtered probe on the array's output.
    """
    with _network(seed, neuron_type) as net:
        stim = nengo.Node(
            lambda t: np.sin(2 * np.pi * t * np.arange(1, dimensions + 1))
        )
        ens = nengo.networks.EnsembleArray(n_neurons, n_ensembles=dimensions)
        nengo.Connection(stim, ens.input, transform=0.1, synapse=0.1)
        nengo.Connection(ens.output, ens.input, synapse=0.1)
        probe = nengo.Probe(ens.output, synapse=0.01)
    return net, probe


def circular_convolution(
    dimensions: int, n_neurons: int = 64, neuron_type: str = "lif", seed: int = 0
) -> tuple[nengo.Network, nengo.Probe]:
    """`nengo.networks.CircularConvolution` of two fixed random vectors.

    Parameters
    ----------
    dimensions : int
        Vector dimensions.
    n_neurons : int
        Neurons per product ensemble.
    neuron_type : str
        A key of `NEURON_TYPES`.
    seed : int
        Network seed.

    Returns
    -------
    net, probe : nengo.Network, nengo.Probe
        The network and a filtered probe on the convolution's output.
    """
    rng = np.random.RandomState(seed)
    with _network(seed, neuron_type) as net:
        a = nengo.Node(rng.randn(dimensions) / np.sqrt(dimensions))
        b = nengo.Node(rng.randn(dimensions) / np.sqrt(dimensions))
        cconv = nengo.networks.CircularConvolution(n_neurons, dimensions)
        nengo.Connection(a, cconv.input_a)
        nengo.Connection(b, cconv.input_b)
        probe = nengo.Probe(cconv.output, synapse=0.01)
    return net, probe


def basal_ganglia(
    dimensions: int, n_neurons: int = 64, neuron_type: str = "lif", seed: int = 0
) -> tuple[nengo.Network, nengo.Probe]:
    """`nengo.networks.BasalGanglia` selecting among ``dimensions`` actions.

    Parameters
    ----------
    dimensions : int
        Number of actions.
    n_neurons : int
        Neurons per ensemble of the basal ganglia.
    neuron_type : str
        A key of `NEURON_TYPES`.
    seed : int
        Network seed.

    Returns
    -------
    net, probe : nengo.Network, nengo.Probe
        The network and a filtered probe on the basal ganglia's output.
    """
    rng = np.random.RandomState(seed)
    with _network(seed, neuron_type) as net:
        utilities = nengo.Node(rng.uniform(0.2, 0.8, size=dimensions))
        bg = nengo.networks.BasalGanglia(dimensions, n_neurons_per_ensemble=n_neurons)
        nengo.Connection(utilities, bg.input)
        probe = nengo.Probe(bg.output, synapse=0.01)
    return net, probe


def random_network(
    n_ensembles: int,
    n_neurons: int = 100,
    dimensions: int = 4,
    fan_out: int = 3,
    neuron_type: str = "lif",
    seed: int = 0,
) -> tuple[nengo.Network, nengo.Probe]:
    """Ensembles joined at random by connections with given (`NoSolver`) weights.

    Each ensemble sends ``fan_out`` connections to randomly chosen ensembles (loops
    included), each with random ``NoSolver`` decoders of shape
    ``(n_neurons, dimensions)``. Even-numbered connections stay factored (decoders,
    then encoders); odd-numbered ones use ``NoSolver(weights=True)``, which nengo
    turns into a full neuron-to-neuron weight matrix, so both dot-product shapes
    occur.

    Parameters
    ----------
    n_ensembles : int
        Number of ensembles.
    n_neurons : int
        Neurons per ensemble.
    dimensions : int
        Dimensions represented by each ensemble.
    fan_out : int
        Outgoing connections per ensemble.
    neuron_type : str
        A key of `NEURON_TYPES`.
    seed : int
        Network seed; also seeds the weights and the wiring.

    Returns
    -------
    net, probe : nengo.Network, nengo.Probe
        The network and a filtered probe on the first ensemble's decoded value.
    """
    rng = np.random.RandomState(seed)
    with _network(seed, neuron_type) as net:
        stim = nengo.Node(
            lambda t: np.sin(2 * np.pi * t * np.arange(1, dimensions + 1))
        )
        ens = [nengo.Ensemble(n_neurons, dimensions) for _ in range(n_ensembles)]
        nengo.Connection(stim, ens[0])
        scale = 1.0 / (n_neurons * 100)  # rates ~100 Hz -> |x| ~ 1
        for k, (pre, post) in enumerate(
            (pre, post) for pre in ens for post in rng.choice(len(ens), size=fan_out)
        ):
            values = rng.randn(n_neurons, dimensions) * scale
            solver = nengo.solvers.NoSolver(values, weights=k % 2 == 1)
            nengo.Connection(pre, ens[post], solver=solver, synapse=0.01)
        probe = nengo.Probe(ens[0], synapse=0.01)
    return net, probe


def pes_learning(
    dimensions: int,
    n_neurons: int = 100,
    neuron_type: str = "lif",
    seed: int = 0,
) -> tuple[nengo.Network, nengo.Probe]:
    """A communication channel learned online with the PES rule.

    Parameters
    ----------
    dimensions : int
        Dimensions of the channel.
    n_neurons : int
        Neurons per dimension in the pre, post and error ensembles.
    neuron_type : str
        A key of `NEURON_TYPES`.
    seed : int
        Network seed.

    Returns
    -------
    net, probe : nengo.Network, nengo.Probe
        The network and a filtered probe on the post ensemble.
    """
    n = n_neurons * dimensions
    with _network(seed, neuron_type) as net:
        stim = nengo.Node(
            lambda t: 0.8 * np.sin(2 * np.pi * t * np.arange(1, dimensions + 1))
        )
        pre = nengo.Ensemble(n, dimensions)
        post = nengo.Ensemble(n, dimensions)
        error = nengo.Ensemble(n, dimensions)
        nengo.Connection(stim, pre)
        conn = nengo.Connection(
            pre,
            post,
            function=lambda x: np.zeros(dimensions),
            learning_rule_type=nengo.PES(learning_rate=1e-4),
        )
        nengo.Connection(post, error)
        nengo.Connection(stim, error, transform=-1)
        nengo.Connection(error, conn.learning_rule)
        probe = nengo.Probe(post, synapse=0.01)
    return net, probe


def dense(
    n_neurons: int,
    n_ensembles: int = 4,
    dimensions: int = 8,
    neuron_type: str = "lif",
    seed: int = 0,
) -> tuple[nengo.Network, nengo.Probe]:
    """A chain of large ensembles joined by all-to-all neuron-to-neuron weights.

    Ensemble ``i`` projects to ensemble ``i + 1`` through a dense
    ``(n_neurons, n_neurons)`` transform, so the step is dominated by the weight
    matrices. With rate neurons (``relu``) it streams them whole: the model meant to
    show the memory-bandwidth limit. With spiking neurons nengo_native reads only the
    columns of the neurons that spiked (see docs/performance.md). (A chain, not a
    ring: a ring of rectified-linear neurons has no bound on its rates.)

    Parameters
    ----------
    n_neurons : int
        Neurons per ensemble.
    n_ensembles : int
        Ensembles in the chain.
    dimensions : int
        Dimensions of each ensemble (for the input and the probe).
    neuron_type : str
        A key of `NEURON_TYPES`.
    seed : int
        Network seed; also seeds the weights.

    Returns
    -------
    net, probe : nengo.Network, nengo.Probe
        The network and a filtered probe on the last ensemble's decoded value.
    """
    rng = np.random.RandomState(seed)
    with _network(seed, neuron_type) as net:
        stim = nengo.Node(
            lambda t: np.sin(2 * np.pi * t * np.arange(1, dimensions + 1))
        )
        ens = [nengo.Ensemble(n_neurons, dimensions) for _ in range(n_ensembles)]
        nengo.Connection(stim, ens[0])
        for pre, post in zip(ens[:-1], ens[1:], strict=True):
            weights = rng.randn(n_neurons, n_neurons) / (n_neurons * 10)
            nengo.Connection(pre.neurons, post.neurons, transform=weights, synapse=0.01)
        probe = nengo.Probe(ens[-1], synapse=0.01)
    return net, probe


def sin_square(
    n_neurons: int = 20, neuron_type: str = "lif", seed: int = 0
) -> tuple[nengo.Network, nengo.Probe]:
    """The NengoDL tutorial's network: a white-noise input x, then x², then sin(x²).

    At ``n_neurons=20`` this is the tutorial's network exactly (with its
    ``WhiteSignal`` input node and filtered output probe).

    Parameters
    ----------
    n_neurons : int
        Neurons in each of the two ensembles.
    neuron_type : str
        A key of `NEURON_TYPES`.
    seed : int
        Network seed.

    Returns
    -------
    net, probe : nengo.Network, nengo.Probe
        The network and the filtered probe on the output node.
    """
    with _network(seed, neuron_type) as net:
        inpt = nengo.Node(nengo.processes.WhiteSignal(1, 5, rms=0.3))
        square = nengo.Ensemble(n_neurons, 1)
        sin = nengo.Ensemble(n_neurons, 1)
        outpt = nengo.Node(size_in=1)
        nengo.Connection(inpt, square)
        nengo.Connection(square, sin, function=np.square)
        nengo.Connection(sin, outpt, function=np.sin)
        nengo.Probe(inpt)
        probe = nengo.Probe(outpt, synapse=0.01)
    return net, probe


def deep_classifier(
    n_inputs: int,
    layers: tuple[int, ...] = (128, 128),
    n_classes: int = 10,
    neuron_type: str = "lif",
    seed: int = 0,
) -> tuple[nengo.Network, nengo.Probe]:
    """A spiking feed-forward classifier: dense neuron-to-neuron layers on a vector.

    A constant input vector (one random "image") drives layers of ensembles through
    dense transforms into their ``.neurons``; the last layer's neurons feed an
    output node of ``n_classes`` class scores. Weights are random, scaled by
    ``1 / sqrt(fan_in)`` (the structure and the work matter here, not accuracy).

    Parameters
    ----------
    n_inputs : int
        Size of the input vector.
    layers : tuple of int
        Neurons in each hidden layer.
    n_classes : int
        Size of the output.
    neuron_type : str
        A key of `NEURON_TYPES`.
    seed : int
        Network seed; also seeds the weights and the input.

    Returns
    -------
    net, probe : nengo.Network, nengo.Probe
        The network and a filtered probe on the class scores.
    """
    rng = np.random.RandomState(seed)
    with _network(seed, neuron_type) as net:
        net.config[nengo.Ensemble].max_rates = nengo.dists.Uniform(100, 200)
        net.config[nengo.Ensemble].intercepts = nengo.dists.Uniform(-0.5, 0.5)
        inp = nengo.Node(rng.uniform(0, 1, size=n_inputs))
        pre: Any = inp
        fan_in = n_inputs
        for n in layers:
            ens = nengo.Ensemble(n, 1)
            weights = rng.randn(n, fan_in) / np.sqrt(fan_in)
            if pre is not inp:
                weights = weights / 100.0  # presynaptic rates ~100 Hz
            nengo.Connection(pre, ens.neurons, transform=weights, synapse=0.005)
            pre, fan_in = ens.neurons, n
        out = nengo.Node(size_in=n_classes)
        weights = rng.randn(n_classes, fan_in) / (np.sqrt(fan_in) * 100.0)
        nengo.Connection(pre, out, transform=weights, synapse=0.005)
        probe = nengo.Probe(out, synapse=0.01)
    return net, probe


def gated_memory(
    dimensions: int, n_neurons: int = 64, neuron_type: str = "lif", seed: int = 0
) -> tuple[nengo.Network, nengo.Probe]:
    """Parts of nengo's cognitive networks joined: a gated memory, a product, a
    thalamus.

    A vector is stored in `nengo.networks.InputGatedMemory` (its gate closes after
    0.3 s), multiplied elementwise with a second vector by `nengo.networks.Product`,
    and the product drives `nengo.networks.Thalamus`, as in an SPA-style model.

    Parameters
    ----------
    dimensions : int
        Vector dimensions (also the thalamus's number of actions).
    n_neurons : int
        Neurons per dimension of the memory and the product.
    neuron_type : str
        A key of `NEURON_TYPES`.
    seed : int
        Network seed.

    Returns
    -------
    net, probe : nengo.Network, nengo.Probe
        The network and a filtered probe on the thalamus's output.
    """
    rng = np.random.RandomState(seed)
    with _network(seed, neuron_type) as net:
        x = nengo.Node(rng.uniform(0.2, 0.8, size=dimensions))
        y = nengo.Node(rng.uniform(0.5, 1.0, size=dimensions))
        gate = nengo.Node(lambda t: 0.0 if t < 0.3 else 1.0)
        memory = nengo.networks.InputGatedMemory(n_neurons, dimensions)
        product = nengo.networks.Product(n_neurons, dimensions)
        thalamus = nengo.networks.Thalamus(dimensions)
        nengo.Connection(x, memory.input)
        nengo.Connection(gate, memory.gate)
        nengo.Connection(memory.output, product.input_a)
        nengo.Connection(y, product.input_b)
        nengo.Connection(product.output, thalamus.input)
        probe = nengo.Probe(thalamus.output, synapse=0.01)
    return net, probe


MODELS: dict[str, Callable[..., tuple[nengo.Network, nengo.Probe]]] = {
    "integrator": integrator,
    "circular_convolution": circular_convolution,
    "basal_ganglia": basal_ganglia,
    "random_network": random_network,
    "pes_learning": pes_learning,
    "dense": dense,
    "sin_square": sin_square,
    "deep_classifier": deep_classifier,
    "gated_memory": gated_memory,
}
"""Model builders by name."""

SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "integrator": {
        "small": {"dimensions": 32, "n_neurons": 64},
        "medium": {"dimensions": 128, "n_neurons": 64},
        "large": {"dimensions": 512, "n_neurons": 64},
    },
    "circular_convolution": {
        "small": {"dimensions": 16, "n_neurons": 64},
        "medium": {"dimensions": 64, "n_neurons": 64},
        "large": {"dimensions": 128, "n_neurons": 64},
    },
    "basal_ganglia": {
        "small": {"dimensions": 16, "n_neurons": 64},
        "medium": {"dimensions": 64, "n_neurons": 64},
        "large": {"dimensions": 128, "n_neurons": 64},
    },
    "random_network": {
        "small": {"n_ensembles": 10, "n_neurons": 50},
        "medium": {"n_ensembles": 50, "n_neurons": 100},
        "large": {"n_ensembles": 200, "n_neurons": 100},
    },
    "pes_learning": {
        "small": {"dimensions": 2, "n_neurons": 50},
        "medium": {"dimensions": 8, "n_neurons": 50},
        "large": {"dimensions": 32, "n_neurons": 50},
    },
    "dense": {
        "small": {"n_neurons": 500},
        "medium": {"n_neurons": 2000},
        "large": {"n_neurons": 4000},
    },
    "sin_square": {
        "small": {"n_neurons": 20},
        "medium": {"n_neurons": 200},
        "large": {"n_neurons": 2000},
    },
    "deep_classifier": {
        "small": {"n_inputs": 64, "layers": (128, 128)},
        "medium": {"n_inputs": 784, "layers": (512, 512, 256)},
        "large": {"n_inputs": 784, "layers": (2048, 2048, 1024)},
    },
    "gated_memory": {
        "small": {"dimensions": 8, "n_neurons": 50},
        "medium": {"dimensions": 32, "n_neurons": 50},
        "large": {"dimensions": 64, "n_neurons": 50},
    },
}
"""Keyword arguments of each model at each named size.

The medium sizes of integrator, circular convolution and basal ganglia are those of
the figures to beat in issue 5 (128 dims × 64, 64 dims × 64, 64 dims × 64).
"""


def make(
    model: str, size: str, neuron_type: str = "lif", seed: int = 0
) -> tuple[nengo.Network, nengo.Probe]:
    """Build the named model at the named size.

    Parameters
    ----------
    model : str
        A key of `MODELS`.
    size : str
        ``"small"``, ``"medium"`` or ``"large"``.
    neuron_type : str
        A key of `NEURON_TYPES`.
    seed : int
        Network seed.

    Returns
    -------
    net, probe : nengo.Network, nengo.Probe
    """
    kwargs = SIZES[model][size]
    return MODELS[model](**kwargs, neuron_type=neuron_type, seed=seed)
