"""Puts a `Program` into the compiled core and runs it: arena, callbacks, probes."""

from __future__ import annotations

import math

import numpy as np
from nengo.builder.operator import SimPyFunc
from nengo.exceptions import SimulationError
from nengo.utils.functions import function_name

from . import _core
from .planner import CallbackStep, FeedStep, KernelStep, Program
from .seeds import item_rng, peek_process_seed


def _all_finite(y) -> bool:
    """Whether every element of a node function's output is finite (``y`` as
    returned: an array, a number or a list)."""
    if type(y) is np.ndarray and y.ndim == 1 and y.dtype.kind == "f":
        # The dot product is finite only if every element is, and it is one call,
        # not two; where it overflows, the full test below decides.
        if math.isfinite(y.dot(y)):
            return True
    return bool(np.isfinite(y).all())


class _Callback:
    """A step the core calls back into Python for.

    ``fns`` holds one step function per minibatch item (or one for the whole batch);
    they are remade on reset. A fed node's function is skipped (``fed``).
    ``reverse(n)``, set when training is prepared, is the step's backward pass for
    step n of the last training run.
    """

    __slots__ = ("fns", "fed", "reverse")

    def __init__(self):
        self.fns = []
        self.fed = False
        self.reverse = None

    def __call__(self):
        if not self.fed:
            for fn in self.fns:
                fn()

    def backward(self, n: int) -> None:
        # A fed node's output came from the data (the feed step handles it).
        if not self.fed and self.reverse is not None:
            self.reverse(n)


class Runtime:
    """The compiled executor for one `Program`, and nengo-style views of its memory.

    Parameters
    ----------
    program : Program
        What to run.
    dt : float
        Simulator time step.
    step_signal : Signal
        nengo's step counter signal (the executor samples probes by it).
    """

    def __init__(self, program: Program, dt: float, step_signal):
        layout = program.layout
        self.program = program
        self.minibatch_size = layout.minibatch_size
        executor_type = (
            _core.Executor32 if layout.dtype == np.float32 else _core.Executor64
        )
        step_offset = layout.int_offset[step_signal.base] + step_signal.elemoffset
        self.executor = executor_type(
            layout.size, layout.int_size, layout.minibatch_size, dt, step_offset
        )
        self.arena = self.executor.arena
        self.int_arena = self.executor.int_arena
        layout.fill(self.arena, self.int_arena)
        self.callbacks: dict = {}
        self.feeds: dict = {}  # node -> (feed index, FeedStep)
        for step in program.steps:
            if isinstance(step, KernelStep):
                self.executor.add_kernel(
                    step.kind, step.params, step.training_kind, step.training_params
                )
            elif isinstance(step, FeedStep):
                off, n, stride, bstride = step.ref
                self.feeds[step.node] = (
                    self.executor.add_feed(off, n, stride, bstride),
                    step,
                )
            else:
                assert isinstance(step, CallbackStep)
                callback = self.callbacks[step.op] = _Callback()
                # Only node functions can pass gradients (or block them, knowingly);
                # other operators run by nengo make a model non-differentiable.
                backward = None if step.fallback else callback.backward
                self.executor.add_callback(callback, backward)
        for probe in program.probes:
            off, rows, cols, rs, cs, bs = probe.ref
            self.executor.add_probe(off, rows, cols, rs, cs, bs, probe.period)
        # One nengo-style signal dict per batch item; item 0's is `sim.signals`.
        self.item_signals = [
            layout.signal_dict(self.arena, self.int_arena, item=b)
            for b in range(self.minibatch_size)
        ]
        self.signals = self.item_signals[0]
        for signals in self.item_signals[1:]:
            for base in layout.int_offset:
                dict.__setitem__(signals, base, dict.__getitem__(self.signals, base))
        self._steps = {s.op: s for s in program.steps if isinstance(s, CallbackStep)}
        self.grad = None  # the adjoint arena, once training is prepared
        self._node_tapes: dict = {}  # op -> [(t, x)] recorded in training runs
        self._recording = False
        self._written = layout.state_ranges()
        # What reset puts back: the state, and the parameters users can write through
        # `sim.signals`; the others (weights, most of the arena) only after training
        # changed them, since they are re-read from the model's signals.
        self._initial_state = self.save_state()
        self._writable_params = [
            base
            for base in layout.offset
            if not (layout.per_item[base] or base in layout.clock or base.readonly)
        ]
        self.params_changed = False
        self._constant_feeds = {
            node: self.arena[self._feed_index(step)].copy()
            for node, (_, step) in self.feeds.items()
            if step.producer is None
        }

    def reset_memory(self) -> None:
        self.restore_state(self._initial_state, sync=False)
        layout = self.program.layout
        if self.params_changed:
            layout.fill(self.arena, self.int_arena, [*layout.offset])
            self.params_changed = False
        else:
            layout.fill(self.arena, self.int_arena, self._writable_params)
        layout.sync_ints(self.signals, self.int_arena, to_core=False)
        self.executor.reset_kernels()

    def save_state(self) -> tuple:
        """A copy of the simulation state: what steps write, and the counters.
        Parameters are left out (nothing writes them while running); so are random
        streams inside kernels, which keep advancing."""
        return [self.arena[r].copy() for r in self._written], self.int_arena.copy()

    def restore_state(self, state: tuple, sync: bool = True) -> None:
        """Put back a `save_state` state; ``sync=False`` leaves nengo's views of
        integer signals (the step counter) behind until a later restore."""
        values, int_arena = state
        for r, v in zip(self._written, values, strict=True):
            self.arena[r] = v
        self.int_arena[:] = int_arena
        if sync:
            self.program.layout.sync_ints(self.signals, self.int_arena, to_core=False)

    def make_step_functions(
        self, op, dt: float, rng, item_rngs, first_item: int = 0
    ) -> None:
        """Recreate ``op``'s step functions: item ``b`` is item ``i = first_item + b``
        of the whole batch and gets ``rng`` for ``i == 0`` (nengo's own draws),
        ``item_rngs(i)`` otherwise (see `nengo_native.seeds`)."""
        step = self._steps[op]
        if step.batched:
            self.callbacks[op].fns = [self._batched_function(op)]
            return
        if type(op) is SimPyFunc:
            self.callbacks[op].fns = [self._item_functions(op)]
            return
        self.callbacks[op].fns = [
            op.make_step(signals, dt, rng if i == 0 else item_rngs(i))
            for i, signals in enumerate(self.item_signals, start=first_item)
        ]
        if first_item > 0:
            # Draw from the simulator's generator as item 0 would, so that the
            # operators after this one get the seeds they get in nengo.
            op.make_step(self.item_signals[0], dt, rng)

    def _item_functions(self, op):
        """One call per step that runs a node function item by item, as nengo's
        ``SimPyFunc.make_step`` does for one (same arguments, checks and errors),
        without a Python call per item on top of the user's."""
        fn = op.fn
        name = function_name(fn)
        t = self.signals[op.t] if op.t is not None else None
        xs = None if op.x is None else [s[op.x] for s in self.item_signals]
        outs = None if op.output is None else [s[op.output] for s in self.item_signals]
        items = range(self.minibatch_size)
        broadcast = None
        if xs is None and not self.program.exact and self.minibatch_size > 1:
            # The throughput mode calls a node without input once per step for the
            # whole minibatch (its function must not count on a call per item).
            items = range(1)
            if outs is not None:
                broadcast = self.program.layout.batch_view(self.arena, op.output)[1:]

        def store(y, out) -> None:
            try:
                # numpy would store None as NaN
                if y is None or not _all_finite(y):
                    raise SimulationError(
                        f"Function '{name}' returned non-finite value"
                    )
                out[...] = y
            except (TypeError, ValueError) as e:
                raise SimulationError(
                    f"Function '{name}' returned a value {y!r} of invalid type "
                    f"{type(y)!r}"
                ) from e

        if xs is None and t is not None and outs is not None and len(items) == 1:
            # The most common node, a function of time: one call, nothing to loop over.
            out = outs[0]

            def step_time():
                store(fn(t.item()), out)
                if broadcast is not None:
                    broadcast[...] = out

            return step_time

        def step_items():
            args = ()
            for b in items:
                if xs is not None:
                    args = (np.copy(xs[b]),)
                y = fn(t.item(), *args) if t is not None else fn(*args)
                if outs is not None:
                    store(y, outs[b])
            if broadcast is not None:
                broadcast[...] = outs[0]

        return step_items

    def _batched_function(self, op):
        """One call per step of a BatchNode's function, with all items' views."""
        layout = self.program.layout
        fn = op.fn
        t = self.signals[op.t] if op.t is not None else None
        x = layout.batch_view(self.arena, op.x) if op.x is not None else None
        if op.output is None:
            out = np.zeros((self.minibatch_size, 0), dtype=layout.dtype)
        else:
            out = layout.batch_view(self.arena, op.output).reshape(
                self.minibatch_size, -1
            )
        if x is not None:
            x = x.reshape(self.minibatch_size, -1)
            x.flags.writeable = False

        tape = self._node_tapes.setdefault(op, [])

        def step_batch_node():
            time = 0.0 if t is None else t.item()
            if self._recording:
                tape.append((time, None if x is None else x.copy()))
            fn.batched(time, x, out)

        return step_batch_node

    # -- training ---------------------------------------------------------------------

    def prepare_training(self) -> tuple[list, list]:
        """Make training runs possible.

        Returns the Program steps that cannot be differentiated and the Python node
        operators that block the gradient (no gradient function).
        """
        mask = np.zeros(len(self.arena), dtype=np.uint8)
        for r in self._written:
            mask[r] = 1
        self.executor.set_written(mask)
        self.grad = self.executor.grad
        layout = self.program.layout
        blocked = []
        for op, callback in self.callbacks.items():
            step = self._steps[op]
            if step.fallback:
                continue
            if op.output is None:
                callback.reverse = lambda n: None
                continue
            g_out = layout.batch_view(self.grad, op.output).reshape(
                self.minibatch_size, -1
            )
            if not isinstance(op, SimPyFunc):
                # A process calling the user's functions of time: its output has no
                # gradient to pass on, so nothing is lost and nothing to warn about.
                callback.reverse = _blocking_reverse(g_out)
                continue
            gradient = op.fn.gradient if step.batched and op.x is not None else None
            if gradient is None:
                blocked.append(op)
                callback.reverse = _blocking_reverse(g_out)
            else:
                g_x = layout.batch_view(self.grad, op.x).reshape(
                    self.minibatch_size, -1
                )
                callback.reverse = _node_reverse(
                    op.fn, gradient, self._node_tapes.setdefault(op, []), g_x, g_out
                )
        steps = self.program.steps
        failing = [steps[i] for i in self.executor.non_differentiable_steps()]
        return failing, blocked

    def backward(self, probe_grads: list) -> None:
        """Reverse pass over the last training run; see the core's ``backward``."""
        dtype = self.program.layout.dtype
        self.executor.backward(
            [
                None if g is None else np.ascontiguousarray(g, dtype=dtype)
                for g in probe_grads
            ]
        )

    def offsets(self, sig) -> np.ndarray:
        """Arena offsets of a parameter signal's elements, in its shape."""
        layout = self.program.layout
        if sig.base in layout.sparse:
            return layout.start(sig) + np.arange(layout.sparse[sig.base].nnz)
        return layout.elem_offsets(sig)

    def reseed(
        self, rng: np.random.RandomState, dt: float, first_item: int | None = None
    ) -> None:
        """Recreate the step functions and the seed-dependent kernel parameters,
        drawing from the simulator's new generator ``rng`` in nengo's step order
        exactly as ``nengo.Simulator.reset`` does (see `Program.rng_uses`).

        ``first_item``: for a minibatch of a ``predict``, the index of its item 0 in
        the whole batch; item ``b`` then gets the random streams of item
        ``first_item + b`` (stochastic neurons' too), so that a batch's result does
        not depend on how it is split. None on a reset.
        """
        draws = {}
        for use in self.program.rng_uses:
            if use.draw is None:
                s0 = peek_process_seed(getattr(use.op, "process", None), rng)
                self.make_step_functions(
                    use.op,
                    dt,
                    rng,
                    lambda item, s0=s0: item_rng(s0, item),
                    first_item or 0,
                )
            else:
                draws[use.op] = use.draw(rng)
        for index, step in enumerate(self.program.steps):
            if isinstance(step, KernelStep) and step.reseed is not None:
                params = step.reseed(
                    [draws.get(op) for op in step.ops], first_item=first_item
                )
                if params is not None:
                    self.executor.set_kernel_params(index, params)

    def run(
        self, n_steps: int, data: dict | None = None, training: bool = False
    ) -> tuple[list[np.ndarray], int, BaseException | None]:
        """Run ``n_steps``; return each probe's new samples, the number of steps
        that finished and the error that stopped the run early, if any (samples up
        to the error are kept).

        ``data`` maps input nodes to arrays ``(batch, n_steps, size_out)`` that
        replace the nodes' outputs for these steps. A ``training`` run uses the
        training kernels and records what `backward` needs.
        """
        layout = self.program.layout
        data = data or {}
        # First, as the core counts probe samples from its own step counter. Training
        # runs start from restore_state() and leave the state to it.
        if not training:
            layout.sync_ints(self.signals, self.int_arena, to_core=True)
        buffers = []
        for i, probe in enumerate(self.program.probes):
            n = self.executor.samples_in(i, n_steps)
            buffers.append(
                np.empty((n, layout.minibatch_size) + probe.shape, dtype=layout.dtype)
            )
        feeds = [None] * len(self.feeds)
        for node, (index, step) in self.feeds.items():
            fed = node in data
            if fed:
                feeds[index] = np.ascontiguousarray(data[node], dtype=layout.dtype)
            if step.producer in self.callbacks:
                self.callbacks[step.producer].fed = fed
        error = None
        if training:
            for tape in self._node_tapes.values():
                tape.clear()
        self._recording = training
        try:
            self.executor.run(n_steps, buffers, feeds, training)
        except BaseException as e:  # noqa: B036 - KeyboardInterrupt keeps what was probed
            error = e
        finally:
            self._recording = False
        if not training:
            layout.sync_ints(self.signals, self.int_arena, to_core=False)
            for node, (_, step) in self.feeds.items():
                if step.producer is None and node in data:
                    self._restore_constant(step)
        written = self.executor.samples_written
        samples = [buf[:k] for buf, k in zip(buffers, written, strict=True)]
        return samples, self.executor.steps_completed, error

    def _feed_index(self, step: FeedStep) -> np.ndarray:
        """Arena indices of a fed node's output, (batch, size)."""
        off, n, stride, bstride = step.ref
        return off + np.add.outer(
            bstride * np.arange(self.minibatch_size), stride * np.arange(n)
        )

    def _restore_constant(self, step: FeedStep) -> None:
        """A constant node outputs its value again once its data runs out."""
        self.arena[self._feed_index(step)] = self._constant_feeds[step.node]


def _blocking_reverse(g_out: np.ndarray):
    """Backward step of a Python node with no gradient: nothing passes through."""

    def reverse(n: int) -> None:
        g_out[...] = 0

    return reverse


def _node_reverse(fn, gradient, tape: list, g_x: np.ndarray, g_out: np.ndarray):
    """Backward step of a BatchNode with a gradient function (a vector-Jacobian
    product ``gradient(t, x, dy) -> dx``), from the inputs its training run recorded."""

    def reverse(n: int) -> None:
        t, x = tape[n]
        dy = g_out.reshape((len(g_out),) + fn.shape_out).copy()
        dx = np.asarray(gradient(t, x.reshape((len(x),) + fn.shape_in), dy))
        if dx.size != g_x.size:
            raise SimulationError(
                f"{fn.label}: gradient returned shape {dx.shape}; expected "
                f"{(len(x),) + fn.shape_in} (minibatch, *shape_in)"
            )
        g_x[...] += dx.reshape(g_x.shape)
        g_out[...] = 0

    return reverse
