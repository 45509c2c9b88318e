"""Planner time against the number of operators, up to more than 10^5 operators.

``python -m bench.planner_scaling [--max-ensembles N]`` builds chains of small
ensembles of growing length with nengo's builder (once per size, outside the
timing), then times planning alone (`nengo_native.planner.plan_model` on the built
model: dependency graph, nengo's step order and `plan`; median of 3) and the
Simulator construction it belongs to, prints operators, seconds and
microseconds per operator, and fits time = a + b * operators. Linear scaling
shows as a flat microseconds-per-operator column. Planning includes the planner's
own merging (``optimize=True``: grouped layout, coalesced products); nengo's
optimizer is left off: its merging is not linear (it is nengo's code, the same for
`nengo.Simulator`), and this measures the planner.
"""

from __future__ import annotations

import argparse
import statistics
import time

import nengo
import numpy as np
from nengo.builder import Model

from nengo_native.planner import plan_model


def chain(n_ensembles: int, seed: int = 0) -> nengo.Network:
    with nengo.Network(seed=seed) as net:
        stim = nengo.Node(np.sin)
        prev = stim
        for _ in range(n_ensembles):
            ens = nengo.Ensemble(4, 1)
            nengo.Connection(prev, ens, synapse=0.005)
            prev = ens
        nengo.Probe(prev, synapse=0.01)
    return net


def measure(n_ensembles: int, repeats: int = 3) -> dict:
    model = Model(dt=0.001)
    start = time.perf_counter()
    model.build(chain(n_ensembles))
    build = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        plan_model(model=model, optimize=True)
        times.append(time.perf_counter() - start)
    return {
        "ensembles": n_ensembles,
        "operators": len(model.operators),
        "nengo_build_s": build,
        "plan_s": statistics.median(times),
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-ensembles", type=int, default=16000)
    args = parser.parse_args(argv)
    sizes = []
    n = 1000
    while n <= args.max_ensembles:
        sizes.append(n)
        n *= 2
    print(
        f"{'ensembles':>9} {'operators':>9} {'plan s':>8} {'us/op':>7} {'build s':>8}"
    )
    rows = []
    for n in sizes:
        r = measure(n)
        rows.append(r)
        per_op = 1e6 * r["plan_s"] / r["operators"]
        print(
            f"{r['ensembles']:>9} {r['operators']:>9} {r['plan_s']:>8.2f} "
            f"{per_op:>7.1f} {r['nengo_build_s']:>8.2f}",
            flush=True,
        )
    ops = np.array([r["operators"] for r in rows], dtype=float)
    secs = np.array([r["plan_s"] for r in rows])
    slope, intercept = np.polyfit(ops, secs, 1)
    residual = np.max(np.abs(secs - (intercept + slope * ops)) / secs)
    print(
        f"fit: plan_s = {intercept:.3f} + {slope * 1e6:.2f} us x operators "
        f"(largest relative residual {residual:.0%})"
    )
    return rows


if __name__ == "__main__":
    main()
