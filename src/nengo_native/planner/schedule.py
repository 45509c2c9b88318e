"""Grouping: independent same-kind operators become one kernel call.

Operators are placed on levels (longest path from the graph's sources); operators on
one level never depend on each other, so each level's operators of one kind run as
one group, and levels run in order.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from nengo.utils.graphs import toposort

from .lowering import written_signals


def levels(dg, step_order) -> dict:
    """Longest-path level of every operator in ``dg`` (op -> set of dependents).

    ``step_order`` is a topological order of ``dg``'s operators, or of some of them.
    """
    level = {op: 0 for op in dg}
    for op in step_order if len(step_order) == len(dg) else toposort(dg):
        for dep in dg[op]:
            level[dep] = max(level[dep], level[op] + 1)
    return level


def chain_order(ops):
    """Reorder ``ops`` so operators writing overlapping signals are adjacent.

    Returns the reordered ops and ``chain_ptr`` (CSR over chains). Within a chain the
    original order is kept, which keeps sums in a fixed order whatever the threads.
    """
    parent = {}

    def find(x):
        while parent.setdefault(x, x) is not x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for op in ops:
        bases = [sig.base for sig in written_signals(op)]
        for base in bases[1:]:
            ra, rb = find(bases[0]), find(base)
            if ra is not rb:
                parent[rb] = ra
    chains = defaultdict(list)
    for op in ops:
        bases = written_signals(op)
        chains[find(bases[0].base) if bases else op].append(op)
    ordered = [op for chain in chains.values() for op in chain]
    sizes = [len(chain) for chain in chains.values()]
    chain_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return ordered, chain_ptr
