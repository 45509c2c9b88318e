"""What machine this is, and its limits: memory bandwidth and matrix-multiply rate."""

from __future__ import annotations

import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def describe() -> dict[str, Any]:
    """The machine and software the benchmark runs on.

    Returns
    -------
    dict
        ``cpu`` (model name from /proc/cpuinfo), ``cores`` (logical CPUs),
        ``usable_cores`` (this process's affinity), ``memory_gib``, thread
        variables (``OMP_NUM_THREADS`` and BLAS ones, ``None`` when unset),
        ``platform``, ``python`` and package versions.
    """
    import nengo

    versions = {"numpy": np.__version__, "nengo": nengo.__version__}
    try:
        import nengo_native

        versions["nengo_native"] = getattr(nengo_native, "__version__", "unknown")
    except ImportError:
        versions["nengo_native"] = None
    env = (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    )
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": _usable_cores(),
        "memory_gib": _memory_gib(),
        "threads_env": {k: os.environ.get(k) for k in env},
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _split(n: int, parts: int) -> list[slice]:
    edges = np.linspace(0, n, parts + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _stream(kind: str, a: np.ndarray, b: np.ndarray, c: np.ndarray, part: slice):
    """Run one streaming kernel over ``part`` in cache-sized blocks."""
    block = 1 << 16  # 512 KiB of float64: the temporary stays in L2
    s = 3.0
    for start in range(part.start, part.stop, block):
        stop = min(start + block, part.stop)
        if kind == "copy":
            np.copyto(a[start:stop], b[start:stop])
        else:  # triad, a = b + s * c
            np.multiply(c[start:stop], s, out=a[start:stop])
            np.add(a[start:stop], b[start:stop], out=a[start:stop])


def bandwidth(
    mbytes: int = 256, repeats: int = 5, threads: int | None = None
) -> dict[str, float]:
    """Measure memory bandwidth with streaming kernels over arrays beyond cache.

    Two kernels run over float64 arrays of ``mbytes`` MB each, split among
    ``threads`` threads (numpy releases the GIL in its loops): ``copy`` (a = b,
    2 arrays' bytes moved) and ``triad`` (a = b + 3 c, 3 arrays' bytes moved, as
    STREAM counts them; computed in cache-sized blocks so the temporary never
    reaches memory). Rates are the best of ``repeats``, in GB/s (1e9 bytes).

    Parameters
    ----------
    mbytes : int
        Size of each array in MB; should be far larger than the last-level cache.
    repeats : int
        Timed repetitions per kernel and thread count.
    threads : int, optional
        Most threads; the default is the number of usable cores. Both one thread
        and this many are measured.

    Returns
    -------
    dict
        ``copy_1t``, ``triad_1t``, ``copy_nt``, ``triad_nt`` (GB/s), ``threads``,
        ``array_mb`` and ``best`` (the largest of the four, the reference used for
        fractions of bandwidth).
    """
    threads = threads or _usable_cores()
    n = mbytes * 10**6 // 8
    a = np.ones(n)
    b = np.ones(n)
    c = np.ones(n)
    out: dict[str, float] = {"threads": threads, "array_mb": mbytes}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for t in sorted({1, threads}):
            parts = _split(n, t)
            for kind, arrays in (("copy", 2), ("triad", 3)):
                best = np.inf
                for _ in range(repeats + 1):  # the first one warms up
                    start = time.perf_counter()
                    list(pool.map(lambda p, k=kind: _stream(k, a, b, c, p), parts))
                    best = min(best, time.perf_counter() - start)
                suffix = "1t" if t == 1 else "nt"
                out[f"{kind}_{suffix}"] = arrays * n * 8 / best / 1e9
    if threads == 1:
        out["copy_nt"], out["triad_nt"] = out["copy_1t"], out["triad_1t"]
    out["best"] = max(out[k] for k in ("copy_1t", "triad_1t", "copy_nt", "triad_nt"))
    return out


def matmul_rate(n: int = 1024, repeats: int = 5) -> dict[str, float]:
    """Measure numpy's (BLAS's) matrix-multiply rate on ``n``-square matrices.

    Parameters
    ----------
    n : int
        Matrix side.
    repeats : int
        Timed repetitions after one warm-up; the median is reported.

    Returns
    -------
    dict
        ``float64`` and ``float32`` rates in GFLOP/s (``2 n**3`` FLOPs per
        product), and ``n``.
    """
    rng = np.random.default_rng(0)
    out: dict[str, float] = {"n": n}
    for dtype in ("float64", "float32"):
        x = rng.standard_normal((n, n)).astype(dtype)
        y = rng.standard_normal((n, n)).astype(dtype)
        z = np.empty((n, n), dtype=dtype)
        np.matmul(x, y, out=z)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(x, y, out=z)
            times.append(time.perf_counter() - start)
        out[dtype] = 2 * n**3 / float(np.median(times)) / 1e9
    return out


def limits(quick: bool = False) -> dict[str, Any]:
    """Measure the machine's limits.

    Parameters
    ----------
    quick : bool
        Smaller arrays and fewer repeats (for CI); figures are rougher.

    Returns
    -------
    dict
        ``bandwidth_gbs`` (see `bandwidth`) and ``matmul_gflops`` (see
        `matmul_rate`).
    """
    if quick:
        return {
            "bandwidth_gbs": bandwidth(mbytes=64, repeats=2),
            "matmul_gflops": matmul_rate(n=512, repeats=3),
        }
    return {"bandwidth_gbs": bandwidth(), "matmul_gflops": matmul_rate()}
