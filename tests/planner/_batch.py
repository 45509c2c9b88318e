"""Run a network through the planner and the engine directly, with any minibatch
size."""

from __future__ import annotations

import nengo

from nengo_native.engine import Engine
from nengo_native.planner import plan_model


def run_batched(
    net: nengo.Network, minibatch_size: int, seed: int, n_steps: int, dt: float = 0.001
) -> tuple[dict, list]:
    """Probe data (n_steps, minibatch_size, *shape) per probe, and the fallback ops.

    Resets as `nengo_native.Simulator.reset` does: the simulator's generator is
    replayed in nengo's step order and seed-dependent kernels are reseeded.
    """
    program = plan_model(net, dt=dt, minibatch_size=minibatch_size, optimize=False)
    engine = Engine(program, has_minibatch_axis=True)
    engine.reset(seed)
    samples = engine.run(n_steps, {})
    data = {p.probe: s for p, s in zip(program.probes, samples, strict=True)}
    return data, program.fallback_ops
