"""The planner: nengo operators and signals in, a `Program` of plain arrays out.

It never runs a step. It lays signals out in one arena, groups independent
operators of the same kind into one kernel call each, and sends every operator it
has no kernel for to the fallback (its own nengo ``make_step``).
"""

from __future__ import annotations

import functools
from collections import defaultdict

import numpy as np
from nengo.builder import Model
from nengo.builder.operator import SimPyFunc, TimeUpdate
from nengo.builder.optimizer import optimize as nengo_optimize
from nengo.builder.probe import SimProbe
from nengo.builder.signal import SignalDict
from nengo.node import Node
from nengo.processes import Piecewise
from nengo.utils.graphs import toposort
from nengo.utils.progress import Progress, ProgressTracker
from nengo.utils.simulator import operator_dependency_graph

from ..node import BatchFunction

# Importing the lowering modules registers them.
from . import (  # noqa: F401
    lower_conv,
    lower_copy,
    lower_dot,
    lower_learning,
    lower_neurons,
    lower_processes,
)
from .builder import NativeBuilder
from .fast import kind_for_mode
from .layout import Layout
from .lowering import Lowering, lowering_for, written_signals
from .merge import (
    coalesce_dots,
    coalesce_vec_items,
    fast_block_rows,
    fusable_copy,
    grouped_bases,
    initial_copies,
    lower_block_diagonal,
)
from .program import CallbackStep, FeedStep, KernelStep, ProbePlan, Program, RngUse
from .schedule import chain_order, levels

__all__ = [
    "CallbackStep",
    "FeedStep",
    "KernelStep",
    "Program",
    "RngUse",
    "plan",
    "plan_model",
]

_CALLBACK = object()  # group key of an operator run through its own make_step


def collect_bases(model, step_order):
    """Initialize every signal as nengo would and return the bases in layout order."""
    signals = SignalDict()
    for op in model.operators:
        op.init_signals(signals)
    order = {}
    for op in step_order:
        for sig in op.all_signals:
            order.setdefault(sig.base, None)
    for sig in signals:
        order.setdefault(sig.base, None)
    return list(order)


def plan_model(
    network=None,
    model: Model | None = None,
    *,
    dt: float = 0.001,
    minibatch_size: int = 1,
    dtype=np.float64,
    optimize: bool | str = True,
    training: dict | None = None,
    progress: ProgressTracker | None = None,
    exact: bool = True,
) -> Program:
    """The whole pipeline in one call: build ``network`` with nengo's builder, merge
    operators (in the planner, or with nengo's optimizer), and plan the result.

    Parameters
    ----------
    network : nengo.Network, optional
        What to build. None when ``model`` is already built.
    model : nengo.builder.Model, optional
        The model to build into (a new one with step ``dt`` when None).
    dt : float
        Time step of a new model.
    minibatch_size : int
        Number of minibatch items.
    dtype : numpy.dtype
        Float type of the arena.
    optimize : bool or "nengo"
        True: the planner merges operators (`merge`), linear in their number;
        ``"nengo"``: nengo's operator-merging optimizer rewrites the model first
        (what `nengo.Simulator` does); False: no merging.
    training : dict or callable, optional
        Training settings (see `plan`), or a function of the built model that
        returns them.
    progress : nengo.utils.progress.ProgressTracker, optional
        Tracker whose stages show building, optimizing and planning.
    exact : bool
        Plan exact kernels (bit for bit nengo's numbers), or where False their
        throughput siblings (see `plan`).

    Returns
    -------
    Program
        With ``program.model`` the built model.
    """
    if model is None:
        model = Model(dt=dt, label=f"{network}, dt={dt:f}", builder=NativeBuilder())
    if progress is None:
        progress = ProgressTracker(False, Progress("Building", "Build"))
    if network is not None:
        model.build(network, progress=progress.next_stage("Building", "Build"))
        if isinstance(model.builder, NativeBuilder):
            model.builder.release()
    dg = operator_dependency_graph(model.operators)
    if optimize == "nengo":
        with progress.next_stage("Building (running optimizer)", "Optimization"):
            nengo_optimize(model, dg)
    step_order = [op for op in toposort(dg) if hasattr(op, "make_step")]
    with progress.next_stage("Planning", "Planning"):
        if callable(training):  # settings read from the built model
            training = training(model)
        program = plan(
            model,
            step_order,
            dg,
            minibatch_size,
            dtype,
            training,
            merge=optimize is True,
            exact=exact,
        )
    return program


def plan(
    model,
    step_order,
    dg,
    minibatch_size: int = 1,
    dtype=np.float64,
    training: dict | None = None,
    *,
    merge: bool = False,
    exact: bool = True,
) -> Program:
    """Turn a built (and optionally optimized) nengo model into a `Program`.

    Parameters
    ----------
    model : nengo.builder.Model
        The built model.
    step_order : list of Operator
        nengo's topological order of the operators (fixes the order in which
        operators draw from the simulator's random generator).
    dg : dict
        nengo's operator dependency graph (operator -> dependents).
    minibatch_size : int
        Number of minibatch items.
    dtype : numpy.dtype
        Float type of the arena.
    training : dict, optional
        Training settings (``lif_smoothing``) for the kernels that replace
        spiking neurons in training runs.
    merge : bool
        Lay signals out in group order and coalesce adjacent products into
        block-diagonal ones (see `merge`), instead of nengo's optimizer.
    exact : bool
        True: every kernel replays nengo's arithmetic (bit for bit, whatever the
        thread count and minibatch). False: the throughput mode, where a kernel
        with a fast sibling (`fast.FAST_KINDS`) runs that instead, forward and in
        training; ``program.exact`` records the choice.
    """
    training = training or {}
    # The clock is the same for every minibatch item: TimeUpdate's signals stay shared.
    clock = {
        sig.base
        for op in step_order
        if isinstance(op, TimeUpdate)
        for sig in written_signals(op)
    }
    written = {
        sig.base
        for op in step_order
        if not isinstance(op, TimeUpdate)
        for sig in written_signals(op)
    }
    bases = collect_bases(model, step_order)
    level = levels(dg, step_order)
    if merge:
        bases = grouped_bases(model, step_order, level, bases)
    # Only nodes whose output some operator uses can be fed; a fed node's output
    # differs per minibatch item even when nothing else writes it.
    used = set(bases)
    feedable = [n for n in input_nodes(model) if model.sig[n]["out"].base in used]
    written |= {model.sig[node]["out"].base for node in feedable}
    column_major = lower_dot.column_major_weights(step_order, written)
    layout = Layout(
        bases,
        written,
        minibatch_size,
        dtype,
        dt=model.dt,
        clock=[base for base in bases if base in clock],
        column_major=column_major,
        # The throughput mode splits a minibatch over threads by item; the exact
        # kernels read each base's items together.
        item_major=not exact,
    )
    program = Program(
        layout, model=model, step_order=list(step_order), dg=dg, exact=exact
    )

    position = {op: i for i, op in enumerate(step_order)}
    groups = defaultdict(list)  # (level, group key) -> ops, in step order
    for op in step_order:
        if isinstance(op, SimProbe):
            continue  # probes are sampled by the executor after every step
        lowering = lowering_for(op)
        key = None if lowering is None else lowering.group_key(op, layout)
        if key is None:
            groups[(level[op], (_CALLBACK, op))].append(op)
        else:
            groups[(level[op], key)].append(op)

    # Block-diagonal runs first: in the throughput mode they may take over the copies
    # that set their outputs (see merge.initial_copies), wherever those are scheduled.
    coalesced = {
        group: coalesce_dots(ops, layout)
        for group, ops in groups.items()
        if merge and group[1] == lower_dot.DotIncLowering.kind
    }
    initial = {}
    if merge and not exact:
        candidates = initial_copies(step_order, written)
        for runs, _ in coalesced.values():
            # one run on the kernel's exact loops, and none of its runs may start so
            if all(fast_block_rows(run, layout) for run in runs):
                initial.update(
                    (op, candidates[op])
                    for run in runs
                    for op in run
                    if op in candidates and fusable_copy(candidates[op], layout)
                )
    taken_over = set(initial.values())

    scheduled = []  # (sort key, step)
    callbacks = set()
    for (lvl, key), ops in groups.items():
        order = (lvl, position[ops[0]])
        if isinstance(key, tuple) and key[0] is _CALLBACK:
            (op,) = ops
            callbacks.add(op)
            scheduled.append((order, callback_step(op)))
            continue
        lowering = lowering_for(ops[0])
        if (lvl, key) in coalesced:
            runs, ops = coalesced[(lvl, key)]
            if runs:
                merged = [op for run in runs for op in run]
                params = lower_block_diagonal(runs, layout, initial)
                order = (lvl, min(position[op] for op in merged))
                kind = kind_for_mode("bsr_dot_inc", exact)
                copies = [initial[op] for op in merged if op in initial]
                scheduled.append((order, KernelStep(kind, params, merged + copies)))
            if not ops:
                continue
            order = (lvl, position[ops[0]])
        elif taken_over:
            ops = [op for op in ops if op not in taken_over]
            if not ops:
                continue
            order = (lvl, position[ops[0]])
        ops, chain_ptr = chain_order(ops)
        params = lowering.lower(ops, layout)
        params["chain_ptr"] = chain_ptr
        joinable = merge and _joins_items(lowering, ops)
        if joinable:
            params = coalesce_vec_items(params, layout) or params
        kind = lowering.kernel_kind(key)
        step = KernelStep(kind_for_mode(kind, exact), params, ops)
        counterpart = lowering.lower_training(ops, layout, training)
        if counterpart is not None:
            step.training_kind, step.training_params = counterpart
            step.training_params["chain_ptr"] = chain_ptr
            if joinable:
                step.training_params = (
                    coalesce_vec_items(step.training_params, layout)
                    or step.training_params
                )
        if step.training_kind is not None:
            step.training_kind = kind_for_mode(step.training_kind, exact)
        if _overrides(lowering, "reseed"):
            step.reseed = functools.partial(lowering.reseed, ops, layout=layout)
        scheduled.append((order, step))

    # A feed overwrites its node's output after the operator that computes it (end of
    # that operator's level, before any reader) or, for a constant node, first of all.
    producers = {sig: op for op in step_order for sig in op.sets}
    for i, node in enumerate(feedable):
        out = model.sig[node]["out"]
        producer = producers.get(out)
        order = (-1, i) if producer is None else (level[producer], len(position) + i)
        scheduled.append((order, FeedStep(node, layout.vec_ref(out), producer)))
    program.steps = [step for _, step in sorted(scheduled, key=lambda item: item[0])]
    program.rng_uses = _rng_uses(step_order, callbacks)

    for probe in model.probes:
        sig = model.sig[probe]["in"]
        period = 1.0 if probe.sample_every is None else probe.sample_every / model.dt
        program.probes.append(ProbePlan(probe, layout.mat_ref(sig), period, sig.shape))
    return program


def _joins_items(lowering: Lowering, ops) -> bool:
    """Whether adjacent items of this group may be joined (`coalesce_vec_items`):
    neurons without random draws, whose kernels treat each neuron on its own."""
    return isinstance(lowering, lower_neurons.SimNeuronsLowering) and not any(
        lower_neurons.neuron_model(op).rng for op in ops
    )


def _overrides(lowering: Lowering, method: str) -> bool:
    return getattr(type(lowering), method) is not getattr(Lowering, method)


def _rng_uses(step_order, callbacks: set) -> list[RngUse]:
    """What a reset replays, in nengo's step order: the operators run through their
    own ``make_step`` and the native ones whose lowering draws."""
    uses = []
    for op in step_order:
        if op in callbacks:
            uses.append(RngUse(op, None))
            continue
        lowering = lowering_for(op)
        if lowering is not None and _overrides(lowering, "consume_rng"):
            uses.append(RngUse(op, functools.partial(lowering.consume_rng, op)))
    return uses


def input_nodes(model) -> list:
    """Nodes whose output run-time data may replace: no input, some output."""
    return [
        obj
        for obj in model.sig
        if isinstance(obj, Node)
        and obj.size_in == 0
        and obj.size_out > 0
        and "out" in model.sig[obj]
    ]


def callback_step(op) -> CallbackStep:
    if isinstance(op, SimPyFunc):
        batched = isinstance(op.fn, BatchFunction)
        return CallbackStep(op, fallback=False, batched=batched)
    if _calls_user_functions(op):
        return CallbackStep(op, fallback=False)
    return CallbackStep(op, fallback=True)


def _calls_user_functions(op) -> bool:
    """A `Piecewise` with functions among its values calls them every step: like a
    node function, that is the user's Python, not a missing kernel (its output
    depends on time only, so it passes no gradient either way)."""
    process = getattr(op, "process", None)
    return (
        type(process) is Piecewise
        and op.input is None
        and any(callable(value) for value in process.data.values())
    )
