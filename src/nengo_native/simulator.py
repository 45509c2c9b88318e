"""`Simulator`: nengo's simulator API on top of the planner and the compiled core."""

from __future__ import annotations

import logging
import numbers
import time as _time
import warnings

import nengo.utils.numpy as npext
import numpy as np
from nengo.builder import Model
from nengo.builder.optimizer import optimize as opmerge_optimize
from nengo.cache import get_default_decoder_cache
from nengo.exceptions import ReadonlyError, SimulatorClosed, ValidationError
from nengo.rc import rc
from nengo.utils.graphs import toposort
from nengo.utils.progress import Progress, ProgressTracker
from nengo.utils.simulator import operator_dependency_graph

from .data import ProbeRecord, SimulationData
from .planner import plan
from .planner.lowering import lowering_for
from .runtime import Runtime

logger = logging.getLogger(__name__)

# Progress and Ctrl-C are handled between chunks of steps run in the core; a chunk
# is sized to take about this long.
_CHUNK_SECONDS = 0.05


def _float_dtype(dtype) -> np.dtype:
    if dtype is None:
        dtype = rc.float_dtype
    try:
        dtype = np.dtype(dtype)
    except TypeError as e:
        raise ValidationError(f"'{dtype}' is not a dtype", attr="dtype") from e
    if dtype not in (np.float32, np.float64):
        raise ValidationError(f"must be float32 or float64 (got {dtype})", attr="dtype")
    return dtype


class Simulator:
    """A nengo simulator whose step loop runs in compiled C++.

    A drop-in replacement for `nengo.Simulator`: same arguments, same methods,
    same results for the same seed.

    Parameters
    ----------
    network : nengo.Network or None
        The network to build and simulate. If None, ``model`` must hold a built model.
    dt : float, optional
        Length of a simulator time step, in seconds.
    seed : int, optional
        Seed for all stochastic operators. Defaults to ``network.seed + 1`` when
        the network has a seed, else a random seed.
    model : nengo.builder.Model, optional
        A model to build into (or an already built model when ``network`` is None).
    progress_bar : bool or nengo.utils.progress.ProgressBar, optional
        Progress bar for building and running; False disables it.
    optimize : bool, optional
        Run nengo's operator-merging optimizer before planning (as nengo does).
    dtype : str or numpy.dtype, optional
        ``"float64"`` or ``"float32"``; defaults to nengo's ``rc`` float type.

    Attributes
    ----------
    closed : bool
        Whether the simulator has been closed.
    data : SimulationData
        Probe data and built parameters.
    model : nengo.builder.Model
        The built model.
    signals : SignalDict
        Live views of the simulator's memory, keyed by `nengo.builder.Signal`.
    """

    def __init__(
        self,
        network,
        dt: float = 0.001,
        seed: int | None = None,
        model: Model | None = None,
        progress_bar=True,
        optimize: bool = True,
        dtype=None,
    ):
        self.closed = True  # until construction succeeds
        self.progress_bar = progress_bar
        self.optimize = optimize
        self.dtype = _float_dtype(dtype)

        if model is None:
            self.model = Model(
                dt=float(dt),
                label=f"{network}, dt={dt:f}",
                decoder_cache=get_default_decoder_cache(),
            )
        else:
            self.model = model

        with ProgressTracker(progress_bar, Progress("Building", "Build")) as pt:
            if network is not None:
                self.model.build(network, progress=pt.next_stage("Building", "Build"))
            self.dg = operator_dependency_graph(self.model.operators)
            if optimize:
                with pt.next_stage("Building (running optimizer)", "Optimization"):
                    opmerge_optimize(self.model, self.dg)
            self._step_order = [
                op for op in toposort(self.dg) if hasattr(op, "make_step")
            ]
            with pt.next_stage("Planning", "Planning"):
                self._program = plan(
                    self.model, self._step_order, self.dg, 1, self.dtype
                )
                self._runtime = Runtime(self._program, self.model.dt, self.model.step)

        self.signals = self._runtime.signals
        self._records = {
            p.probe: ProbeRecord(batched=False) for p in self._program.probes
        }
        self.data = SimulationData(
            self.model.params,
            self._records,
            {p.probe: p.shape for p in self._program.probes},
            self.dtype,
        )

        if seed is None:
            if network is not None and network.seed is not None:
                seed = network.seed + 1
            else:
                seed = np.random.randint(npext.maxint)

        self.closed = False
        self.reset(seed=seed)

    # -- lifecycle ------------------------------------------------------------------

    def __del__(self):
        if not getattr(self, "closed", True):
            warnings.warn(
                f"Simulator with model={self.model} was deallocated while open. "
                "Please close simulators manually to ensure resources are properly "
                "freed.",
                ResourceWarning,
                stacklevel=2,
            )

    def __enter__(self):
        if self.closed:
            raise SimulatorClosed("Cannot re-open after simulator is closed")
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def close(self) -> None:
        """Close the simulator and free its memory; probe data stays readable."""
        self.closed = True
        self.signals = None
        self._runtime = None

    def __getstate__(self):
        signals = (
            {k: np.array(v) for k, v in self.signals.items() if not k.readonly}
            if self.signals is not None
            else {}
        )
        return {
            "model": self.model,
            "signals": signals,
            "probe_chunks": {p: list(r.chunks) for p, r in self._records.items()},
            "dt": self.dt,
            "seed": self.seed,
            "progress_bar": self.progress_bar,
            "optimize": self.optimize,
            "dtype": self.dtype,
            "closed": self.closed,
        }

    def __setstate__(self, state):
        self.__init__(
            network=None,
            model=state["model"],
            dt=state["dt"],
            seed=state["seed"],
            progress_bar=state["progress_bar"],
            optimize=False,  # the pickled model is already optimized
            dtype=state["dtype"],
        )
        for key, value in state["signals"].items():
            self.signals[key] = value
        for probe, chunks in state["probe_chunks"].items():
            for chunk in chunks:
                self._records[probe].append(chunk)
        self.optimize = state["optimize"]
        self._read_clock()
        if state["closed"]:
            self.close()

    # -- properties -----------------------------------------------------------------

    @property
    def dt(self) -> float:
        """(float) The time step of the simulator."""
        return self.model.dt

    @dt.setter
    def dt(self, dummy):
        raise ReadonlyError(attr="dt", obj=self)

    @property
    def n_steps(self) -> int:
        """(int) The current time step of the simulator."""
        return self._n_steps

    @property
    def time(self) -> float:
        """(float) The current time of the simulator."""
        return self._time

    @property
    def step_order(self) -> list:
        """(list) The operators in the order nengo would run them."""
        return self._step_order

    @property
    def fallback_operators(self) -> list:
        """(list) Operators with no native kernel, run through nengo's ``make_step``."""
        return self._program.fallback_ops

    # -- running --------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> None:
        """Reset the simulator state and probe data.

        Parameters
        ----------
        seed : int, optional
            A new seed for stochastic operators (noise and input processes); the
            built parameters do not change.
        """
        if self.closed:
            raise SimulatorClosed("Cannot reset closed Simulator.")
        if seed is not None:
            self.seed = seed
        self._runtime.reset_memory()
        # Recreate the operators' step functions in nengo's order, drawing from the
        # generator exactly as nengo.Simulator.reset does.
        self.rng = np.random.RandomState(self.seed)
        callbacks = self._runtime.callbacks
        draws = {}
        for op in self._step_order:
            if op in callbacks:
                callbacks[op].fn = op.make_step(self.signals, self.dt, self.rng)
            else:
                lowering = lowering_for(op)
                if lowering is not None:
                    draws[op] = lowering.consume_rng(op, self.rng)
        # Kernels whose numbers depend on the seed (noise) get their new states.
        self._runtime.reseed(draws)
        self.clear_probes()
        self._read_clock()

    def clear_probes(self) -> None:
        """Clear all probe histories."""
        for record in self._records.values():
            record.clear()

    def _read_clock(self) -> None:
        if self.signals is not None:
            self._n_steps = int(self.signals[self.model.step].item())
            self._time = float(self.signals[self.model.time].item())

    def run(self, time_in_seconds: float, progress_bar=None) -> None:
        """Simulate for the given length of time (rounded to a whole number of steps).

        Parameters
        ----------
        time_in_seconds : float
            Amount of time to run for; must be finite and not negative.
        progress_bar : bool or ProgressBar, optional
            Overrides the simulator's progress bar for this run.
        """
        try:
            time_in_seconds = float(time_in_seconds)
        except (TypeError, ValueError) as e:
            raise ValidationError(
                f"Must be a number (got {time_in_seconds!r})", attr="time_in_seconds"
            ) from e
        if not np.isfinite(time_in_seconds):
            raise ValidationError(
                f"Must be finite (got {time_in_seconds})", attr="time_in_seconds"
            )
        if time_in_seconds < 0:
            raise ValidationError(
                f"Must be positive (got {time_in_seconds:g})", attr="time_in_seconds"
            )
        steps = int(np.round(time_in_seconds / self.dt))
        if steps == 0:
            warnings.warn(
                f"{time_in_seconds} results in running for 0 timesteps. Simulator "
                f"still at time {self.time}.",
                stacklevel=2,
            )
        else:
            logger.info(
                "Running %s for %f seconds, or %d steps",
                self.model.label,
                time_in_seconds,
                steps,
            )
            self.run_steps(steps, progress_bar=progress_bar)

    def run_steps(self, steps: int, progress_bar=None) -> None:
        """Simulate for the given number of time steps.

        Parameters
        ----------
        steps : int
            Number of steps to run; not negative.
        progress_bar : bool or ProgressBar, optional
            Overrides the simulator's progress bar for this run.
        """
        if self.closed:
            raise SimulatorClosed("Simulator cannot run because it is closed.")
        if not isinstance(steps, numbers.Integral) or steps < 0:
            raise ValidationError(
                f"Must be a non-negative integer (got {steps!r})", attr="steps"
            )
        steps = int(steps)
        if progress_bar is None:
            progress_bar = self.progress_bar
        with ProgressTracker(
            progress_bar, Progress("Simulating", "Simulation", steps)
        ) as pt:
            done, chunk = 0, 1
            while done < steps:
                n = min(chunk, steps - done)
                start = _time.perf_counter()
                self._run_chunk(n)
                elapsed = _time.perf_counter() - start
                done += n
                pt.total_progress.step(n)
                chunk = max(1, min(4 * n, int(n * _CHUNK_SECONDS / max(elapsed, 1e-9))))

    def step(self) -> None:
        """Advance the simulator by one step (``dt`` seconds)."""
        if self.closed:
            raise SimulatorClosed("Simulator cannot run because it is closed.")
        self._run_chunk(1)

    def _run_chunk(self, n: int) -> None:
        old_err = np.seterr(invalid="raise", divide="ignore")
        try:
            samples, completed, error = self._runtime.run(n)
        finally:
            np.seterr(**old_err)
        for plan_probe, chunk in zip(self._program.probes, samples):
            self._records[plan_probe.probe].append(chunk)
        if error is None:
            self._read_clock()
        else:
            # Like nengo, the clock shows the last step that finished, although the
            # failed step's time update already ran.
            self._n_steps += completed
            self._time = self._n_steps * self.dt
            raise error

    def trange(self, dt: float | None = None, sample_every: float | None = None):
        """Times matching probed data (the first is ``dt``, not 0).

        Parameters
        ----------
        sample_every : float, optional
            The sampling period of the probe to create a range for.
        """
        if dt is not None:
            if sample_every is not None:
                raise ValidationError(
                    "Cannot specify both `dt` and `sample_every`. "
                    "Use `sample_every` only.",
                    attr="dt",
                    obj=self,
                )
            warnings.warn(
                "`dt` is deprecated. Use `sample_every` instead.",
                DeprecationWarning,
                stacklevel=2,
            )
            sample_every = dt
        period = 1 if sample_every is None else sample_every / self.dt
        steps = np.arange(1, self.n_steps + 1)
        return self.dt * steps[steps % period < 1]
