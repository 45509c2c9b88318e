"""A batch on a Ray cluster against the same batch in-process.

``python -m bench.cluster``.

A 4 096-item batch of the integrator (medium: 128 dimensions x 64 LIF neurons) runs
through `nengo_native.distributed.Cluster.predict` with 2 workers (one thread each)
and through an in-process ``Simulator.predict`` with 2 threads, side by side, on this
machine. It reports:

- the wall time of each (the cluster's includes starting its workers and building a
  simulator on each; starting Ray itself, once per session, is shown apart), and the
  overhead of the cluster over in-process;
- per minibatch, the time spent outside the simulator: scheduling, moving data and
  results, the caller's own work (the workers' time not spent running or building);
- a model of throughput against workers, fitted from these numbers, for clusters
  larger than this machine (one worker per core), written as JSON to
  bench/results/cluster.json and as a figure to docs/images/cluster-throughput.png.

Ray runs on loopback only: the benchmark re-runs itself in a private network
namespace (``unshare -n``, root) unless ``--no-netns`` is given (e.g. on a real
cluster with ``--address``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _in_private_net(argv: list[str]) -> int:
    env = dict(os.environ, NENGO_NATIVE_PRIVATE_NET="1", RAY_USAGE_STATS_ENABLED="0")
    command = [
        "unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
        sys.executable, "-m", "bench.cluster", *argv,
    ]  # fmt: skip
    return subprocess.call(command, env=env, cwd=REPO_ROOT)


def _data(batch: int, n_steps: int, dimensions: int, dt: float = 0.001) -> np.ndarray:
    """The integrator's own input (sines of rising frequency), scaled per item."""
    t = dt * np.arange(1, n_steps + 1)
    base = np.sin(2 * np.pi * t[:, None] * np.arange(1, dimensions + 1))
    scale = np.linspace(0.5, 1.5, batch)
    return scale[:, None, None] * base[None]


def model_throughput(workers, batch, n_steps, minibatch, fit) -> np.ndarray:
    """Sample-steps/s of a batch on ``workers`` one-core workers.

    T(W) = start + ceil(M / W) * (t_sim + o_worker) + M * c_driver, with M
    minibatches: each worker runs its share, paying per minibatch its simulator time
    and the time outside it; the caller handles every minibatch in turn
    (c_driver), which is what limits a large cluster.
    """
    workers = np.asarray(workers, dtype=float)
    m = batch // minibatch
    total = (
        fit["start_s"]
        + np.ceil(m / workers)
        * (fit["sim_per_minibatch_s"] + fit["outside_per_minibatch_s"])
        + m * fit["driver_per_minibatch_s"]
    )
    return batch * n_steps / total


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--minibatch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", default="medium")
    parser.add_argument("--address", default=None, help="join this Ray cluster")
    parser.add_argument("--no-netns", action="store_true")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "bench", "results"))
    parser.add_argument(
        "--figure",
        default=os.path.join(REPO_ROOT, "docs", "images", "cluster-throughput.png"),
    )
    args = parser.parse_args(argv)
    if not args.no_netns and os.environ.get("NENGO_NATIVE_PRIVATE_NET") != "1":
        return _in_private_net(argv)

    import nengo

    import nengo_native
    from bench.models import SIZES, make
    from nengo_native.distributed import Cluster

    net, probe = make("integrator", args.size)
    dimensions = SIZES["integrator"][args.size]["dimensions"]
    stim = net.all_nodes[0]
    x = _data(args.batch, args.steps, dimensions)
    sample_steps = args.batch * args.steps
    print(
        f"integrator ({args.size}, {dimensions} dims), batch {args.batch} x "
        f"{args.steps} steps, minibatch {args.minibatch}; {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}"
    )

    # nengo's own speed on this machine, in this run (the reference of every table)
    with nengo.Simulator(net, progress_bar=False) as sim:
        sim.run_steps(20)
        t0 = time.perf_counter()
        sim.run_steps(300)
        nengo_rate = 300 / (time.perf_counter() - t0)
    print(f"nengo.Simulator: {nengo_rate:,.0f} steps/s (one item)")

    # in-process: one simulator, 2 threads
    nengo_native.set_num_threads(args.workers)
    t0 = time.perf_counter()
    with nengo_native.Simulator(
        net, minibatch_size=args.minibatch, progress_bar=False
    ) as sim:
        built = time.perf_counter()
        local = sim.predict({stim: x})[probe]
    local_s = time.perf_counter() - t0
    local_build = built - t0
    print(
        f"in-process predict, {args.workers} threads: {local_s:.2f} s "
        f"(build {local_build:.2f} s), {sample_steps / local_s:,.0f} sample-steps/s"
    )
    nengo_native.set_num_threads(1)

    # the cluster
    t0 = time.perf_counter()
    kwargs = {} if args.address else {"num_cpus": args.workers}
    with Cluster(
        args.address,
        num_workers=args.workers,
        progress_bar=False,
        object_store_memory=int(3 * x.nbytes) + 200 * 2**20,
        **kwargs,
    ) as cluster:
        ray_start = time.perf_counter() - t0
        out = cluster.predict(net, {stim: x}, minibatch_size=args.minibatch)[probe]
        stats = dict(cluster.stats)
    wall = stats["wall_s"]
    m, w = stats["minibatches"], stats["workers"]
    same = bool(np.array_equal(out, local))
    outside = w * wall - stats["simulator_s"] - stats["build_s"]
    sim_mb = stats["simulator_s"] / m
    start_s = stats["first_result_s"] - sim_mb
    fit = {
        # from the call to the first minibatch starting: job shipped, workers
        # started, simulators built
        "start_s": start_s,
        "sim_per_minibatch_s": sim_mb,
        # per minibatch, per worker, once started: waiting for work, moving data and
        # results, scheduling
        "outside_per_minibatch_s": max(0.0, (wall - start_s) * w / m - sim_mb),
        "driver_per_minibatch_s": stats["driver_s"] / m,
    }
    overhead = wall / local_s - 1
    print(
        f"cluster predict, {w} workers x 1 thread: {wall:.2f} s "
        f"({sample_steps / wall:,.0f} sample-steps/s); Ray start {ray_start:.2f} s "
        f"(once per session, not counted)"
    )
    print(f"  overhead against in-process: {100 * overhead:+.1f}%")
    print(
        f"  first result after {stats['first_result_s']:.2f} s (worker start + job "
        f"fetch + build {stats['build_s'] / w:.2f} s + one minibatch)"
    )
    print(
        f"  per minibatch: simulator {1e3 * fit['sim_per_minibatch_s']:.1f} ms, "
        f"outside it {1e3 * outside / m:.1f} ms per worker "
        f"({1e3 * fit['outside_per_minibatch_s']:.1f} ms once started), "
        f"caller {1e3 * fit['driver_per_minibatch_s']:.2f} ms"
    )
    print(f"  same as in-process, bit for bit: {same}")

    workers = np.array([1, 2, 4, 8, 16, 32, 64, 128])
    rates = {
        str(batch): model_throughput(workers, batch, args.steps, args.minibatch, fit)
        for batch in (args.batch, 16 * args.batch)
    }
    print("model, sample-steps/s against workers (one core each):")
    for batch, r in rates.items():
        print(
            f"  batch {batch}: "
            + ", ".join(f"{n}: {v:,.0f}" for n, v in zip(workers, r, strict=True))
        )

    result = {
        "machine": {"cores": os.cpu_count(), "processor": platform.processor()},
        "model": f"integrator {args.size}",
        "batch": args.batch,
        "steps": args.steps,
        "minibatch": args.minibatch,
        "nengo_steps_per_s": nengo_rate,
        "local": {"threads": args.workers, "wall_s": local_s, "build_s": local_build},
        "cluster": {**stats, "ray_start_s": ray_start},
        "overhead": overhead,
        "identical": same,
        "fit": fit,
        "model_workers": workers.tolist(),
        "model_sample_steps_per_s": {k: v.tolist() for k, v in rates.items()},
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cluster.json"), "w") as f:
        json.dump(result, f, indent=2)
    _figure(args, workers, rates, local_s, sample_steps, wall, w, fit)
    return 0 if same else 1


def _figure(args, workers, rates, local_s, sample_steps, wall, w, fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for batch, r in rates.items():
        ax.plot(workers, r, "o-", label=f"model, batch {batch}")
    ideal = args.minibatch * args.steps / fit["sim_per_minibatch_s"]
    ax.plot(workers, workers * ideal, ":", color="gray", label="simulator time only")
    ax.plot([w], [sample_steps / wall], "k*", ms=12, label=f"measured, {w} workers")
    ax.plot([w], [sample_steps / local_s], "rs", label=f"in-process, {w} threads")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("workers (one core each)")
    ax.set_ylabel("sample-steps / s")
    ax.set_title(
        f"integrator ({args.size}), minibatch {args.minibatch}, {args.steps} steps"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.figure), exist_ok=True)
    fig.savefig(args.figure, dpi=100)
    print(f"wrote {args.figure}")


if __name__ == "__main__":
    sys.exit(main())
