"""Training throughput: samples per second of `fit`, this simulator and NengoDL.

``python -m bench.training [--nengodl-python PATH] [--repeats N]`` trains each
model below in a fresh process per simulator (NengoDL in its own interpreter when
given or importable), times `fit` after one warm-up epoch, and prints the median
samples/s with the ratio; results go to ``bench/results/training.json``.

Beside rate training (``native``), the same models train in the throughput mode
(``native_fast``: ``exact=False`` in float32, NengoDL's default dtype) and with
spiking-aware training (``native:rate`` and ``native:surrogate``, the two methods of
``configure_settings(spiking_aware_training=...)``): LIF neurons spike in `fit`'s
forward pass. ``--no-fast`` and ``--no-spiking`` leave those out.

Models
------
tutorial
    The reference tutorial's training section: 20 + 20 LIF neurons, synapses
    off, ensembles trainable, 4096 samples of one step, minibatch 32, Adam 0.01.
two_layer
    Two ensembles of 512 LIF neurons (16 dimensions in, 4 out) with lowpass
    synapses, every parameter trainable, 1024 samples of 10 steps (backprop
    through time), minibatch 32, Adam 0.001.
three_layer
    The larger case: three ensembles of 1024 LIF neurons in a chain (16 dimensions
    in, 4 out), 256 samples of 20 steps, otherwise as two_layer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

MARKER = "TRAINING_RESULT "
MODELS = {
    "tutorial": {"samples": 4096, "n_steps": 1, "epochs": 5},
    "two_layer": {"samples": 1024, "n_steps": 10, "epochs": 2},
    "three_layer": {"samples": 256, "n_steps": 20, "epochs": 1},
}


def build(model: str, nengo, np, configure):
    """The network, its input node, the probe trained on, and the data."""
    rng = np.random.RandomState(0)
    spec = MODELS[model]
    if model == "tutorial":
        with nengo.Network(seed=0) as net:
            configure(net, trainable=False)
            net.config[nengo.Ensemble].trainable = True
            inp = nengo.Node(np.zeros(1))
            square = nengo.Ensemble(20, 1)
            sin = nengo.Ensemble(20, 1)
            out = nengo.Node(size_in=1)
            nengo.Connection(inp, square, synapse=None)
            nengo.Connection(square, sin, function=np.square, synapse=None)
            nengo.Connection(sin, out, function=np.sin, synapse=None)
            probe = nengo.Probe(out)
        x = rng.uniform(-1, 1, size=(spec["samples"], 1, 1))
        return net, inp, probe, x, np.sin(x**2), 0.01
    n_neurons = 512 if model == "two_layer" else 1024
    with nengo.Network(seed=0) as net:
        inp = nengo.Node(np.zeros(16))
        a = nengo.Ensemble(n_neurons, 16)
        b = nengo.Ensemble(n_neurons, 4)
        out = nengo.Node(size_in=4)
        nengo.Connection(inp, a, synapse=None)
        nengo.Connection(a, b, function=lambda v: v[:4] * v[4:8], synapse=0.005)
        if model == "three_layer":
            c = nengo.Ensemble(n_neurons, 4)
            nengo.Connection(b, c, synapse=0.005)
            b = c
        nengo.Connection(b, out, synapse=0.005)
        probe = nengo.Probe(out)
    x = rng.uniform(-1, 1, size=(spec["samples"], spec["n_steps"], 16))
    y = np.tanh(x[..., :4] + x[..., 4:8])
    return net, inp, probe, x, y, 0.001


def worker(model: str, simulator: str, repeats: int) -> dict:
    import nengo
    import numpy as np

    spec = MODELS[model]
    if simulator.startswith("native"):
        import nengo_native

        def configure(net, **settings):
            nengo_native.configure_settings(**settings)

        net, inp, probe, x, y, lr = build(model, nengo, np, configure)
        method = simulator.partition(":")[2]
        if method:  # spiking-aware training
            with net:
                nengo_native.configure_settings(spiking_aware_training=method)
        sim = nengo_native.Simulator(
            net,
            minibatch_size=32,
            progress_bar=False,
            # the throughput mode as NengoDL trains: float32
            exact=simulator != "native_fast",
            dtype="float32" if simulator == "native_fast" else "float64",
        )
        sim.compile(optimizer=nengo_native.optimizers.Adam(lr), loss={probe: "mse"})

        def fit(epochs):
            sim.fit({inp: x}, {probe: y}, epochs=epochs, verbose=0)
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import nengo_dl
        import tensorflow as tf

        def configure(net, **settings):
            nengo_dl.configure_settings(**settings)

        net, inp, probe, x, y, lr = build(model, nengo, np, configure)
        sim = nengo_dl.Simulator(net, minibatch_size=32, progress_bar=False)
        sim.compile(optimizer=tf.optimizers.Adam(lr), loss={probe: tf.losses.mse})

        def fit(epochs):
            sim.fit({inp: x}, {probe: y}, epochs=epochs, verbose=0)

    fit(1)  # warm-up: NengoDL traces its graph here
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit(spec["epochs"])
        rates.append(spec["epochs"] * spec["samples"] / (time.perf_counter() - start))
    sim.close()
    return {"model": model, "simulator": simulator, "samples_per_s": rates}


def run(model, simulator, python, repeats) -> dict:
    cmd = [python, "-m", "bench.training", "--worker", model, simulator]
    cmd += ["--repeats", str(repeats)]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    return {"model": model, "simulator": simulator, "error": proc.stderr[-2000:]}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nengodl-python", help="interpreter that has nengo_dl")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument(
        "--no-spiking", action="store_true", help="skip spiking-aware training"
    )
    parser.add_argument(
        "--no-fast", action="store_true", help="skip the throughput mode (exact=False)"
    )
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(*args.worker, args.repeats)
        print(MARKER + json.dumps(result), flush=True)
        return [result]

    from . import machine

    sims = {"native": sys.executable}
    if not args.no_fast:
        sims["native_fast"] = sys.executable
    if not args.no_spiking:
        sims["native:rate"] = sys.executable
        sims["native:surrogate"] = sys.executable
    if args.nengodl_python:
        sims["nengo_dl"] = args.nengodl_python
    results = []
    for model in args.models.split(","):
        for sim, python in sims.items():
            print(f"training {model} with {sim} ...", flush=True)
            results.append(run(model, sim, python, args.repeats))
    print(
        f"\n{'model':<10} {'simulator':<16} {'samples/s (median)':>19} "
        f"{'vs nengo_dl':>11} {'vs native':>9}"
    )
    medians = {}
    for r in results:
        if "error" in r:
            print(f"{r['model']:<10} {r['simulator']:<16} failed: {r['error'][-200:]}")
            continue
        medians[(r["model"], r["simulator"])] = statistics.median(r["samples_per_s"])
    for (model, sim), value in medians.items():
        ref = medians.get((model, "nengo_dl"))
        ratio = f"{value / ref:10.1f}x" if ref else "          -"
        rate = medians.get((model, "native"))
        vs_rate = f"{value / rate:8.2f}x" if rate and sim != "native" else "        -"
        print(f"{model:<10} {sim:<16} {value:>19,.0f} {ratio} {vs_rate}")
    out = Path(__file__).resolve().parent / "results" / "training.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"machine": machine.describe(), "results": results}, indent=1)
    )
    print(f"\nwritten {out}")
    return results


if __name__ == "__main__":
    main()
