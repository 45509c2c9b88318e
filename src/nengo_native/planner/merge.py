"""Planner-native merging: what nengo's optimizer does, in time linear in the
operators.

nengo's optimizer merges operators by rewriting the model (new concatenated signals,
new operators) and needs a transitive closure of the dependency graph to know which
merges are safe; on big models that costs more than the build. The planner already
knows which operators are independent (those on one level), so it only needs two
things:

1. **A layout in group order** (`grouped_bases`): the bases of same-kind operators of
   one level are laid out next to each other, role by role (all ``A`` of a group,
   then all ``X``, then all ``Y``), so that their views become adjacent.
2. **Coalescing** (`coalesce_dots`): a run of dense matrix-vector products whose
   matrices, inputs and outputs are each adjacent, with equal shapes, is one
   block-diagonal product, which the block-sparse kernel runs in one pass instead of
   one small product per operator.

Both are single passes (plus a sort of one group's operators); nothing here looks at
more than one level at a time.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from nengo.builder.operator import DotInc

from .layout import VEC_FIELDS, Layout, ref_fields
from .lower_dot import BSR_FIELDS, dot_refs, starts
from .lowering import written_signals


def grouped_bases(model, step_order, level: dict, bases: list) -> list:
    """Order ``bases`` so that same-kind operators of one level have adjacent signals.

    Parameters
    ----------
    model : nengo.builder.Model
        The built model (unused beyond what ``bases`` already holds; kept so callers
        pass what `collect_bases` takes).
    step_order : list of Operator
        nengo's topological order.
    level : dict
        Operator -> level (`schedule.levels`).
    bases : list of Signal
        Every base, in the default order (`collect_bases`); bases no operator names
        keep their relative order at the end.

    Returns
    -------
    list of Signal
        The same bases, reordered.
    """
    groups: dict = defaultdict(list)
    for op in step_order:
        groups[(level.get(op, 0), type(op))].append(op)
    order: dict = {}
    # Levels first, then types in order of first appearance (dict order), then the
    # operators' signals role by role: the i-th signal of every operator of the group
    # before any (i+1)-th, so the group's A's, X's and Y's each form one run.
    for key in sorted(groups, key=lambda k: k[0]):
        ops = groups[key]
        width = max(len(op.all_signals) for op in ops)
        for i in range(width):
            for op in ops:
                sigs = op.all_signals
                if i < len(sigs):
                    order.setdefault(sigs[i].base, None)
    for base in bases:
        order.setdefault(base, None)
    return list(order)


def _follows(prev, ref, step_count: int) -> bool:
    """Whether vec ref ``ref`` starts where ``prev`` (of ``step_count`` elements at
    ``prev``'s stride) ends, with the same stride and batch stride."""
    return (
        ref[2] == prev[2]
        and ref[3] == prev[3]
        and ref[0] == prev[0] + step_count * prev[2]
    )


def coalesce_dots(ops: list, layout: Layout):
    """Split a dense ``dot_inc`` group into runs that form block-diagonal products.

    Parameters
    ----------
    ops : list of DotInc
        One group's operators (same level, dense float matrix-vector products).
    layout : Layout
        The arena layout.

    Returns
    -------
    runs : list of list of DotInc
        Runs of two or more operators whose ``A`` (equal shapes and strides), ``X``
        and ``Y`` are each adjacent in the arena, in that order; each becomes one
        block of a block-diagonal product.
    rest : list of DotInc
        The other operators, in their original order.

    Notes
    -----
    Only operators alone in their write chain are merged (no other operator of the
    group increments the same output), so no sum changes order. The items of a
    minibatch of a batched base are adjacent copies of that base, so batched views
    of two bases only follow each other at minibatch size 1.
    """
    chains: dict = defaultdict(int)
    for op in ops:
        for sig in written_signals(op):
            chains[sig.base] += 1
    alone, rest = [], []
    for op in ops:
        refs = dot_refs(op, layout) if type(op) is DotInc else None
        if (
            refs is not None
            and op.A.ndim == 2
            and all(chains[s.base] == 1 for s in written_signals(op))
            and (layout.minibatch_size == 1 or refs[0][5] == 0)
        ):
            alone.append((refs[2][0], op, refs))
        else:
            rest.append(op)
    alone.sort(key=lambda item: item[0])
    runs, current = [], []
    for _, op, refs in alone:
        if current:
            _, pa, px, py = current[-1]
            a, x, y = refs
            if (
                a[1:3] == pa[1:3]
                and a[3:] == pa[3:]
                and a[0] == pa[0] + a[1] * a[2]
                and _follows(px, x, px[1])
                and _follows(py, y, py[1])
            ):
                current.append((op, *refs))
                continue
            runs.append(current)
        current = [(op, *refs)]
    if current:
        runs.append(current)
    merged = []
    for run in runs:
        if len(run) >= 2 and _dense_blocks(run[0][1]):
            merged.append([item[0] for item in run])
        else:
            rest.extend(item[0] for item in run)
    order = {op: i for i, op in enumerate(ops)}
    rest.sort(key=order.__getitem__)
    return merged, rest


def _dense_blocks(a) -> bool:
    """Whether a matrix ref is a whole row- or column-major block (what consecutive
    blocks of ``a[1] * a[2]`` elements need)."""
    _off, rows, cols, rs, cs, _bs = a
    return (rs == cols and cs == 1) or (rs == 1 and cs == rows)


def lower_block_diagonal(runs: list, layout: Layout) -> dict:
    """Parameters of the ``bsr_dot_inc`` kernel for runs from `coalesce_dots`: each
    run one block-diagonal product (block row ``i`` holds block ``i`` only), so each
    output row is summed from zero in the same order as the dense product's row."""
    fields, indptrs, indices, xs, ys = [], [], [], [], []
    for run in runs:
        a, x, y = dot_refs(run[0], layout)
        k = len(run)
        off, rows, cols, rs, cs, bs = a
        fields.append((off, bs, rows, cols, rows * cols, rs, cs, k))
        indptrs.append(np.arange(k + 1, dtype=np.int64))
        indices.append(np.arange(k, dtype=np.int64))
        xs.append((x[0], k * x[1], x[2], x[3]))
        ys.append((y[0], k * y[1], y[2], y[3]))
    params = ref_fields("A", fields, BSR_FIELDS)
    params["indptr"] = np.concatenate(indptrs)
    params["indptr_start"] = starts(indptrs)
    params["indices"] = np.concatenate(indices)
    params["indices_start"] = starts(indices)
    params.update(ref_fields("X", xs, VEC_FIELDS))
    params.update(ref_fields("Y", ys, VEC_FIELDS))
    # every run writes its own outputs: one chain each
    params["chain_ptr"] = np.arange(len(runs) + 1, dtype=np.int64)
    return params
