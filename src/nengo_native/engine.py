"""`Engine`: a planned model being simulated: its runtime, clock and seed, runs in
chunks, snapshots and batched prediction. The `Simulator` fronts it with nengo's
API; training drives it through the same methods."""

from __future__ import annotations

import contextlib
import signal
import threading
import time as _time
from dataclasses import dataclass

import numpy as np
from nengo.utils.progress import Progress, ProgressTracker

from .data import ProbeRecord
from .inputs import check_memory
from .planner import Program
from .runtime import Runtime


@contextlib.contextmanager
def deferred_interrupt():
    """Hold Ctrl-C until the current chunk of steps has finished.

    The run then stops between two steps, with the clock and the probe data
    consistent, instead of wherever Python happened to be. Yields ``check()``,
    which runs the held signal's original handler (by default raising
    KeyboardInterrupt). Only the main thread receives signals.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(frame))

    def check():
        if pressed:
            frame = pressed.pop()
            pressed.clear()
            if callable(previous):
                previous(signal.SIGINT, frame)
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt

    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)


# Progress and Ctrl-C are handled between chunks of steps run in the core; a chunk
# is sized to take about this long.
_CHUNK_SECONDS = 0.05


@dataclass(frozen=True)
class Snapshot:
    """The simulation state (what steps write, the counters) and the clock."""

    state: tuple
    n_steps: int
    time: float


class Engine:
    """Runs a `Program`, keeps its clock and records its probes.

    Parameters
    ----------
    program : Program
        What to run (``program.model`` gives the time step and clock signals).
    has_minibatch_axis : bool
        Whether probe data shows a minibatch axis (see `ProbeRecord`).
    """

    def __init__(self, program: Program, has_minibatch_axis: bool):
        self.program = program
        self.model = program.model
        self.dt = float(self.model.dt)
        self.runtime: Runtime | None = Runtime(program, self.dt, self.model.step)
        self.minibatch_size = program.minibatch_size
        self.input_nodes = list(self.runtime.feeds)
        self.n_steps = 0
        self.time = 0.0
        self.seed: int | None = None  # the simulator's, set by `reset`
        self.records = {
            plan_probe.probe: ProbeRecord(has_minibatch_axis)
            for plan_probe in program.probes
        }

    def close(self) -> None:
        """Free the runtime's memory; the clock stays readable."""
        self.runtime = None

    # -- state and clock ------------------------------------------------------------

    def reset(self, seed: int) -> np.random.RandomState:
        """Back to the initial state (trained parameters included), with the random
        draws of the simulator seed ``seed``; returns the simulator's generator after
        them, as `nengo.Simulator.reset` leaves it."""
        self.seed = seed
        self.runtime.reset_memory()
        rng = self.reseed()
        self.read_clock()
        return rng

    def reseed(self, first_item: int | None = None) -> np.random.RandomState:
        """Replay the seed's random draws (see `Runtime.reseed` for ``first_item``)."""
        rng = np.random.RandomState(self.seed)
        self.runtime.reseed(rng, self.dt, first_item)
        return rng

    def read_clock(self) -> None:
        signals = self.runtime.signals
        self.n_steps = int(signals[self.model.step].item())
        self.time = float(signals[self.model.time].item())

    def snapshot(self) -> Snapshot:
        return Snapshot(self.runtime.save_state(), self.n_steps, self.time)

    def restore(self, snapshot: Snapshot, sync: bool = True) -> None:
        """Put back a `snapshot`; see `Runtime.restore_state` for ``sync``."""
        self.runtime.restore_state(snapshot.state, sync=sync)
        self.n_steps, self.time = snapshot.n_steps, snapshot.time

    # -- running --------------------------------------------------------------------

    def run(
        self, n_steps: int, data: dict, float_errors: bool = True
    ) -> list[np.ndarray]:
        """Run ``n_steps`` with checked input ``data``; return each probe's new
        samples, ``(samples, minibatch_size, *shape)``.

        On an error the clock shows the last step that finished (as in nengo, although
        the failed step's time update already ran) and the error is raised with the
        samples up to it lost to the caller: use `run_keeping` to keep them.
        ``float_errors``: numpy raises on invalid operations in Python steps, as in
        ``nengo.Simulator``'s runs.
        """
        samples, error = self.run_keeping(n_steps, data, float_errors)
        if error is not None:
            raise error
        return samples

    def run_keeping(
        self, n_steps: int, data: dict, float_errors: bool = True
    ) -> tuple[list[np.ndarray], BaseException | None]:
        """Like `run`, but return the error (if any) with the samples before it."""
        errstate = (
            np.errstate(invalid="raise", divide="ignore")
            if float_errors
            else contextlib.nullcontext()
        )
        with errstate:
            samples, completed, error = self.runtime.run(n_steps, data)
        if error is None:
            self.read_clock()
        else:
            self.n_steps += completed
            self.time = self.n_steps * self.dt
        return samples, error

    def simulate(self, n_steps: int, data: dict, progress_bar) -> None:
        """Run and record ``n_steps`` in chunks, showing progress and stopping
        between two steps on Ctrl-C."""
        with (
            ProgressTracker(
                progress_bar, Progress("Simulating", "Simulation", n_steps)
            ) as tracker,
            deferred_interrupt() as check_interrupt,
        ):
            done, chunk = 0, 1
            while done < n_steps:
                check_interrupt()
                n = min(chunk, n_steps - done)
                start = _time.perf_counter()
                self.record(n, {k: v[:, done : done + n] for k, v in data.items()})
                elapsed = _time.perf_counter() - start
                done += n
                tracker.total_progress.step(n)
                chunk = max(1, min(4 * n, int(n * _CHUNK_SECONDS / max(elapsed, 1e-9))))

    def record(self, n_steps: int, data: dict) -> None:
        """Run ``n_steps`` and append the probes' samples to their records (those
        before an error too)."""
        samples, error = self.run_keeping(n_steps, data)
        for plan_probe, chunk in zip(self.program.probes, samples, strict=True):
            self.records[plan_probe.probe].append(chunk)
        if error is not None:
            raise error

    def clear_records(self) -> None:
        for record in self.records.values():
            record.clear()

    def check_probe_memory(
        self, n_steps: int, n_items: int, copies: int = 1, attr: str = "steps"
    ) -> None:
        """Refuse a run whose probe samples would not fit in memory."""
        need = 0
        for probe in self.program.probes:
            # at most one sample per `period` steps (counting them exactly takes a
            # pass over the steps)
            samples = n_steps if probe.period <= 1 else n_steps // probe.period + 1
            need += int(samples) * int(np.prod(probe.shape))
        need *= copies * n_items * self.program.layout.dtype.itemsize
        check_memory(need, self.minibatch_size, f"probe data for {n_steps} steps", attr)

    def predict(
        self,
        batches: list[dict],
        n_steps: int,
        stateful: bool,
        progress_bar,
        first_item: int = 0,
        labels: tuple[str, str] = ("Predicting", "Prediction"),
    ) -> dict:
        """Run minibatches of checked data one after another; return
        ``{probe: (items, samples, *shape)}`` over all of them.

        ``stateful``: each minibatch continues from the state the previous one left
        (and the engine keeps the final state); otherwise every minibatch starts from
        the current state, which is restored at the end, and item ``b`` of minibatch
        ``k`` gets the random streams of item ``first_item + k * minibatch_size + b``
        of the whole batch (the streams are rewound to the start afterwards): a
        batch's result does not depend on how it is split. ``labels``: the progress
        bar's names while running and when finished.
        """
        self.check_probe_memory(
            n_steps, len(batches) * self.minibatch_size, copies=2, attr="n_steps"
        )
        saved = self.snapshot()
        probes = self.program.probes
        outputs = {plan_probe.probe: [] for plan_probe in probes}
        progress = Progress(labels[0], labels[1], len(batches))
        try:
            with ProgressTracker(progress_bar, progress) as tracker:
                for data in batches:
                    if not stateful:
                        self.restore(saved)
                        self.reseed(first_item)
                        first_item += self.minibatch_size
                    samples = self.run(n_steps, data, float_errors=False)
                    for plan_probe, chunk in zip(probes, samples, strict=True):
                        outputs[plan_probe.probe].append(np.moveaxis(chunk, 1, 0))
                    tracker.total_progress.step()
        finally:
            if not stateful:
                self.restore(saved)
                self.reseed(0)
        return {probe: np.concatenate(chunks) for probe, chunks in outputs.items()}

    # -- parameters -----------------------------------------------------------------

    def signal_value(self, sig) -> np.ndarray:
        """Current value of a parameter signal (a float64 copy; CSR for sparse
        ones)."""
        runtime = self.runtime
        values = runtime.arena[runtime.offsets(sig)].astype(np.float64)
        sparse = self.program.layout.sparse.get(sig.base)
        if sparse is None:
            return values
        value = sparse.copy()
        value.data = values
        return value
