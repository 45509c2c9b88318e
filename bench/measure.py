"""Measure one configuration (model, size, neuron type, simulator, minibatch).

Run as ``python -m bench.measure '<config json>'`` in a fresh process, so that its
peak memory is its own; it prints one line ``BENCH_RESULT <json>`` on stdout. Any
interpreter with nengo can run it: NengoDL's runs from its own environment. The
simulator's package is imported only when that simulator is measured.

A configuration is a dict with the keys of `DEFAULT_CONFIG`.
"""

from __future__ import annotations

import gc
import inspect
import json
import resource
import sys
import time
import traceback
import warnings
from typing import Any

MARKER = "BENCH_RESULT "
"""Prefix of the line that carries a worker's result on its stdout."""

DEFAULT_CONFIG: dict[str, Any] = {
    "model": "integrator",
    "size": "small",
    "neuron_type": "lif",
    "seed": 0,
    # "nengo", "native", "native_fast" (exact=False) or "nengo_dl"
    "simulator": "nengo",
    "minibatch": 1,
    "steps": 1000,
    "repeats": 3,
    "warmup": 100,  # steps run once before timing (NengoDL: ``steps``, see below)
    "dtype": "float64",  # native and NengoDL; nengo.Simulator is always float64
    "optimize": True,  # nengo's operator merging (nengo and native)
    "decoder_cache": False,
    "output": None,  # path of a .npy file for the probe's data of the last repeat
}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (1e6 bytes).

    On Linux this is ``VmHWM`` of /proc/self/status, the high-water mark of this
    process's own memory map. (``ru_maxrss`` would do elsewhere, but on Linux it
    carries the parent's peak over ``fork``/``exec``.)
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def supports_minibatch(simulator_class: type) -> bool:
    """Whether a simulator class takes a ``minibatch_size`` argument.

    Parameters
    ----------
    simulator_class : type
        A simulator class.

    Returns
    -------
    bool
    """
    try:
        return "minibatch_size" in inspect.signature(simulator_class).parameters
    except (TypeError, ValueError):
        return False


def _make_simulator(cfg: dict[str, Any], net: Any) -> tuple[Any, dict[str, Any]]:
    """Construct the configured simulator; return it and facts about the build."""
    name = cfg["simulator"]
    mb = cfg["minibatch"]
    if name == "nengo":
        import nengo

        if mb != 1:
            raise ValueError("nengo.Simulator has no minibatch")
        start = time.perf_counter()
        sim = nengo.Simulator(net, seed=cfg["seed"], progress_bar=False)
        build = time.perf_counter() - start
        return sim, {"build_s": build, "dtype": "float64"}
    if name in ("native", "native_fast"):
        import nengo_native

        kwargs: dict[str, Any] = {"dtype": cfg["dtype"], "optimize": cfg["optimize"]}
        if name == "native_fast":
            kwargs["exact"] = False
        if mb != 1 or supports_minibatch(nengo_native.Simulator):
            if not supports_minibatch(nengo_native.Simulator):
                raise ValueError("nengo_native.Simulator has no minibatch_size yet")
            kwargs["minibatch_size"] = mb
        start = time.perf_counter()
        sim = nengo_native.Simulator(
            net, seed=cfg["seed"], progress_bar=False, **kwargs
        )
        build = time.perf_counter() - start
        return sim, {"build_s": build, "dtype": cfg["dtype"]}
    if name == "nengo_dl":
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import nengo_dl
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        with net:
            nengo_dl.configure_settings(dtype=cfg["dtype"])
        start = time.perf_counter()
        sim = nengo_dl.Simulator(
            net, seed=cfg["seed"], minibatch_size=mb, progress_bar=False
        )
        build = time.perf_counter() - start
        return sim, {
            "build_s": build,
            "dtype": cfg["dtype"],
            "version": nengo_dl.__version__,
        }
    raise ValueError(f"unknown simulator {name!r}")


def _operator_counts(cfg: dict[str, Any], sim: Any) -> dict[str, Any]:
    """Operators before and after each simulator's planning."""
    name = cfg["simulator"]
    if name == "nengo":
        n = len(sim.step_order)
        return {"ops_before": n, "ops_after": n, "fallback_ops": 0}
    if name in ("native", "native_fast"):
        fallback = sim.fallback_operators
        steps = sim.program.steps
        callbacks = sum(1 for s in steps if type(s).__name__ == "CallbackStep")
        return {
            "ops_before": len(sim.step_order),
            "ops_after": len(steps),
            "kernel_steps": len(steps) - callbacks,
            "callback_steps": callbacks,
            "fallback_ops": len(fallback),
            "fallback_kinds": sorted({type(op).__name__ for op in fallback}),
        }
    if name == "nengo_dl":
        return {
            "ops_before": len(sim.model.operators),
            "ops_after": len(sim.tensor_graph.plan),
            "fallback_ops": None,
        }
    return {}


def measure(cfg: dict[str, Any]) -> dict[str, Any]:
    """Build, warm up and time one configuration.

    Parameters
    ----------
    cfg : dict
        A configuration (see `DEFAULT_CONFIG`).

    Returns
    -------
    dict
        The configuration plus ``build_s`` (median of ``repeats`` builds),
        ``build_s_repeats``, ``steps_per_s`` (median over repeats),
        ``steps_per_s_repeats``, ``sample_steps_per_s`` (``minibatch *
        steps_per_s``), operator counts (``ops_before``, ``ops_after``,
        ``fallback_ops``, ...), ``cost`` (see `bench.cost.step_cost`),
        ``baseline_rss_mb`` (peak RSS after imports, before building),
        ``peak_rss_mb`` (peak RSS at the end) and ``run_s`` (wall time).
    """
    import nengo
    import numpy as np

    from bench.cost import step_cost
    from bench.models import make

    cfg = {**DEFAULT_CONFIG, **cfg}
    t0 = time.perf_counter()
    if not cfg["decoder_cache"]:
        nengo.rc.set("decoder_cache", "enabled", "False")
    warnings.simplefilter("ignore")
    net, probe = make(cfg["model"], cfg["size"], cfg["neuron_type"], cfg["seed"])
    if cfg["simulator"] == "nengo_dl":
        import nengo_dl  # noqa: F401  (imports TensorFlow before the baseline)
    elif cfg["simulator"] in ("native", "native_fast"):
        import nengo_native  # noqa: F401
    baseline = _peak_rss_mb()

    # Builds are timed like runs, `repeats` times (median): one build on a shared
    # machine says as much about the neighbours as about the builder.
    builds, sim = [], None
    for _ in range(max(1, cfg["repeats"])):
        if sim is not None:
            sim.close()
            sim = None
            gc.collect()
        sim, built = _make_simulator(cfg, net)
        builds.append(built["build_s"])
    built.update(build_s=float(np.median(builds)), build_s_repeats=builds)
    result: dict[str, Any] = {**cfg, **built}
    steps = cfg["steps"]
    with sim:
        # NengoDL traces a graph per number of steps: warm up with the timed count.
        warmup = steps if cfg["simulator"] == "nengo_dl" else min(cfg["warmup"], steps)
        if warmup > 0:
            sim.run_steps(warmup)
        rates = []
        for _ in range(cfg["repeats"]):
            sim.reset()
            start = time.perf_counter()
            sim.run_steps(steps)
            rates.append(steps / (time.perf_counter() - start))
        if cfg["output"]:
            np.save(cfg["output"], np.asarray(sim.data[probe]))
        result.update(_operator_counts(cfg, sim))
        itemsize = np.dtype(result["dtype"]).itemsize
        result["cost"] = step_cost(sim.model.operators, itemsize)
    median = float(np.median(rates))
    result.update(
        steps_per_s=median,
        steps_per_s_repeats=rates,
        sample_steps_per_s=median * cfg["minibatch"],
        baseline_rss_mb=baseline,
        peak_rss_mb=_peak_rss_mb(),
        run_s=time.perf_counter() - t0,
        ok=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Measure the configuration given as JSON in ``argv[0]``; print the result.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when the configuration was measured, 1 when it failed (the printed
        result then has ``ok: false`` and ``error``).
    """
    argv = sys.argv[1:] if argv is None else argv
    cfg = json.loads(argv[0])
    try:
        result = measure(cfg)
    except Exception as e:  # report any failure as data, not a crash
        result = {
            **DEFAULT_CONFIG,
            **cfg,
            "ok": False,
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc()[-4000:],
        }
    print(MARKER + json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
