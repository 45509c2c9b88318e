"""Train a spiking classifier of scikit-learn's 8x8 digits with nengo_native.

The network is trained with `fit` on rate neurons (LIF runs as LIFRate, with a
smoothed gradient) for one step per image, then evaluated as the spiking network
it is: each test image is shown for 30 steps and the class is read from the
synaptically filtered output at the last step.

Run ``python examples/digits_classifier.py``; it prints the test accuracy.
"""

from __future__ import annotations

import nengo
import numpy as np
from sklearn.datasets import load_digits

import nengo_native
from nengo_native import losses, optimizers


def load(seed: int = 0, n_train: int = 1344, n_test: int = 448):
    """Shuffled digits scaled to [0, 1]: (train images, labels), (test ...)."""
    images, labels = load_digits(return_X_y=True)
    order = np.random.RandomState(seed).permutation(len(images))
    images, labels = images[order] / 16.0, labels[order]
    train = images[:n_train], labels[:n_train]
    test = images[n_train : n_train + n_test], labels[n_train : n_train + n_test]
    return train, test


def build(n_hidden: int = 200, seed: int = 0):
    """Input node -> LIF neurons -> 10 outputs, with a raw and a filtered probe."""
    with nengo.Network(seed=seed) as net:
        nengo_native.configure_settings(lif_smoothing=0.01)
        image = nengo.Node(np.zeros(64), label="image")
        hidden = nengo.Ensemble(
            n_hidden,
            1,
            neuron_type=nengo.LIF(amplitude=0.01),
            gain=nengo.dists.Choice([1.0]),
            bias=nengo.dists.Choice([0.0]),
        )
        scores = nengo.Node(size_in=10, label="scores")
        weights = nengo.dists.Uniform(-0.3, 0.3)
        nengo.Connection(
            image,
            hidden.neurons,
            transform=nengo.Dense((n_hidden, 64), init=weights),
            synapse=None,
        )
        nengo.Connection(
            hidden.neurons,
            scores,
            transform=nengo.Dense((10, n_hidden), init=weights),
            synapse=None,
        )
        raw = nengo.Probe(scores, label="raw")
        filtered = nengo.Probe(scores, synapse=0.01, label="filtered")
    return net, image, raw, filtered


def simulator(
    net: nengo.Network, seed: int = 0, exact: bool = True
) -> nengo_native.Simulator:
    """The simulator both examples train and test in (minibatches of 32 images);
    ``exact=False`` is the throughput mode, in float32."""
    # Gain 1 and bias 0 put every intercept at 1: nengo's builder then reports the
    # neurons' max rates as 0, and numpy warns about the log1p(-1) on the way.
    with np.errstate(divide="ignore"):
        return nengo_native.Simulator(
            net,
            minibatch_size=32,
            seed=seed,
            progress_bar=False,
            exact=exact,
            dtype="float64" if exact else "float32",
        )


def main(
    epochs: int = 20,
    steps: int = 30,
    seed: int = 0,
    verbose: int = 2,
    exact: bool = True,
) -> float:
    """Train, evaluate spiking, and return the test accuracy."""
    (x_train, y_train), (x_test, y_test) = load(seed)
    net, image, raw, filtered = build(seed=seed)
    with simulator(net, seed, exact) as sim:
        sim.compile(
            optimizer=optimizers.Adam(0.002),
            loss={raw: losses.SparseCategoricalCrossentropy(from_logits=True)},
            metrics={raw: losses.SparseCategoricalAccuracy()},
        )
        sim.fit(
            {image: x_train[:, None]},
            {raw: y_train[:, None, None]},
            epochs=epochs,
            verbose=verbose,
        )
        shown = np.tile(x_test[:, None], (1, steps, 1))
        scores = sim.predict({image: shown})[filtered][:, -1]
    return float(np.mean(np.argmax(scores, axis=-1) == y_test))


if __name__ == "__main__":
    print(f"spiking test accuracy: {main():.1%}")
