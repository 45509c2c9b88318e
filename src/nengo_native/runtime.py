"""Puts a `Program` into the compiled core and runs it: arena, callbacks, probes."""

from __future__ import annotations

import numpy as np

from . import _core
from .planner import CallbackStep, KernelStep, Program
from .planner.lowering import lowering_for


class _Callback:
    """A step the core calls back into Python for; ``fn`` is replaced on reset."""

    __slots__ = ("fn",)

    def __init__(self):
        self.fn = None

    def __call__(self):
        self.fn()


class Runtime:
    """The compiled executor for one `Program`, and nengo-style views of its memory.

    Parameters
    ----------
    program : Program
        What to run.
    dt : float
        Simulator time step.
    """

    def __init__(self, program: Program, dt: float, step_signal):
        layout = program.layout
        self.program = program
        executor_type = (
            _core.Executor32 if layout.dtype == np.float32 else _core.Executor64
        )
        step_offset = layout.int_offset[step_signal.base] + step_signal.elemoffset
        self.executor = executor_type(
            layout.size, layout.int_size, layout.batch, dt, step_offset
        )
        self.arena = self.executor.arena
        self.int_arena = self.executor.int_arena
        self.initial_arena, self.initial_int_arena = layout.initial_arena()
        self.callbacks: dict = {}
        for step in program.steps:
            if isinstance(step, KernelStep):
                self.executor.add_kernel(step.kind, step.params)
            else:
                assert isinstance(step, CallbackStep)
                callback = self.callbacks[step.op] = _Callback()
                self.executor.add_callback(callback)
        for probe in program.probes:
            off, rows, cols, rs, cs, bs = probe.ref
            self.executor.add_probe(off, rows, cols, rs, cs, bs, probe.period)
        self.signals = layout.signal_dict(self.arena, self.int_arena)

    def reset_memory(self) -> None:
        self.arena[:] = self.initial_arena
        self.int_arena[:] = self.initial_int_arena
        self.program.layout.sync_ints(self.signals, self.int_arena, to_core=False)
        self.executor.reset_kernels()

    def reseed(self, draws: dict) -> None:
        """Give seed-dependent kernels their new parameters after a reset.

        Parameters
        ----------
        draws : dict
            For each native op, what its lowering's ``consume_rng`` returned while the
            simulator's generator was replayed in nengo's step order.
        """
        layout = self.program.layout
        for index, step in enumerate(self.program.steps):
            if not isinstance(step, KernelStep):
                continue
            lowering = lowering_for(step.ops[0])
            params = lowering.reseed(
                step.ops, [draws.get(op) for op in step.ops], layout
            )
            if params is not None:
                self.executor.set_kernel_params(index, params)

    def run(self, n_steps: int) -> tuple[list[np.ndarray], int, BaseException | None]:
        """Run ``n_steps``; return each probe's new samples, the number of steps
        that finished and the error that stopped the run early, if any (samples up
        to the error are kept)."""
        layout = self.program.layout
        buffers = []
        for i, probe in enumerate(self.program.probes):
            n = self.executor.samples_in(i, n_steps)
            buffers.append(
                np.empty((n, layout.batch) + probe.shape, dtype=layout.dtype)
            )
        error = None
        layout.sync_ints(self.signals, self.int_arena, to_core=True)
        try:
            self.executor.run(n_steps, buffers)
        except BaseException as e:  # noqa: B036 - KeyboardInterrupt keeps what was probed
            error = e
        layout.sync_ints(self.signals, self.int_arena, to_core=False)
        written = self.executor.samples_written
        samples = [buf[:k] for buf, k in zip(buffers, written)]
        return samples, self.executor.steps_completed, error
