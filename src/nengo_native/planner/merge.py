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

In the throughput mode a third step folds nengo's bias copies into those products
(`initial_copies`): a block row starts from the copied parameter.

All are single passes (plus a sort of one group's operators); only the last looks
beyond one level, at each output's writers.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from nengo.builder.operator import Copy, DotInc

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
    # before any (i+1)-th, so the group's A's, X's and Y's each form one run. The
    # operators go in the order of where their outputs already are (an earlier group,
    # such as the resets, may have placed them), so that the new runs follow it.
    inf = float("inf")
    for key in sorted(groups, key=lambda k: k[0]):
        ops = groups[key]

        def placed(op):
            written = written_signals(op)
            pos = order.get(written[0].base) if written else None
            return inf if pos is None else pos

        ops = sorted(ops, key=placed)
        width = max(len(op.all_signals) for op in ops)
        for i in range(width):
            for op in ops:
                sigs = op.all_signals
                if i < len(sigs):
                    order.setdefault(sigs[i].base, len(order))
    for base in bases:
        order.setdefault(base, len(order))
    return list(order)


def _follows(prev, ref, step_count: int) -> bool:
    """Whether vec ref ``ref`` starts where ``prev`` (of ``step_count`` elements at
    ``prev``'s stride) ends, with the same stride and batch stride."""
    return (
        ref[2] == prev[2]
        and ref[3] == prev[3]
        and ref[0] == prev[0] + step_count * prev[2]
    )


SMALL_PRODUCT = 1 << 14
"""Largest matrix (elements) a product may have to be joined with others: beyond it
one product's arithmetic outweighs its per-operator cost, and the dense kernel
(GEMV) suits it better."""


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
        Runs of two or more operators whose ``A`` (equal shapes and strides) and
        ``Y`` are each adjacent in the arena, in that order, and whose ``X`` are
        whole blocks of one region (the same input may serve several); each run
        becomes one block-sparse product, one block per block row.
    rest : list of DotInc
        The other operators, in their original order.

    Notes
    -----
    Only small products (at most `SMALL_PRODUCT` weights, where the per-operator
    cost dominates) alone in their write chain are taken (no other operator of the
    group increments the same output), so no sum across operators changes order.
    Which operators are taken does not depend on the minibatch size (adjacency is
    judged on the offsets the bases have at size 1), so every item of a minibatch
    sums as a single run does. Where the layout does not keep bases adjacent within
    an item (`Layout.keeps_adjacency`), `lower_block_diagonal` gives each operator
    its own block row of the same kernel (the same sums, in the same order).
    """
    chains: dict = defaultdict(int)
    for op in ops:
        for sig in written_signals(op):
            chains[sig.base] += 1
    virtual = layout.single_item_offsets
    alone, rest = [], []
    for op in ops:
        refs = dot_refs(op, layout) if type(op) is DotInc else None
        if (
            refs is not None
            and op.A.ndim == 2
            and all(chains[s.base] == 1 for s in written_signals(op))
            and op.A.size <= SMALL_PRODUCT
            and _dense_blocks(refs[0])
        ):
            # adjacency as at minibatch size 1, so the choice is the same at any size
            refs = tuple(
                (virtual[sig.base] + ref[0] - layout.offset[sig.base], *ref[1:-1], 0)
                for sig, ref in zip((op.A, op.X, op.Y), refs, strict=True)
            )
            alone.append((refs[2][0], op, refs))
        else:
            rest.append(op)
    alone.sort(key=lambda item: item[0])
    runs, current = [], []
    for _, op, refs in alone:
        if current:
            _, pa, px, py = current[-1]
            x0 = current[0][2]
            a, x, y = refs
            if (
                a[1:3] == pa[1:3]
                and a[3:] == pa[3:]
                and a[0] == pa[0] + a[1] * a[2]
                and _block_of(x0, x) is not None
                and _follows(py, y, py[1])
            ):
                current.append((op, *refs))
                continue
            runs.append(current)
        current = [(op, *refs)]
    if current:
        runs.append(current)
    for run in runs:
        if len(run) == 1:
            rest.append(run[0][0])
    runs = [run for run in runs if len(run) > 1]
    merged = [[item[0] for item in run] for run in runs]
    order = {op: i for i, op in enumerate(ops)}
    rest.sort(key=order.__getitem__)
    return merged, rest


def _block_of(x0, x):
    """Index of input ``x`` as a block of ``x0``'s size in the region that starts at
    ``x0`` (same stride and batch stride, whole blocks after it), else None. Several
    products may read one input (two connections from one ensemble)."""
    if x[1:] != x0[1:]:
        return None
    step = x0[1] * x0[2]
    delta = x[0] - x0[0]
    if step <= 0 or delta < 0 or delta % step:
        return None
    return delta // step


def _dense_blocks(a) -> bool:
    """Whether a matrix ref is a whole row- or column-major block (what consecutive
    blocks of ``a[1] * a[2]`` elements need)."""
    _off, rows, cols, rs, cs, _bs = a
    return (rs == cols and cs == 1) or (rs == 1 and cs == rows)


def initial_copies(step_order, written: set) -> dict:
    """The Copy that sets each DotInc's whole output from a parameter, where the two
    are its output's only writers: an ensemble's bias copied into its input current,
    then its encoders' product added. The throughput mode's block-sparse product
    starts such rows from the parameter itself (`lower_block_diagonal`), instead of a
    separate pass over every item's currents.

    Returns
    -------
    dict
        DotInc -> Copy.
    """
    writers = defaultdict(list)
    for op in step_order:
        for sig in written_signals(op):
            writers[sig.base].append(op)
    found = {}
    for op in step_order:
        if type(op) is not Copy or op.inc or op.src_slice is not None:
            continue
        src, dst = op.src, op.dst
        if op.dst_slice is not None or src.base in written or src.shape != dst.shape:
            continue
        others = [w for w in writers[dst.base] if w is not op]
        if len(others) != 1 or type(others[0]) is not DotInc:
            continue
        dot = others[0]
        if dot.Y is dst and dst.base not in (dot.A.base, dot.X.base) and src.ndim == 1:
            found[dot] = op
    return found


def fast_block_rows(run: list, layout: Layout) -> bool:
    """Whether the throughput kernel multiplies this run's blocks on one of its fast
    paths (decoder rows, encoder columns, GEMMs), which can start a block row from
    initial values: a shared matrix, unit strides where the path needs them, and not
    stored by columns."""
    (_, rows, cols, rs, cs, bs), x, y = dot_refs(run[0], layout)
    if bs != 0 or (rs == 1 and cols > 1):
        return False
    return (
        (rows == 1 and cs == 1 and x[2] == 1)
        or (cols == 1 and rs == 1 and y[2] == 1)
        or ((cs == 1 or rs == 1) and x[2] == 1 and y[2] == 1)
    )


def fusable_copy(copy, layout: Layout) -> bool:
    """Whether a Copy from `initial_copies` can be read as initial values: its source
    shared by the minibatch at unit stride, its destination at unit stride."""
    src, dst = layout.vec_ref(copy.src), layout.vec_ref(copy.dst)
    return src[2] == 1 and src[3] == 0 and dst[2] == 1


def lower_block_diagonal(
    runs: list, layout: Layout, initial: dict | None = None
) -> dict:
    """Parameters of the ``bsr_dot_inc`` kernel for runs from `coalesce_dots`: each
    run one block-sparse product with one block per block row (block row ``i`` holds
    operator ``i``'s matrix, at the column block of its input), so each output row is
    summed from zero over that matrix's row, as the dense product's row is.

    ``initial`` (DotInc -> Copy, throughput mode only) starts a block row from the
    Copy's source instead of adding to its output: ``Y_init`` holds each block row's
    source offset (-1: none), from ``Y_init_start`` per run."""
    if not layout.keeps_adjacency:
        # Two bases' items are not adjacent: each operator is its own block row,
        # which sums every output row exactly as the joined run would.
        runs = [[op] for run in runs for op in run]
    initial = initial or {}
    inits = [
        np.array(
            [layout.vec_ref(initial[op].src)[0] if op in initial else -1 for op in run],
            dtype=np.int64,
        )
        for run in runs
    ]
    fields, indptrs, indices, xs, ys = [], [], [], [], []
    for run in runs:
        a, x, y = dot_refs(run[0], layout)
        k = len(run)
        off, rows, cols, rs, cs, bs = a
        fields.append((off, bs, rows, cols, rows * cols, rs, cs, k))
        blocks = np.array(
            [_block_of(x, dot_refs(op, layout)[1]) for op in run], dtype=np.int64
        )
        indptrs.append(np.arange(k + 1, dtype=np.int64))
        indices.append(blocks)
        xs.append((x[0], (int(blocks.max()) + 1) * x[1], x[2], x[3]))
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
    if any((init >= 0).any() for init in inits):
        params["Y_init"] = np.concatenate(inits)
        params["Y_init_start"] = starts(inits)
    return params


def coalesce_vec_items(params: dict, layout: Layout) -> dict | None:
    """Join adjacent items of an elementwise kernel's ragged vector refs.

    For kernels that treat every element of an item on its own (neurons): items
    ``i`` and ``i + 1`` become one item when each of their vector refs continues
    the other (same stride and batch stride, ``i + 1`` starting where ``i`` ends) and
    all their per-item constants are equal. The arithmetic per element is unchanged,
    so results are bit for bit those of the unjoined items.

    Parameters
    ----------
    params : dict
        The kernel's parameters: vec refs as ``<name>_off/_n/_stride/_bstride``,
        per-item constants, and ``chain_ptr``.
    layout : Layout
        Where the refs point: batched views of two bases continue each other only
        where it keeps their adjacency (`Layout.keeps_adjacency`).

    Returns
    -------
    dict or None
        New parameters with fewer items, or None when nothing joins (or the
        parameters hold something other than refs and per-item constants).
    """
    refs = [
        k[: -len("_off")]
        for k in params
        if k.endswith("_off")
        and all(f"{k[: -len('_off')]}_{f}" in params for f in VEC_FIELDS[1:])
    ]
    if not refs:
        return None
    n_items = len(params[f"{refs[0]}_off"])
    ref_keys = {f"{r}_{f}" for r in refs for f in VEC_FIELDS}
    scalars = [k for k in params if k not in ref_keys and k != "chain_ptr"]
    chain_ptr = params.get("chain_ptr")
    if n_items < 2 or (
        chain_ptr is not None and len(chain_ptr) != n_items + 1
    ):  # items that share a chain write the same memory: leave them
        return None
    if any(np.shape(params[k]) != (n_items,) for k in scalars):
        return None
    joins = np.ones(n_items - 1, dtype=bool)
    for r in refs:
        off, n, stride, bstride = (params[f"{r}_{f}"] for f in VEC_FIELDS)
        joins &= stride[1:] == stride[:-1]
        joins &= bstride[1:] == bstride[:-1]
        joins &= off[1:] == off[:-1] + n[:-1] * stride[:-1]
        if not layout.keeps_adjacency:
            joins &= bstride[1:] == 0
    for k in scalars:
        joins &= params[k][1:] == params[k][:-1]
    if not joins.any():
        return None
    starts = np.flatnonzero(np.concatenate([[True], ~joins]))
    out = {}
    for r in refs:
        out[f"{r}_off"] = params[f"{r}_off"][starts]
        out[f"{r}_n"] = np.add.reduceat(params[f"{r}_n"], starts)
        out[f"{r}_stride"] = params[f"{r}_stride"][starts]
        out[f"{r}_bstride"] = params[f"{r}_bstride"][starts]
    for k in scalars:
        out[k] = params[k][starts]
    out["chain_ptr"] = np.arange(len(starts) + 1, dtype=np.int64)
    return out
