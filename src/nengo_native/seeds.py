"""How minibatch items get random streams of their own.

Item 0 of a minibatch draws exactly what `nengo.Simulator` draws. Every other item
``b`` gets a stream of its own, seeded from ``s0`` (the seed item 0's generator
starts from: a process's own seed, or the one it draws from the simulator's
generator) and ``b``, so that the streams depend only on the simulator's seed and
the item's index, never on how the model was built or grouped. This module is the
one place that rule is written.
"""

from __future__ import annotations

import numpy as np
from nengo.utils.numpy import maxint


def item_seed(seed: int, item: int) -> int:
    """The seed of minibatch item ``item``'s stream, for item 0's seed ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(item)]).generate_state(1)[0])


def item_rng(seed: int, item: int) -> np.random.RandomState:
    """Item ``item``'s generator: nengo's own (seeded ``seed``) for item 0."""
    return np.random.RandomState(seed if item == 0 else item_seed(seed, item))


def peek_process_seed(process, rng: np.random.RandomState) -> int:
    """The seed ``process.get_rng(rng)`` would give the process's generator, without
    drawing from ``rng``."""
    if process is not None and process.seed is not None:
        return int(process.seed)
    peek = np.random.RandomState()
    peek.set_state(rng.get_state())
    return int(peek.randint(maxint))
