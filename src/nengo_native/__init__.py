"""nengo_native: a Nengo simulator backend with an ahead-of-time compiled C++ core.

Use `nengo_native.Simulator` wherever you would use `nengo.Simulator`.
"""

from . import losses, optimizers
from .config import configure_settings
from .node import BatchNode
from .simulator import Simulator

__version__ = "0.1.0"
__all__ = ["BatchNode", "Simulator", "configure_settings", "losses", "optimizers"]
