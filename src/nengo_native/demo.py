"""The demo: one network under nengo.Simulator and nengo_native.Simulator.

Run with ``python -m nengo_native.demo``. It checks that both give the same output
and prints how much faster the native simulator runs.
"""

from __future__ import annotations

import argparse
import time

import nengo
import numpy as np

import nengo_native


def integrator_network(dimensions: int = 32, n_neurons: int = 64, seed: int = 0):
    """A bank of neural integrators driven by a slow oscillating input."""
    with nengo.Network(seed=seed) as net:
        stim = nengo.Node(
            lambda t: np.sin(2 * np.pi * t * np.arange(1, dimensions + 1) / 4)
        )
        ens = nengo.networks.EnsembleArray(n_neurons, n_ensembles=dimensions)
        nengo.Connection(stim, ens.input, transform=0.1, synapse=0.1)
        nengo.Connection(ens.output, ens.input, synapse=0.1)
        net.probe = nengo.Probe(ens.output, synapse=0.01)
    return net


def time_run(simulator, net, steps: int, repeats: int):
    """Build time, and median seconds per run of ``steps`` steps."""
    start = time.perf_counter()
    sim = simulator(net, progress_bar=False)
    build = time.perf_counter() - start
    runs = []
    with sim:
        sim.run_steps(10)  # warm-up
        for _ in range(repeats):
            sim.reset()
            start = time.perf_counter()
            sim.run_steps(steps)
            runs.append(time.perf_counter() - start)
        output = sim.data[net.probe].copy()
    return build, float(np.median(runs)), output


def main(argv=None) -> None:
    """Run the demo and print timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dimensions", type=int, default=32)
    parser.add_argument("--neurons", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    net = integrator_network(args.dimensions, args.neurons)
    print(
        f"Integrator: {args.dimensions} dimensions x {args.neurons} LIF neurons, "
        f"{args.steps} steps, median of {args.repeats} runs"
    )
    results = {}
    for name, simulator in [
        ("nengo.Simulator", nengo.Simulator),
        ("nengo_native.Simulator", nengo_native.Simulator),
    ]:
        build, run, output = time_run(simulator, net, args.steps, args.repeats)
        results[name] = (run, output)
        print(
            f"  {name:24s} build {build:6.2f} s   run {run:7.3f} s   "
            f"{args.steps / run:9.0f} steps/s"
        )
    (ref_time, ref_out), (nat_time, nat_out) = results.values()
    error = float(np.max(np.abs(ref_out - nat_out)))
    print(f"  max |difference| of probed output: {error:.3g}")
    print(f"  speed-up: {ref_time / nat_time:.1f}x")


if __name__ == "__main__":
    main()
