"""Benchmark nengo_native against nengo.Simulator (and NengoDL): ``python -m bench``.

Each configuration (model, size, neuron type, simulator, minibatch size) is
measured in its own subprocess (`bench.measure`), so that its peak memory is its
own; the runner prints each as it finishes, then a table, and writes JSON and a
PNG plot. See bench/README.md for the columns and the JSON fields.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from bench import machine, report
from bench.measure import MARKER, supports_minibatch
from bench.models import MODELS, NEURON_TYPES, SIZES

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "models": "integrator",
        "sizes": "small",
        "neuron_types": "lif",
        "minibatch": "1,8",
        "steps": 100,
        "repeats": 2,
        "warmup": 20,
    },
    "medium": {
        "models": "integrator,circular_convolution,basal_ganglia",
        "sizes": "medium",
        "neuron_types": "lif",
        "minibatch": "1,8,32,64",
        "steps": 1000,
        "repeats": 3,
        "warmup": 100,
    },
    "full": {
        "models": ",".join(MODELS),
        "sizes": "small,medium,large",
        "neuron_types": ",".join(NEURON_TYPES),
        "minibatch": "1,8,32,64",
        "steps": 1000,
        "repeats": 3,
        "warmup": 100,
    },
}
"""Named sets of defaults; options given on the command line override them."""


def _csv(text: str, allowed: Any = None, what: str = "value") -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if allowed is not None:
        bad = [t for t in items if t not in allowed]
        if bad:
            raise SystemExit(f"unknown {what} {bad}; choose from {sorted(allowed)}")
    return items


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line, filling unset options from the chosen profile.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
    """
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="medium",
        help="set of defaults (default: medium)",
    )
    p.add_argument("--quick", action="store_true", help="same as --profile quick (CI)")
    p.add_argument("--models", help=f"comma-separated, from {','.join(MODELS)}")
    p.add_argument("--sizes", help="comma-separated, from small,medium,large")
    p.add_argument(
        "--neuron-types", help=f"comma-separated, from {','.join(NEURON_TYPES)}"
    )
    p.add_argument(
        "--minibatch", help="comma-separated minibatch sizes, e.g. 1,8,32,64"
    )
    p.add_argument("--steps", type=int, help="timed steps per repeat")
    p.add_argument("--repeats", type=int, help="timed repeats (the median is reported)")
    p.add_argument("--warmup", type=int, help="steps run once before timing")
    p.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="dtype of nengo_native and NengoDL (nengo.Simulator: float64 always)",
    )
    p.add_argument(
        "--simulators",
        default="nengo,native,nengo_dl",
        help="comma-separated; nengo_dl is skipped where it cannot be imported",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--fast",
        dest="fast",
        action="store_true",
        default=False,
        help="also run nengo_native with exact=False (rows 'native_fast')",
    )
    mode.add_argument(
        "--exact",
        dest="fast",
        action="store_false",
        help="nengo_native in its exact mode only (the default)",
    )
    p.add_argument(
        "--nengodl-python",
        help="interpreter of an environment with NengoDL (e.g. /tmp/ndl/bin/python)",
    )
    p.add_argument(
        "--no-optimize",
        action="store_true",
        help="skip nengo's operator-merging optimizer in nengo_native (nengo keeps it)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--decoder-cache",
        action="store_true",
        help="let builds use nengo's decoder cache (off by default: fair build times)",
    )
    p.add_argument("--timeout", type=float, default=1800, help="seconds per config")
    p.add_argument("--json", help="output JSON (default bench/results/<time>.json)")
    p.add_argument("--plot", help="output PNG (default: the JSON's path, .png)")
    p.add_argument("--no-plot", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.profile = "quick"
    for key, value in PROFILES[args.profile].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if args.json is None:
        args.json = os.path.join(REPO_ROOT, "bench", "results", f"{stamp}.json")
    if args.plot is None:
        args.plot = os.path.splitext(args.json)[0] + ".png"
    return args


def _interpreters(sims: list[str], nengodl_python: str | None) -> dict[str, Any]:
    """Interpreter per simulator, or the reason it is unavailable (a str)."""
    out: dict[str, Any] = {}
    for sim in sims:
        if sim in ("nengo", "native", "native_fast"):
            out[sim] = sys.executable
        elif sim == "nengo_dl":
            if nengodl_python:
                out[sim] = nengodl_python
            elif importlib.util.find_spec("nengo_dl") is not None:
                out[sim] = sys.executable
            else:
                out[sim] = "nengo_dl is not importable and --nengodl-python not given"
        else:
            raise SystemExit(f"unknown simulator {sim!r}")
    return out


def _minibatch_support(sim: str) -> bool:
    if sim == "nengo":
        return False
    if sim in ("native", "native_fast"):
        import nengo_native

        return supports_minibatch(nengo_native.Simulator)
    return True


def run_worker(cfg: dict[str, Any], python: str, timeout: float) -> dict[str, Any]:
    """Measure one configuration in a subprocess of ``python``.

    Parameters
    ----------
    cfg : dict
        A configuration (see `bench.measure.DEFAULT_CONFIG`).
    python : str
        Interpreter to run `bench.measure` with.
    timeout : float
        Seconds before the subprocess is killed.

    Returns
    -------
    dict
        The worker's result, or ``ok: false`` with ``error`` when it crashed,
        timed out or printed no result.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [REPO_ROOT, env.get("PYTHONPATH")])
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        proc = subprocess.run(
            [python, "-m", "bench.measure", json.dumps(cfg)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=REPO_ROOT,
        )
    except subprocess.TimeoutExpired:
        return {**cfg, "ok": False, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    tail = (proc.stderr or proc.stdout)[-2000:]
    return {**cfg, "ok": False, "error": f"exit {proc.returncode}: {tail}"}


def _progress(i: int, n: int, r: dict[str, Any], wall: float) -> None:
    head = (
        f"[{i}/{n}] {r['model']}/{r['size']}/{r['neuron_type']} "
        f"{r['simulator']} mb={r['minibatch']} {r.get('dtype', '')}:"
    )
    if r.get("ok"):
        print(
            f"{head} build {r['build_s']:.2f} s, {r['steps_per_s']:.0f} steps/s, "
            f"{r['sample_steps_per_s']:.0f} sample-steps/s, "
            f"peak {r['peak_rss_mb']:.0f} MB ({wall:.1f} s)",
            flush=True,
        )
    else:
        print(f"{head} FAILED: {r.get('error', '')[-300:]}", flush=True)


def _row(
    key: tuple[str, str, str],
    runs: list[dict[str, Any]],
    limits: dict[str, Any],
    skipped: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """The result row of one model/size/neuron type from its configurations' runs."""
    model, size, nt = key
    outputs = {}
    for r in runs:
        if r["minibatch"] == 1:
            path = r.get("output")
            ok = r.get("ok") and path and os.path.exists(path)
            outputs[r["simulator"]] = np.load(path) if ok else None
    return {
        "model": model,
        "size": size,
        "neuron_type": nt,
        "params": SIZES[model][size],
        **report.summarize(runs, limits, outputs, skipped),
        "runs": [{k: v for k, v in r.items() if k != "output"} for r in runs],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print progress and the table; write JSON and PNG.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    dict
        The document written as JSON.
    """
    argv = sys.argv[1:] if argv is None else argv
    if "--end-to-end" in argv:
        from bench import end_to_end

        return end_to_end.main(argv)
    args = parse_args(argv)
    models = _csv(args.models, MODELS, "model")
    sizes = _csv(args.sizes, ("small", "medium", "large"), "size")
    neuron_types = _csv(args.neuron_types, NEURON_TYPES, "neuron type")
    minibatches = sorted({1} | {int(m) for m in _csv(args.minibatch)})
    sims = _csv(args.simulators, report.SIM_ORDER, "simulator")
    if args.fast and "native_fast" not in sims:
        at = sims.index("native") + 1 if "native" in sims else len(sims)
        sims.insert(at, "native_fast")
    pythons = _interpreters(sims, args.nengodl_python)

    info = machine.describe()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores "
        f"({info['usable_cores']} usable), {info['memory_gib']:.1f} GiB, "
        f"OMP_NUM_THREADS={info['threads_env']['OMP_NUM_THREADS'] or 'unset'}; "
        f"nengo {info['versions']['nengo']}, numpy {info['versions']['numpy']}",
        flush=True,
    )
    for sim, py in pythons.items():
        if not os.path.isabs(py) and sim == "nengo_dl":
            print(f"skipping nengo_dl: {py}", flush=True)
    print("measuring the machine's limits ...", flush=True)
    limits = machine.limits(quick=args.profile == "quick")
    bw = limits["bandwidth_gbs"]
    mm = limits["matmul_gflops"]
    print(
        f"bandwidth: copy {bw['copy_1t']:.1f} / {bw['copy_nt']:.1f} GB/s, "
        f"triad {bw['triad_1t']:.1f} / {bw['triad_nt']:.1f} GB/s "
        f"(1 / {bw['threads']} threads); "
        f"matmul {mm['n']}²: {mm['float64']:.1f} GFLOP/s float64, "
        f"{mm['float32']:.1f} GFLOP/s float32",
        flush=True,
    )

    plan = []
    skipped: dict[tuple, dict[str, dict[str, str]]] = {}
    for model in models:
        for size in sizes:
            for nt in neuron_types:
                key = (model, size, nt)
                skipped[key] = {}
                for sim in sims:
                    py = pythons[sim]
                    if not os.path.isabs(py):
                        skipped[key][sim] = {"1": py}
                        continue
                    batched = _minibatch_support(sim)
                    for mb in minibatches:
                        if mb > 1 and not batched:
                            why = (
                                "nengo.Simulator runs items one after the other"
                                if sim == "nengo"
                                else f"{sim} takes no minibatch_size"
                            )
                            skipped[key].setdefault(sim, {})[str(mb)] = why
                            continue
                        plan.append((key, sim, mb, py))

    rows: list[dict[str, Any]] = []
    document = {
        "schema": 1,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "complete": False,
        "command": " ".join(["python -m bench", *(argv or sys.argv[1:])]),
        "settings": {
            k: getattr(args, k)
            for k in (
                "profile",
                "steps",
                "repeats",
                "warmup",
                "dtype",
                "seed",
                "no_optimize",
                "decoder_cache",
                "timeout",
            )
        }
        | {
            "models": models,
            "sizes": sizes,
            "neuron_types": neuron_types,
            "minibatch": minibatches,
            "simulators": sims,
            "nengodl_python": pythons.get("nengo_dl"),
        },
        "machine": info,
        "limits": limits,
        "results": rows,
    }
    total = len(plan)
    print(f"{total} configurations", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        runs: list[dict[str, Any]] = []
        for i, (key, sim, mb, py) in enumerate(plan, 1):
            model, size, nt = key
            cfg = {
                "model": model,
                "size": size,
                "neuron_type": nt,
                "seed": args.seed,
                "simulator": sim,
                "minibatch": mb,
                "steps": args.steps,
                "repeats": args.repeats,
                "warmup": args.warmup,
                "dtype": args.dtype,
                "optimize": not (sim.startswith("native") and args.no_optimize),
                "decoder_cache": args.decoder_cache,
                "output": os.path.join(tmp, f"{model}-{size}-{nt}-{sim}.npy")
                if mb == 1
                else None,
            }
            start = time.perf_counter()
            result = run_worker(cfg, py, args.timeout)
            _progress(i, total, result, time.perf_counter() - start)
            runs.append(result)
            if i == total or plan[i][0] != key:  # this model's last configuration
                rows.append(_row(key, runs, limits, skipped[key]))
                runs = []
                report.write_json(args.json, document)  # kept if the run is stopped

    print()
    print(report.table_header())
    for row in rows:
        for line in report.table_rows(row):
            print(line)
    document["complete"] = True
    report.write_json(args.json, document)
    print(f"wrote {args.json}", flush=True)
    if not args.no_plot:
        report.plot(args.plot, rows, minibatches)
        print(f"wrote {args.plot}", flush=True)
    return document


if __name__ == "__main__":
    main()
