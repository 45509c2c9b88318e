"""nengo_native: a Nengo simulator backend with an ahead-of-time compiled C++ core.

Use `nengo_native.Simulator` wherever you would use `nengo.Simulator`.
"""

import os

# The core's OpenMP threads meet at a barrier after every parallel kernel, a few times
# per step. By default libgomp's idle threads spin there, which on a machine with more
# runnable threads than cores (other processes, parallel test runs, sweeps) takes the
# cores the working thread needs and made steps 10x slower in measurements; sleeping
# threads cost a few microseconds to wake instead. This must be set before the OpenMP
# runtime loads (with the core, just below); a user's own setting wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "passive"

import sys  # noqa: E402

from ._core import get_num_threads, set_num_threads  # noqa: E402
from .node import BatchNode  # noqa: E402
from .simulator import FallbackWarning, Simulator  # noqa: E402
from .training import callbacks, configure_settings, losses, optimizers  # noqa: E402

# `nengo_native.losses` and `nengo_native.optimizers` are public module names (import
# them, or from them); they live in the training subpackage.
sys.modules[f"{__name__}.callbacks"] = callbacks
sys.modules[f"{__name__}.losses"] = losses
sys.modules[f"{__name__}.optimizers"] = optimizers

__version__ = "0.1.0"
__all__ = [
    "BatchNode",
    "FallbackWarning",
    "Simulator",
    "callbacks",
    "configure_settings",
    "get_num_threads",
    "losses",
    "optimizers",
    "set_num_threads",
]
