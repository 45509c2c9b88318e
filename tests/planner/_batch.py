"""Run a network through the planner and runtime directly, with any minibatch size."""

from __future__ import annotations

import nengo
import numpy as np
from nengo.builder import Model
from nengo.utils.graphs import toposort
from nengo.utils.simulator import operator_dependency_graph

from nengo_native.planner import plan
from nengo_native.planner.lowering import lowering_for
from nengo_native.runtime import Runtime


def run_batched(
    net: nengo.Network, batch: int, seed: int, n_steps: int, dt: float = 0.001
) -> tuple[dict, list]:
    """Probe data (n_steps, batch, *shape) per probe, and the fallback ops.

    Resets as `nengo_native.Simulator.reset` does: the simulator's generator is
    replayed in nengo's step order and seed-dependent kernels are reseeded.
    """
    model = Model(dt=dt)
    model.build(net)
    dg = operator_dependency_graph(model.operators)
    step_order = [op for op in toposort(dg) if hasattr(op, "make_step")]
    program = plan(model, step_order, dg, batch=batch)
    runtime = Runtime(program, dt, model.step)
    runtime.reset_memory()
    rng = np.random.RandomState(seed)
    draws = {}
    for op in step_order:
        if op in runtime.callbacks:
            runtime.callbacks[op].fn = op.make_step(runtime.signals, dt, rng)
        elif lowering_for(op) is not None:
            draws[op] = lowering_for(op).consume_rng(op, rng)
    runtime.reseed(draws)
    samples, _, error = runtime.run(n_steps)
    assert error is None
    data = {p.probe: s for p, s in zip(program.probes, samples)}
    return data, program.fallback_ops
