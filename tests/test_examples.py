"""The examples in examples/ run and do what they say."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spiking_digits_classifier_reaches_95_percent():
    accuracy = load("digits_classifier").main(verbose=0)
    assert accuracy >= 0.95


def test_spiking_aware_training_beats_rate_training_at_10_steps():
    """Issue 17's acceptance: digits evaluated spiking with 10 steps per image;
    spiking-aware training (surrogate) beats rate training (same epochs) by at
    least 3 points and reaches 95%."""
    module = load("digits_spiking_aware")
    rate = module.train(None, epochs=10)["accuracy"][10]
    aware = module.train("surrogate", epochs=10)["accuracy"][10]
    assert aware >= 0.95
    assert aware >= rate + 0.03
