"""Run a script with 1 and then 2 OpenMP threads: what each run saved."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np


def outputs_for_1_and_2_threads(tmp_path, script: str, *args: str) -> list[np.ndarray]:
    """Write ``script`` to ``tmp_path`` and run it as ``script OUT.npy *args`` with
    ``OMP_NUM_THREADS`` 1 and 2; return the arrays it saved to ``OUT.npy``."""
    path = tmp_path / "run.py"
    path.write_text(script)
    results = []
    for threads in ("1", "2"):
        out = tmp_path / f"out{threads}.npy"
        # BLAS must not follow OMP_NUM_THREADS: its thread count changes solved
        # decoders in the last bits, which is not what these tests are about.
        env = dict(
            os.environ,
            OMP_NUM_THREADS=threads,
            OPENBLAS_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
        )
        cmd = [sys.executable, str(path), str(out), *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        results.append(np.load(out))
    return results
