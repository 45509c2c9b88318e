"""`Simulator`: nengo's simulator API on top of the planner and the compiled core."""

from __future__ import annotations

import contextlib
import logging
import numbers
import signal
import threading
import time as _time
import warnings

import nengo
import nengo.utils.numpy as npext
import numpy as np
from nengo.builder import Model
from nengo.builder.optimizer import optimize as opmerge_optimize
from nengo.cache import get_default_decoder_cache
from nengo.exceptions import (
    NengoWarning,
    ReadonlyError,
    SimulatorClosed,
    ValidationError,
)
from nengo.rc import rc
from nengo.utils.graphs import toposort
from nengo.utils.progress import Progress, ProgressBar, ProgressTracker
from nengo.utils.simulator import operator_dependency_graph

from . import parameters
from .config import get_setting
from .data import ProbeRecord, SimulationData
from .inputs import (
    check_data,
    check_memory,
    check_minibatch_size,
    split_batch,
    state_bytes,
)
from .planner import plan
from .planner.lowering import lowering_for
from .runtime import Runtime
from .training import History, Trainer

logger = logging.getLogger(__name__)

# Progress and Ctrl-C are handled between chunks of steps run in the core; a chunk
# is sized to take about this long.
_CHUNK_SECONDS = 0.05


@contextlib.contextmanager
def _deferred_interrupt():
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


class FallbackWarning(NengoWarning):
    """Some operators run through nengo's own Python code (no native kernel)."""


def _describe_fallbacks(model, ops) -> str:
    """The nengo objects behind fallback operators, for one message."""
    owners = {}
    for obj, sigs in model.sig.items():
        if isinstance(obj, (nengo.ensemble.Neurons, nengo.Node)) and "out" in sigs:
            sig = sigs["out"]
            if sig is not None:
                owners[(id(sig.base), sig.elemoffset)] = obj
    names = []
    for op in ops:
        out = getattr(op, "output", None)
        owner = None
        if out is not None:
            owner = owners.get((id(out.base), out.elemoffset))
        if isinstance(owner, nengo.ensemble.Neurons):
            owner = owner.ensemble
        if hasattr(op, "neurons"):
            what = f"{type(op.neurons).__name__} neurons"
        elif hasattr(op, "process"):
            what = f"process {type(op.process).__name__}"
        else:
            what = type(op).__name__ + (f" '{op.tag}'" if op.tag else "")
        names.append(what if owner is None else f"{what} of {owner}")
    unique = list(dict.fromkeys(names))
    text = "; ".join(unique[:10])
    return text + (f"; and {len(unique) - 10} more" if len(unique) > 10 else "")


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


def _check_seed(seed) -> int:
    """A seed numpy's generators accept: an integer in [0, 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValidationError(
            f"must be an integer in [0, 2**32) (got {seed!r})", attr="seed"
        )
    if not 0 <= seed < 2**32:
        raise ValidationError(f"must be in [0, 2**32) (got {seed})", attr="seed")
    return int(seed)


def _check_steps(steps, attr: str) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValidationError(
            f"Must be a non-negative integer (got {steps!r})", attr=attr
        )
    return int(steps)


def _check_progress_bar(progress_bar):
    if progress_bar is None or isinstance(progress_bar, (bool, ProgressBar)):
        return progress_bar
    raise ValidationError(
        "must be True, False, None or a nengo.utils.progress.ProgressBar "
        f"(got {progress_bar!r})",
        attr="progress_bar",
    )


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
        minibatch_size: int | None = None,
    ):
        self.closed = True  # until construction succeeds
        self._signals = None
        self.progress_bar = _check_progress_bar(progress_bar)
        self.optimize = optimize
        self.dtype = _float_dtype(dtype)
        self.minibatch_size = minibatch_size
        batch = check_minibatch_size(minibatch_size)

        if seed is not None:
            seed = _check_seed(seed)
        if model is None:
            try:
                dt = float(dt)
            except (TypeError, ValueError) as e:
                raise ValidationError(
                    f"must be a number (got {dt!r})", attr="dt"
                ) from e
            if not (np.isfinite(dt) and dt > 0):
                raise ValidationError(
                    f"must be a positive finite number (got {dt})", attr="dt"
                )
            self.model = Model(
                dt=dt,
                label=f"{network}, dt={dt:f}",
                decoder_cache=get_default_decoder_cache(),
            )
        elif isinstance(model, Model):
            self.model = model
        else:
            raise ValidationError(
                f"must be a nengo.builder.Model or None (got {type(model).__name__})",
                attr="model",
            )

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
                    self.model,
                    self._step_order,
                    self.dg,
                    batch,
                    self.dtype,
                    training={
                        "lif_smoothing": get_setting(self.model, "lif_smoothing")
                    },
                )
                check_memory(state_bytes(self._program), batch)
                self._runtime = Runtime(self._program, self.model.dt, self.model.step)

        self.signals = self._runtime.signals
        self._trainer_state = None
        if self._program.fallback_ops:
            ops = self._program.fallback_ops
            warnings.warn(
                FallbackWarning(
                    f"{len(ops)} operator(s) have no native kernel and run through "
                    f"nengo's Python code (slower, and not trainable through): "
                    f"{_describe_fallbacks(self.model, ops)}. "
                    "sim.fallback_operators lists them."
                ),
                stacklevel=2,
            )
        self._input_nodes = list(self._runtime.feeds)
        self._records = {
            p.probe: ProbeRecord(batched=minibatch_size is not None and batch > 1)
            for p in self._program.probes
        }
        self.data = SimulationData(
            self.model.params,
            self._records,
            {p.probe: p.shape for p in self._program.probes},
            self.dtype,
        )

        if seed is None:
            if network is not None and network.seed is not None:
                seed = _check_seed(network.seed + 1)
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
        self._trainer_state = None

    def __getstate__(self):
        signals = (
            {k: np.array(v) for k, v in self._signals.items() if not k.readonly}
            if self._signals is not None
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
            "minibatch_size": self.minibatch_size,
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
            minibatch_size=state["minibatch_size"],
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
    def signals(self):
        """(SignalDict) Live views of the simulator's memory (minibatch item 0)."""
        if self._signals is None:
            raise SimulatorClosed(
                "Simulator is closed: its signals were freed (probe data and built "
                "parameters in sim.data are still there)"
            )
        return self._signals

    @signals.setter
    def signals(self, value):
        self._signals = value

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

    def reset(self, seed: int | None = None, include_trainable: bool = True) -> None:
        """Reset the simulator state and probe data.

        Parameters
        ----------
        seed : int, optional
            A new seed for stochastic operators (noise and input processes); the
            built parameters do not change.
        include_trainable : bool, optional
            Also put trained parameters back to their built values (as NengoDL
            does by default); False keeps what `fit` learned.
        """
        if self.closed:
            raise SimulatorClosed("Cannot reset closed Simulator.")
        if seed is not None:
            self.seed = _check_seed(seed)
        trainer = self._trainer_state
        kept = (
            {p.key: trainer.get(p.key) for p in trainer.params}
            if trainer is not None and not include_trainable
            else {}
        )
        self._runtime.reset_memory()
        for key, value in kept.items():
            trainer.set(key, value)
        self._reseed_streams()
        self.clear_probes()
        self._read_clock()

    def _reseed_streams(self, first_item: int | None = None) -> None:
        """Recreate the operators' step functions in nengo's order, drawing from the
        generator exactly as nengo.Simulator.reset does, and give kernels whose
        numbers depend on the seed (noise) their new states.

        ``first_item`` (in ``predict``): minibatch item b gets the random streams of
        item ``first_item + b`` of the whole batch (stochastic neurons included), so
        a batch's result does not depend on how it is split. None: a reset.
        """
        self.rng = np.random.RandomState(self.seed)
        callbacks = self._runtime.callbacks
        draws = {}
        for op in self._step_order:
            if op in callbacks:
                self._runtime.make_step_functions(
                    op, self.dt, self.rng, self._item_rngs(op), first_item or 0
                )
            else:
                lowering = lowering_for(op)
                if lowering is not None:
                    draws[op] = lowering.consume_rng(op, self.rng)
        self._runtime.reseed(draws, first_item)

    def _item_rngs(self, op):
        """Generators for minibatch items >= 1 of a fallback operator.

        Item 0 draws from the simulator's generator exactly as in nengo. Item b gets
        its own stream seeded from (s0, b), where s0 is the seed an unseeded process
        would draw next (or the process's own seed), so the streams depend only on
        the simulator's seed and not on how the model was built.
        """
        process = getattr(op, "process", None)
        if process is not None and process.seed is not None:
            s0 = process.seed
        else:
            peek = np.random.RandomState()
            peek.set_state(self.rng.get_state())
            s0 = peek.randint(npext.maxint)

        def item_rng(item: int) -> np.random.RandomState:
            seq = np.random.SeedSequence([s0, item])
            return np.random.RandomState(int(seq.generate_state(1)[0]))

        return item_rng

    def clear_probes(self) -> None:
        """Clear all probe histories."""
        for record in self._records.values():
            record.clear()

    def _read_clock(self) -> None:
        if self._signals is not None:
            self._n_steps = int(self._signals[self.model.step].item())
            self._time = float(self._signals[self.model.time].item())

    def run(
        self, time_in_seconds: float, progress_bar=None, data: dict | None = None
    ) -> None:
        """Simulate for the given length of time (rounded to a whole number of steps).

        Parameters
        ----------
        time_in_seconds : float
            Amount of time to run for; must be finite and not negative.
        progress_bar : bool or ProgressBar, optional
            Overrides the simulator's progress bar for this run.
        data : dict, optional
            ``{node: array (minibatch, n_steps, node.size_out)}``: values that replace
            the outputs of input nodes (nodes without input) during this run.
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
            self.run_steps(steps, progress_bar=progress_bar, data=data)

    def run_steps(
        self, steps: int, progress_bar=None, data: dict | None = None
    ) -> None:
        """Simulate for the given number of time steps.

        Parameters
        ----------
        steps : int
            Number of steps to run; not negative.
        progress_bar : bool or ProgressBar, optional
            Overrides the simulator's progress bar for this run.
        data : dict, optional
            ``{node: array (minibatch, steps, node.size_out)}``: values that replace
            the outputs of input nodes (nodes without input) during this run.
        """
        if self.closed:
            raise SimulatorClosed("Simulator cannot run because it is closed.")
        steps = _check_steps(steps, "steps")
        data, _ = check_data(
            data, self._input_nodes, self._runtime.batch, steps, dtype=self.dtype
        )
        if steps == 0:
            return  # (nengo's progress bar refuses a run of 0 steps)
        self._check_probe_memory(steps, self._runtime.batch)
        if progress_bar is None:
            progress_bar = self.progress_bar
        else:
            progress_bar = _check_progress_bar(progress_bar)
        with (
            ProgressTracker(
                progress_bar, Progress("Simulating", "Simulation", steps)
            ) as pt,
            _deferred_interrupt() as check_interrupt,
        ):
            done, chunk = 0, 1
            while done < steps:
                check_interrupt()
                n = min(chunk, steps - done)
                start = _time.perf_counter()
                self._run_chunk(n, {k: v[:, done : done + n] for k, v in data.items()})
                elapsed = _time.perf_counter() - start
                done += n
                pt.total_progress.step(n)
                chunk = max(1, min(4 * n, int(n * _CHUNK_SECONDS / max(elapsed, 1e-9))))

    def step(self, data: dict | None = None) -> None:
        """Advance the simulator by one step (``dt`` seconds).

        Parameters
        ----------
        data : dict, optional
            ``{node: array (minibatch, 1, node.size_out)}`` for this step.
        """
        if self.closed:
            raise SimulatorClosed("Simulator cannot run because it is closed.")
        data, _ = check_data(
            data, self._input_nodes, self._runtime.batch, 1, dtype=self.dtype
        )
        self._run_chunk(1, data)

    def _check_probe_memory(
        self, n_steps: int, n_items: int, copies: int = 1, attr: str = "steps"
    ):
        """Refuse a run whose probe samples would not fit in memory."""
        need = 0
        for probe in self._program.probes:
            # at most one sample per `period` steps (counting them exactly takes a
            # pass over the steps)
            samples = n_steps if probe.period <= 1 else n_steps // probe.period + 1
            need += int(samples) * int(np.prod(probe.shape))
        need *= copies * n_items * self.dtype.itemsize
        check_memory(need, self._runtime.batch, f"probe data for {n_steps} steps", attr)

    def _run_chunk(self, n: int, data: dict) -> None:
        old_err = np.seterr(invalid="raise", divide="ignore")
        try:
            samples, completed, error = self._runtime.run(n, data)
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

    # -- batched prediction (NengoDL's names and meanings) --------------------------

    def predict_on_batch(
        self, x=None, n_steps: int | None = None, stateful: bool = False
    ) -> dict:
        """Run one minibatch of input data and return every probe's output.

        Parameters
        ----------
        x : dict or array, optional
            ``{node: array (minibatch_size, n_steps, node.size_out)}``, or one array
            when the model has a single input node.
        n_steps : int, optional
            Number of steps; taken from ``x`` when given.
        stateful : bool, optional
            If True the simulator's state (and clock) moves on by this run; if False
            it is left as it was.

        Returns
        -------
        dict
            ``{probe: array (minibatch_size, samples, *probe shape)}``.
        """
        if self.closed:
            raise SimulatorClosed("Simulator cannot run because it is closed.")
        n_steps, stateful = self._check_predict_args(n_steps, stateful)
        data, n_steps = check_data(
            x, self._input_nodes, self._runtime.batch, n_steps, "x", self.dtype
        )
        if n_steps is None:
            raise ValidationError("give input data or n_steps", attr="n_steps")
        return self._predict_batches([data], n_steps, stateful)

    def predict(
        self, x=None, n_steps: int | None = None, stateful: bool = False
    ) -> dict:
        """Run input data of any batch size through the model, a minibatch at a time.

        Parameters
        ----------
        x : dict or array, optional
            ``{node: array (batch, n_steps, node.size_out)}`` (or one array when the
            model has a single input node); ``batch`` must be a multiple of
            ``minibatch_size``.
        n_steps : int, optional
            Number of steps; taken from ``x`` when given.
        stateful : bool, optional
            If True each minibatch continues from the state the previous one left
            and the simulator keeps the final state; if False every minibatch
            starts from the current state and the simulator is left unchanged.

        Returns
        -------
        dict
            ``{probe: array (batch, samples, *probe shape)}``.
        """
        if self.closed:
            raise SimulatorClosed("Simulator cannot run because it is closed.")
        n_steps, stateful = self._check_predict_args(n_steps, stateful)
        if isinstance(x, dict) and not x:
            x = None
        if x is None:
            if n_steps is None:
                raise ValidationError("give input data or n_steps", attr="n_steps")
            return self.predict_on_batch(None, n_steps, stateful)

        def batch_of(value) -> int:
            try:
                return len(value)
            except TypeError:
                return 1  # not a sequence: check_data reports its shape

        if not isinstance(x, dict):
            x = check_data(x, self._input_nodes, batch_of(x), n_steps, "x")[0]
        batch = batch_of(next(iter(x.values())))
        data, n_steps = check_data(
            x, self._input_nodes, batch, n_steps, "x", self.dtype
        )
        return self._predict_batches(
            split_batch(data, self._runtime.batch), n_steps, stateful
        )

    @staticmethod
    def _check_predict_args(n_steps, stateful) -> tuple[int | None, bool]:
        if n_steps is not None:
            n_steps = _check_steps(n_steps, "n_steps")
        if not isinstance(stateful, (bool, np.bool_)):
            raise ValidationError(
                f"must be True or False (got {stateful!r})", attr="stateful"
            )
        return n_steps, bool(stateful)

    def _predict_batches(
        self, batches: list[dict], n_steps: int, stateful: bool, first_item: int = 0
    ):
        """Run minibatches; without ``stateful``, item b of minibatch k gets the
        random streams of item ``first_item + k * minibatch_size + b`` of the whole
        batch, and the streams are rewound to item 0's afterwards."""
        runtime = self._runtime
        # the outputs, and their concatenation
        self._check_probe_memory(
            n_steps, len(batches) * runtime.batch, copies=2, attr="n_steps"
        )
        saved = (runtime.save_state(), self._n_steps, self._time)
        outputs = {plan_probe.probe: [] for plan_probe in self._program.probes}
        progress = Progress("Predicting", "Prediction", len(batches))
        try:
            with ProgressTracker(self.progress_bar, progress) as tracker:
                for data in batches:
                    if not stateful:
                        runtime.restore_state(saved[0])
                        self._n_steps, self._time = saved[1:]
                        self._reseed_streams(first_item)
                        first_item += runtime.batch
                    samples, completed, error = runtime.run(n_steps, data)
                    if error is not None:
                        # as in run_steps: the clock shows the last step that finished
                        self._n_steps += completed
                        self._time = self._n_steps * self.dt
                        raise error
                    self._read_clock()
                    for plan_probe, chunk in zip(self._program.probes, samples):
                        outputs[plan_probe.probe].append(np.moveaxis(chunk, 1, 0))
                    tracker.total_progress.step()
        finally:
            if not stateful:
                runtime.restore_state(saved[0])
                self._n_steps, self._time = saved[1:]
                self._reseed_streams(0)
        return {probe: np.concatenate(chunks) for probe, chunks in outputs.items()}

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
        if sample_every is not None and not (
            isinstance(sample_every, numbers.Real)
            and np.isfinite(sample_every)
            and sample_every > 0
        ):
            raise ValidationError(
                f"must be a positive finite number (got {sample_every!r})",
                attr="sample_every",
            )
        period = 1 if sample_every is None else sample_every / self.dt
        steps = np.arange(1, self.n_steps + 1)
        return self.dt * steps[steps % period < 1]

    # -- training (NengoDL's names and meanings) --------------------------------------

    @property
    def _trainer(self) -> Trainer:
        if self.closed:
            raise SimulatorClosed("Simulator cannot train because it is closed.")
        if self._trainer_state is None:
            self._trainer_state = Trainer(self)
            self.data.live = self._live_params
        return self._trainer_state

    def _live_params(self, obj, built):
        """``sim.data[obj]`` with the parameters' current (trained) values."""
        if self.closed:
            return built
        sigs = self.model.sig.get(obj, {})
        if isinstance(obj, nengo.Ensemble) and hasattr(built, "scaled_encoders"):
            if isinstance(obj.neuron_type, nengo.Direct):
                return built
            scaled = self._signal_value(sigs["encoders"])
            bias = self._signal_value(self.model.sig[obj.neurons]["bias"])
            with np.errstate(divide="ignore", invalid="ignore"):
                encoders = scaled * (obj.radius / np.asarray(built.gain))[:, None]
            return built._replace(scaled_encoders=scaled, encoders=encoders, bias=bias)
        if isinstance(obj, nengo.Connection) and hasattr(built, "weights"):
            sig = sigs.get("weights")
            if sig is not None and sig.base not in self._program.layout.sparse:
                return built._replace(weights=self._signal_value(sig))
        return built

    def _signal_value(self, sig) -> np.ndarray:
        """Current value of a parameter signal (a copy; CSR for sparse ones)."""
        runtime = self._runtime
        offsets = runtime.offsets(sig)
        layout = self._program.layout
        if sig.base in layout.sparse:
            value = layout.sparse[sig.base].copy()
            value.data = runtime.arena[offsets].astype(np.float64)
            return value
        return runtime.arena[offsets].astype(np.float64)

    @property
    def trainable_parameters(self) -> list:
        """(list of TrainableParameter) What `fit` optimizes, from the network's
        ``trainable`` config (see `nengo_native.configure_settings`)."""
        return list(self._trainer.params)

    def compile(self, optimizer=None, loss=None, metrics=None, loss_weights=None):
        """Choose the optimizer, losses and metrics for `fit` and `evaluate`.

        Parameters
        ----------
        optimizer : Optimizer or str, optional
            A `nengo_native.optimizers` instance (e.g. ``Adam(0.01)``) or
            ``"sgd"``, ``"adam"``, ``"rmsprop"``. Needed by `fit` only.
        loss : dict or loss, optional
            ``{probe: loss}``, or one loss for every probe that gets targets. A loss
            is a `nengo_native.losses.Loss`, a name (``"mse"``, ``"mae"``,
            ``"categorical_crossentropy"``, ...) or a callable ``(y_true, y_pred)``
            (training needs its gradient; see `nengo_native.losses`).
        metrics : dict or loss or list, optional
            Extra values to report, per probe or for every probe.
        loss_weights : dict, optional
            ``{probe: weight}`` on each probe's loss in the total (default 1).
        """
        self._trainer.compile(optimizer, loss, metrics, loss_weights)

    def fit(
        self,
        x=None,
        y=None,
        epochs: int = 1,
        batch_size: int | None = None,
        n_steps: int | None = None,
        shuffle: bool = True,
        validation_data=None,
        verbose: int | None = None,
    ) -> History:
        """Train the trainable parameters by gradient descent through time.

        Spiking neurons run as their rate counterparts (LIF as LIFRate, ...);
        every minibatch starts from the simulator's current state, which `fit`
        leaves unchanged (as NengoDL's ``stateful=False``).

        Parameters
        ----------
        x : dict or array, optional
            ``{node: array (n_samples, n_steps, node.size_out)}`` for input nodes,
            or one array when the model has one input node.
        y : dict or array
            ``{probe: targets (n_samples, probe samples, ...)}``, or one array when
            one probe has a loss.
        epochs : int
            Passes over the data.
        batch_size : int, optional
            Must equal ``minibatch_size`` when given.
        n_steps : int, optional
            Steps per sample; taken from ``x`` when given.
        shuffle : bool
            Shuffle the samples every epoch (reproducibly, from the seed).
        validation_data : tuple (x, y), optional
            Evaluated (spiking, as `evaluate`) after every epoch; ``val_*`` keys.
        verbose : int, optional
            0 silent; 1 a progress bar per epoch that ends with the epoch's losses
            (a plain line without a bar); 2 the line only. Default: 1 if the
            simulator's progress bar is on, else 0.

        Returns
        -------
        History
            ``history.history["loss"]`` and the other values, one per epoch.
        """
        return self._trainer.fit(
            x, y, epochs, batch_size, n_steps, shuffle, validation_data, verbose
        )

    def evaluate(self, x=None, y=None, n_steps: int | None = None) -> dict:
        """Losses and metrics of the model as defined (spiking neurons) on data.

        Parameters
        ----------
        x, y, n_steps
            As for `fit`.

        Returns
        -------
        dict
            ``{"loss": total, "<probe>_loss": ..., "<probe>_<metric>": ...}``.
        """
        return self._trainer.evaluate(x, y, n_steps)

    def save_params(self, path) -> str:
        """Save the trainable parameters' current values to ``path`` (``.npz`` is
        added when missing); returns the file name."""
        return parameters.save_params(self._trainer, path)

    def load_params(self, path) -> None:
        """Load parameters saved by `save_params` from a simulator of the same
        model (checked: a file from another model raises ValidationError)."""
        parameters.load_params(self._trainer, path)

    def get_nengo_params(self, objs, as_dict: bool = False):
        """Arguments that make nengo objects reproduce their trained values.

        Parameters
        ----------
        objs : Ensemble or Connection or list of them
        as_dict : bool
            Return ``{str(obj): params}`` instead of a list (or a single dict for a
            single object).
        """
        if self.closed:
            raise SimulatorClosed("Simulator is closed.")
        single = not isinstance(objs, (list, tuple))
        objects = [objs] if single else list(objs)
        params = [parameters.nengo_params(self, obj) for obj in objects]
        if as_dict:
            return {str(obj): p for obj, p in zip(objects, params)}
        return params[0] if single else params

    def freeze_params(self, objs) -> None:
        """Write the current (trained) parameters into the nengo objects, so that
        any simulator built from them, `nengo.Simulator` included, runs the
        trained model.

        Parameters
        ----------
        objs : Network or Ensemble or Connection or list of them
            A network stands for all its ensembles and connections (except
            connections with online learning rules).
        """
        if self.closed:
            raise SimulatorClosed("Simulator is closed.")
        parameters.freeze(self, objs)

    def check_gradients(
        self,
        x=None,
        n_steps: int | None = None,
        eps: float = 1e-6,
        max_checks: int = 10,
        rtol: float = 1e-5,
        seed: int = 0,
    ) -> dict:
        """Compare the backward pass with central finite differences.

        The loss is a fixed random projection of every probe's training-mode
        output; for up to ``max_checks`` elements of each trainable parameter the
        analytic derivative is compared with ``(L(p + eps) - L(p - eps)) / 2 eps``.

        Returns
        -------
        dict
            ``{TrainableParameter: largest relative error}`` (each key has the
            ``obj``, ``name`` and ``signal`` of one parameter).

        Raises
        ------
        nengo.exceptions.SimulationError
            If an error is above ``rtol``.
        """
        from .gradcheck import check_gradients

        return check_gradients(self._trainer, x, n_steps, eps, max_checks, rtol, seed)
