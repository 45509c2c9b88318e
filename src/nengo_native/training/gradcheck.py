"""`Simulator.check_gradients`: the backward pass against finite differences."""

from __future__ import annotations

import numpy as np
from nengo.exceptions import SimulationError


def _projection_loss(runtime, data, n_steps, weights) -> float:
    samples, _, error = runtime.run(n_steps, data, training=True)
    if error is not None:
        raise error
    return float(
        sum(
            np.sum(w * s, dtype=np.float64)
            for w, s in zip(weights, samples, strict=True)
        )
    )


def check_gradients(trainer, x, n_steps, eps, max_checks, rtol, seed) -> dict:
    """See `nengo_native.Simulator.check_gradients`."""
    runtime = trainer.runtime
    data, _, n_steps = trainer.inputs(x, n_steps)
    trainer.prepare()
    rng = np.random.RandomState(seed)
    state = runtime.save_state()
    try:
        runtime.restore_state(state)
        samples, _, error = runtime.run(n_steps, data, training=True)
        if error is not None:
            raise error
        weights = [rng.standard_normal(s.shape).astype(s.dtype) for s in samples]
        # Rounding in the loss limits what a difference quotient can resolve: below
        # this a derivative counts as matched (relative error at most rtol).
        magnitude = sum(
            np.sum(np.abs(w * s), dtype=np.float64)
            for w, s in zip(weights, samples, strict=True)
        )
        resolution = 10 * np.finfo(samples[0].dtype).eps * magnitude / eps
        runtime.backward(weights)
        analytic = trainer.gradients()

        errors = {}
        for p in trainer.params:
            value = trainer.get(p.key)
            flat = value.ravel()
            picks = rng.permutation(flat.size)[:max_checks]
            worst = 0.0
            for i in picks:
                numeric = []
                for sign in (1, -1):
                    shifted = flat.copy()
                    shifted[i] += sign * eps
                    trainer.set(p.key, shifted.reshape(value.shape))
                    runtime.restore_state(state, sync=False)
                    numeric.append(_projection_loss(runtime, data, n_steps, weights))
                trainer.set(p.key, value)
                n = (numeric[0] - numeric[1]) / (2 * eps)
                a = float(analytic[p.key].ravel()[i])
                scale = max(abs(a), abs(n), resolution / rtol)
                worst = max(worst, abs(a - n) / scale)
            errors[p] = float(worst)
    finally:
        runtime.restore_state(state)
    bad = {k: v for k, v in errors.items() if v > rtol}
    if bad:
        raise SimulationError(
            "gradients differ from finite differences (relative error above "
            f"{rtol:g}): " + ", ".join(f"{k}: {v:.2e}" for k, v in bad.items())
        )
    return errors
