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
