"""Settings for the notebooks' runs (nbval in CI, ``scripts/run_notebooks.py``).

The stored outputs print trained errors and accuracies, which follow the last bits of
nengo's build: numpy picks its transcendental functions, and OpenBLAS its kernels, by
the CPU, and an AVX-512 CPU rounds differently from an AVX2 one (the stored numbers
differed in the second digit). Pinned to their AVX2 code, both take on an AVX-512 CPU
the paths they take on an AVX2 one, where the stored outputs were made. The notebooks'
kernels inherit this process's environment.
"""

import os

PORTABLE_NUMERICS = {
    "NPY_DISABLE_CPU_FEATURES": (
        "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"
    ),
    "OPENBLAS_CORETYPE": "Haswell",
}
os.environ.update(PORTABLE_NUMERICS)
