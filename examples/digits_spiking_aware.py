"""Spiking-aware training against rate training on scikit-learn's 8x8 digits.

The network is `digits_classifier.py`'s (64 inputs -> 200 LIF -> 10 scores). Both
versions train for the same epochs and are evaluated as the spiking network with
only a few steps per image (10 by default), reading the class from the filtered
scores at the last step:

- rate training, as in `digits_classifier.py`: one step per image, LIF running as
  LIFRate (with a smoothed gradient);
- spiking-aware training (``configure_settings(spiking_aware_training=...)``): the
  image is shown for the evaluation's number of steps, the LIF neurons spike in
  `fit`'s forward pass, and the loss is the cross-entropy of the filtered scores at
  the last step.

Run ``python examples/digits_spiking_aware.py [--method surrogate|rate]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import nengo
import numpy as np

import nengo_native
from nengo_native import losses, optimizers


def _digits_classifier():
    """examples/digits_classifier.py, the network and data both versions use."""
    path = Path(__file__).resolve().parent / "digits_classifier.py"
    spec = importlib.util.spec_from_file_location("digits_classifier", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_classifier = _digits_classifier()
build, load, simulator = _classifier.build, _classifier.load, _classifier.simulator


class LastStep(losses.Loss):
    """A loss of the last step's output only (its gradient is zero elsewhere)."""

    def __init__(self, inner: losses.Loss):
        self.inner = inner
        self.name = f"last_step_{inner.name}"

    def value(self, y_true, y_pred):
        return self.inner.value(y_true, np.asarray(y_pred)[:, -1:])

    def gradient(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        grad = np.zeros_like(y_pred)
        grad[:, -1:] = self.inner.gradient(y_true, y_pred[:, -1:])
        return grad


def spiking_accuracy(sim, image, filtered, x_test, y_test, steps: int) -> float:
    """Test accuracy of the spiking network shown each image for ``steps``."""
    shown = np.tile(x_test[:, None], (1, steps, 1))
    scores = sim.predict({image: shown})[filtered][:, -1]
    return float(np.mean(np.argmax(scores, axis=-1) == y_test))


def train(
    method: str | None,
    epochs: int = 10,
    train_steps: int = 10,
    eval_steps=(10,),
    seed: int = 0,
    lr: float = 0.002,
) -> dict:
    """Train with rate training (``method=None``) or spiking-aware training;
    return ``{"fit_s": seconds, "accuracy": {steps: spiking test accuracy}}``."""
    (x_train, y_train), (x_test, y_test) = load(seed)
    net, image, raw, filtered = build(seed=seed)
    if method is not None:
        with net:
            nengo_native.configure_settings(spiking_aware_training=method)
    with simulator(net, seed) as sim:
        crossentropy = losses.SparseCategoricalCrossentropy(from_logits=True)
        start = time.perf_counter()
        if method is None:
            sim.compile(optimizer=optimizers.Adam(lr), loss={raw: crossentropy})
            sim.fit({image: x_train[:, None]}, {raw: y_train[:, None, None]},
                    epochs=epochs, verbose=0)  # fmt: skip
        else:
            sim.compile(
                optimizer=optimizers.Adam(lr), loss={filtered: LastStep(crossentropy)}
            )
            shown = np.tile(x_train[:, None], (1, train_steps, 1))
            sim.fit({image: shown}, {filtered: y_train[:, None, None]},
                    epochs=epochs, verbose=0)  # fmt: skip
        fit_s = time.perf_counter() - start
        accuracy = {
            steps: spiking_accuracy(sim, image, filtered, x_test, y_test, steps)
            for steps in eval_steps
        }
    return {"fit_s": fit_s, "accuracy": accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="surrogate", choices=["surrogate", "rate"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    for name, method in (("rate training", None), (args.method, args.method)):
        result = train(method, args.epochs, args.steps, (args.steps,))
        acc = result["accuracy"][args.steps]
        print(f"{name:>15}: spiking accuracy at {args.steps} steps {acc:.1%} "
              f"(fit {result['fit_s']:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    nengo.rc.set("progress", "progress_bar", "False")
    main()
