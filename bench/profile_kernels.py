"""Time each kernel of a model's Program on its own (steps/s of the kernel alone).

python bench/profile_kernels.py integrator medium [--steps 500] [--dtype float64]
    [--minibatch 32] [--fast] [--optimize nengo]

``--fast`` plans the throughput mode (``exact=False``); ``--optimize`` is the
Simulator's ``optimize`` (``true``, ``false`` or ``nengo``). Neuron kernels also show
nanoseconds per neuron-step (minibatch items count as neurons).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import nengo_native  # noqa: E402
from models import make  # noqa: E402
from nengo_native import _core  # noqa: E402
from nengo_native.planner import KernelStep  # noqa: E402


def best_of(fn, repeats: int = 5) -> float:
    """Shortest of a few runs: on a shared machine the others measure the neighbours."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("size")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--minibatch", type=int, default=1)
    parser.add_argument("--fast", action="store_true", help="exact=False")
    parser.add_argument(
        "--optimize",
        default="true",
        choices=["true", "false", "nengo"],
        help="optimize= of the Simulator",
    )
    args = parser.parse_args(argv)
    net, _ = make(args.model, args.size)
    sim = nengo_native.Simulator(
        net,
        progress_bar=False,
        dtype=args.dtype,
        minibatch_size=args.minibatch,
        exact=not args.fast,
        optimize={"true": True, "false": False}.get(args.optimize, args.optimize),
    )
    program, rt = sim.program, sim._engine.runtime
    layout = program.layout
    ex_type = _core.Executor32 if layout.dtype == np.float32 else _core.Executor64
    step_off = layout.int_offset[sim.model.step.base] + sim.model.step.elemoffset
    sim.run_steps(20)
    total = 0.0
    rows = []
    by_kind = defaultdict(float)
    neurons = defaultdict(int)
    for k, step in enumerate(program.steps):
        if not isinstance(step, KernelStep):
            continue
        ex = ex_type(
            layout.size, layout.int_size, layout.minibatch_size, sim.dt, step_off
        )
        ex.arena[:] = rt.arena
        ex.add_kernel(step.kind, step.params)
        ex.run(5, [], [])
        us = best_of(lambda ex=ex: ex.run(args.steps, [], [])) / args.steps * 1e6
        total += us
        by_kind[step.kind] += us
        if step.kind.startswith("neurons_"):
            neurons[step.kind] += sum(op.J.size for op in step.ops) * args.minibatch
        rows.append((us, k, step.kind, len(step.ops)))
    # The whole program, for the overhead between kernels.
    whole = best_of(lambda: sim.run_steps(args.steps)) / args.steps * 1e6
    print(
        f"{len(program.steps)} steps, kernels sum {total:.1f} us/step, "
        f"whole run {whole:.1f}"
    )
    for kind, us in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        per = ""
        if neurons[kind]:
            per = f"  {1e3 * us / neurons[kind]:.2f} ns/neuron-step"
        print(f"  {kind:28s} {us:9.1f} us ({100 * us / total:4.1f}%){per}")
    print("top steps:")
    for us, k, kind, n in sorted(rows, reverse=True)[: args.top]:
        print(f"  #{k:4d} {kind:28s} ops={n:5d} {us:9.1f} us")


if __name__ == "__main__":
    main()
