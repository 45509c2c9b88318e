"""End-to-end benchmark: build, ``run(1.0)`` and their sum, per model and simulator.

``python -m bench --end-to-end`` (or ``python -m bench.end_to_end``). What a user who
swaps the simulator waits for: construction (nengo's builder, then the optimizer
or the planner) plus a one-second run, with the decoder cache off so every build
solves its decoders. Each model runs in its own subprocess; inside it the
simulators alternate, repeat after repeat, so that both see the same machine load;
the median of the repeats is reported, with nengo's own steps/s in that run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MARKER = "E2E_RESULT "
"""Prefix of the line that carries a worker's result on its stdout."""

DEFAULT_MODELS = "integrator,circular_convolution,basal_ganglia,gated_memory"
"""The models of issue 15's end-to-end target."""

SIMULATORS = ("nengo", "native")
"""Measured by default; ``native-nengo`` (nengo_native with ``optimize="nengo"``) may
be added to compare with nengo's optimizer in the same run."""


def _construct(name: str, net, optimize) -> Any:
    if name == "nengo":
        import nengo

        return nengo.Simulator(net, seed=0, progress_bar=False)
    import nengo_native

    if name == "native-nengo":  # nengo's optimizer, for comparison
        optimize = "nengo"
    return nengo_native.Simulator(net, seed=0, progress_bar=False, optimize=optimize)


def measure_model(
    model: str,
    size: str,
    repeats: int,
    simulators: list[str],
    seconds: float = 1.0,
    native_optimize: Any = True,
) -> dict[str, Any]:
    """Build and run one model with each simulator, alternating, ``repeats`` times.

    Parameters
    ----------
    model, size : str
        A key of `bench.models.MODELS` and a size name.
    repeats : int
        Number of build-and-run repetitions per simulator (the median is reported).
    simulators : list of str
        From ``"nengo"``, ``"native"``, ``"native-nengo"``.
    seconds : float
        Simulated time of each run.
    native_optimize : bool or str
        ``optimize=`` of nengo_native.

    Returns
    -------
    dict
        ``{simulator: {build_s, run_s, total_s, steps_per_s, *_repeats}}`` (medians).
    """
    import nengo

    from bench.models import make

    nengo.rc["decoder_cache"]["enabled"] = "False"
    # import both packages before timing, so neither build pays for an import
    import nengo_native  # noqa: F401

    times: dict[str, dict[str, list[float]]] = {
        s: {"build_s": [], "run_s": []} for s in simulators
    }
    for _ in range(repeats):
        for name in simulators:
            net, _probe = make(model, size)
            gc.collect()
            start = time.perf_counter()
            sim = _construct(name, net, native_optimize)
            built = time.perf_counter()
            sim.run(seconds)
            done = time.perf_counter()
            sim.close()
            times[name]["build_s"].append(built - start)
            times[name]["run_s"].append(done - built)
            del sim, net
    steps = int(round(seconds / 0.001))
    out: dict[str, Any] = {}
    for name, t in times.items():
        totals = [b + r for b, r in zip(t["build_s"], t["run_s"], strict=True)]
        out[name] = {
            "build_s": statistics.median(t["build_s"]),
            "run_s": statistics.median(t["run_s"]),
            "total_s": statistics.median(totals),
            "steps_per_s": steps / statistics.median(t["run_s"]),
            "build_s_repeats": t["build_s"],
            "run_s_repeats": t["run_s"],
            "total_s_repeats": totals,
        }
    return out


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """The table: one line per model and simulator, ratios against nengo.

    Parameters
    ----------
    results : dict
        ``{model: measure_model's result}``.

    Returns
    -------
    str
    """
    lines = [
        f"{'model':22s} {'simulator':9s} {'build s':>8s} {'run s':>7s} {'total s':>8s} "
        f"{'steps/s':>8s} {'build÷nengo':>12s} {'nengo÷total':>12s}"
    ]
    for model, sims in results.items():
        if "error" in sims:
            lines.append(f"{model:22s} error: {sims['error']}")
            continue
        ref = sims.get("nengo")
        for name, r in sims.items():
            build_ratio = total_speedup = "-"
            if ref is not None and name != "nengo":
                build_ratio = f"{r['build_s'] / ref['build_s']:.2f}"
                total_speedup = f"{ref['total_s'] / r['total_s']:.2f}×"
            lines.append(
                f"{model:22s} {name:9s} {r['build_s']:8.2f} {r['run_s']:7.2f} "
                f"{r['total_s']:8.2f} {r['steps_per_s']:8.0f} {build_ratio:>12s} "
                f"{total_speedup:>12s}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the end-to-end benchmark; print the table; write JSON if asked.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    dict
        ``{"settings": ..., "results": {model: {simulator: ...}}}``.
    """
    p = argparse.ArgumentParser(prog="python -m bench --end-to-end")
    p.add_argument("--end-to-end", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--models", default=DEFAULT_MODELS)
    p.add_argument("--sizes", default="medium", help="one size name")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--simulators", default=",".join(SIMULATORS))
    p.add_argument(
        "--native-optimize",
        default="True",
        help="optimize= of nengo_native: True, False or nengo",
    )
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    optimize = {"True": True, "False": False}.get(
        args.native_optimize, args.native_optimize
    )
    from bench import machine

    info = machine.describe()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores "
        f"({info['usable_cores']} usable), {info['memory_gib']:.1f} GiB, "
        f"OMP_NUM_THREADS={info['threads_env']['OMP_NUM_THREADS'] or 'unset'}; "
        f"nengo {info['versions']['nengo']}, numpy {info['versions']['numpy']}; "
        f"decoder cache off, median of {args.repeats}, run({args.seconds})",
        flush=True,
    )
    results: dict[str, Any] = {}
    for model in [m for m in args.models.split(",") if m]:
        cfg = {
            "model": model,
            "size": args.sizes,
            "repeats": args.repeats,
            "simulators": args.simulators.split(","),
            "seconds": args.seconds,
            "native_optimize": optimize,
        }
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.end_to_end", "--worker", json.dumps(cfg)],
                capture_output=True,
                text=True,
                timeout=args.timeout,
                cwd=REPO_ROOT,
            )
            line = [x for x in proc.stdout.splitlines() if x.startswith(MARKER)]
            if not line:
                raise RuntimeError(proc.stderr.strip().splitlines()[-1:])
            results[model] = json.loads(line[-1][len(MARKER) :])
        except Exception as e:  # a failed model is reported, the others still run
            results[model] = {"error": repr(e)}
        print(format_table({model: results[model]}).split("\n", 1)[1], flush=True)
    print()
    print(format_table(results))
    doc = {"settings": vars(args), "machine": info, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=str)
    return doc


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        cfg = json.loads(sys.argv[2])
        print(MARKER + json.dumps(measure_model(**cfg)), flush=True)
    else:
        main()
