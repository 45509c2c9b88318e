"""Compare nengo_native.Simulator with nengo.Simulator side by side, in one process.

    python bench/run.py [--models integrator,...] [--sizes small,medium] [--steps 1000]

Prints build time and steps/s (median of repeats after a warm-up) per model and size,
the speed ratio, and the largest output difference; writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import nengo
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import nengo_native  # noqa: E402
from models import MODELS, SIZES  # noqa: E402

SIMULATORS = {"nengo": nengo.Simulator, "native": nengo_native.Simulator}


def measure(simulator, net, probe, steps: int, repeats: int) -> dict:
    start = time.perf_counter()
    sim = simulator(net, progress_bar=False)
    build = time.perf_counter() - start
    with sim:
        sim.run_steps(min(steps, 50))  # warm-up
        rates = []
        for _ in range(repeats):
            sim.reset()
            start = time.perf_counter()
            sim.run_steps(steps)
            rates.append(steps / (time.perf_counter() - start))
        output = sim.data[probe].copy()
        fallback = len(getattr(sim, "fallback_operators", []))
    return {
        "build_s": build,
        "steps_per_s": float(np.median(rates)),
        "fallback_ops": fallback,
        "output": output,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--sizes", default="small,medium")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default="bench/results/compare.json")
    args = parser.parse_args(argv)

    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    print(
        f"{'model':22s} {'size':7s} {'nengo st/s':>11s} {'native st/s':>12s} "
        f"{'ratio':>6s} {'build n/nat (s)':>16s} {'fallback':>8s} {'max diff':>9s}"
    )
    results = []
    for model in args.models.split(","):
        for size in args.sizes.split(","):
            net, probe = MODELS[model](SIZES[size])
            row = {"model": model, "size": size, "dimensions": SIZES[size]}
            outputs = {}
            for name, simulator in SIMULATORS.items():
                m = measure(simulator, net, probe, args.steps, args.repeats)
                outputs[name] = m.pop("output")
                row[name] = m
            row["ratio"] = row["native"]["steps_per_s"] / row["nengo"]["steps_per_s"]
            row["max_diff"] = float(
                np.max(np.abs(outputs["nengo"] - outputs["native"]))
            )
            results.append(row)
            print(
                f"{model:22s} {size:7s} {row['nengo']['steps_per_s']:11.0f} "
                f"{row['native']['steps_per_s']:12.0f} {row['ratio']:6.1f} "
                f"{row['nengo']['build_s']:7.2f}/{row['native']['build_s']:<7.2f} "
                f"{row['native']['fallback_ops']:8d} {row['max_diff']:9.2g}",
                flush=True,
            )
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": platform.platform(), "results": results}, f, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
