"""`Simulator`: nengo's simulator API on top of the planner and the compiled core."""

from __future__ import annotations

import contextlib
import gc
import logging
import warnings

import numpy as np
from nengo.builder import Model
from nengo.cache import get_default_decoder_cache
from nengo.exceptions import (
    NengoWarning,
    ReadonlyError,
    SimulatorClosed,
    ValidationError,
)
from nengo.utils.numpy import maxint
from nengo.utils.progress import Progress, ProgressTracker

from .data import SimulationData
from .describe import describe_fallbacks
from .engine import Engine
from .inputs import (
    check_batch_data,
    check_data,
    check_dt,
    check_dtype,
    check_exact,
    check_memory,
    check_minibatch_size,
    check_optimize,
    check_positive,
    check_progress_bar,
    check_run_time,
    check_seed,
    check_steps,
    split_batch,
    state_bytes,
    truncate,
)
from .planner import Program, plan_model
from .planner.builder import NativeBuilder
from .training import Trainer, parameters
from .training.config import training_options
from .training.front import TrainingFront
from .unsupported import refuse

logger = logging.getLogger(__name__)


class FallbackWarning(NengoWarning):
    """Some operators run through nengo's own Python code (no native kernel)."""


@contextlib.contextmanager
def _collector_paused():
    """Pause Python's cyclic garbage collector, if it runs, while a model is built.

    A build allocates hundreds of thousands of objects that live as long as the model,
    and each time the young generations fill up the collector walks the older ones
    again: 5-10% of building a network of many small ensembles. Cycles left meanwhile
    are collected once it runs again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Simulator(TrainingFront):
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
    optimize : bool or "nengo", optional
        True (the default): the planner merges same-kind operators itself, in time
        linear in their number, without nengo's optimizer. ``"nengo"``: nengo's
        operator-merging optimizer rewrites the model first, as `nengo.Simulator`
        does. False: no merging.
    dtype : str or numpy.dtype, optional
        ``"float64"`` or ``"float32"``; defaults to nengo's ``rc`` float type.
    minibatch_size : int, optional
        Number of copies of the model run at once, each with its own input data
        (``data=``) and state; parameters are shared. Above 1, probe data gets a
        leading minibatch axis; None (the default) or 1 runs one copy with nengo's
        shapes.
    exact : bool, optional
        True (the default): results match `nengo.Simulator` bit for bit for the
        same seed (spikes included), whatever the thread count, and a minibatch
        item equals the same input run alone. False: the throughput mode, also
        for training (``fit``, ``evaluate``, ``predict``, ``check_gradients``):
        vector ``exp``/``log`` of a few ULP in the neuron kernels, products over
        the minibatch summed in any order, and a node without input called once
        per step for the whole minibatch (its output given to every item, so its
        function must not count on a call per item); outputs and firing rates
        agree with
        the exact mode statistically, not bit for bit. Results are still
        deterministic for a given machine, thread count and minibatch size (see
        ``docs/performance.md``, "exact=False").

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
        optimize: bool | str = True,
        dtype=None,
        minibatch_size: int | None = None,
        exact: bool = True,
        **kwargs,
    ):
        self.closed = True  # until construction succeeds
        refuse("Simulator", kwargs)
        self.exact = check_exact(exact)
        self._signals = None
        self.progress_bar = check_progress_bar(progress_bar)
        self.optimize = optimize = check_optimize(optimize)
        self.dtype = check_dtype(dtype)
        self.minibatch_size = minibatch_size
        items = check_minibatch_size(minibatch_size)

        if seed is not None:
            seed = check_seed(seed)
        if model is None:
            dt = check_dt(dt)
            self.model = Model(
                dt=dt,
                label=f"{network}, dt={dt:f}",
                decoder_cache=get_default_decoder_cache(),
                builder=NativeBuilder(),
            )
        elif isinstance(model, Model):
            self.model = model
        else:
            raise ValidationError(
                f"must be a nengo.builder.Model or None (got {type(model).__name__})",
                attr="model",
            )

        with (
            ProgressTracker(progress_bar, Progress("Building", "Build")) as pt,
            _collector_paused(),
        ):
            program = plan_model(
                network,
                self.model,
                minibatch_size=items,
                dtype=self.dtype,
                optimize=optimize,
                # settings of the model's top-level network, which building sets
                training=training_options,
                progress=pt,
                exact=self.exact,
            )
            check_memory(state_bytes(program), items)
            self._engine = Engine(
                program, has_minibatch_axis=minibatch_size not in (None, 1)
            )
        self.dg = program.dg
        self.signals = self._engine.runtime.signals
        self._trainer_state = None
        if program.fallback_ops:
            text = describe_fallbacks(self.model, program.fallback_ops)
            warnings.warn(FallbackWarning(text), stacklevel=2)
        self.data = SimulationData(
            self.model.params,
            self._engine.records,
            {p.probe: p.shape for p in program.probes},
            self.dtype,
        )

        if seed is None:
            if network is not None and network.seed is not None:
                seed = check_seed(network.seed + 1)
            else:
                seed = np.random.randint(maxint)

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
        self._engine.close()
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
            "probe_chunks": {
                p: list(r.chunks) for p, r in self._engine.records.items()
            },
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
            # the pickled model is as built (or as nengo's optimizer left it); only
            # the planner's merging, which leaves the model alone, runs again
            optimize=state["optimize"] is True,
            dtype=state["dtype"],
            minibatch_size=state["minibatch_size"],
        )
        for key, value in state["signals"].items():
            self.signals[key] = value
        for probe, chunks in state["probe_chunks"].items():
            for chunk in chunks:
                self._engine.records[probe].append(chunk)
        self.optimize = state["optimize"]
        self._engine.read_clock()
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
        return self._engine.n_steps

    @property
    def time(self) -> float:
        """(float) The current time of the simulator."""
        return self._engine.time

    @property
    def step_order(self) -> list:
        """(list) The operators in the order nengo would run them."""
        return self._engine.program.step_order

    @property
    def program(self) -> Program:
        """(Program) What the planner made of the model: kernel steps, layout,
        probes (for inspection)."""
        return self._engine.program

    @property
    def fallback_operators(self) -> list:
        """(list) Operators with no native kernel, run through nengo's ``make_step``."""
        return self._engine.program.fallback_ops

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
            self.seed = check_seed(seed)
        trainer = self._trainer_state
        kept = (
            {p.key: trainer.get(p.key) for p in trainer.params}
            if trainer is not None and not include_trainable
            else {}
        )
        # A new generator, drawn from in nengo's step order as nengo's reset does.
        self.rng = self._engine.reset(self.seed)
        for key, value in kept.items():
            trainer.set(key, value)
        self.clear_probes()

    def clear_probes(self) -> None:
        """Clear all probe histories."""
        self._engine.clear_records()

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
        time_in_seconds = check_run_time(time_in_seconds)
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
            Number of steps to run; at least 1 (as in nengo).
        progress_bar : bool or ProgressBar, optional
            Overrides the simulator's progress bar for this run.
        data : dict, optional
            ``{node: array (minibatch, steps, node.size_out)}``: values that replace
            the outputs of input nodes (nodes without input) during this run.

        Notes
        -----
        A subclass that overrides `step` (as nengo-extras' real-time simulator
        does) has its `step` called once per step, as `nengo.Simulator` does,
        instead of the core running the steps in chunks.
        """
        if self.closed:
            raise SimulatorClosed("Simulator cannot run because it is closed.")
        steps = check_steps(steps, "steps")
        data = self._check_run_data(data, steps)
        if steps == 0:
            # nengo's progress bar refuses a run of 0 steps with this error
            raise ValidationError("must be at least 1 (got 0)", attr="steps")
        self._engine.check_probe_memory(steps, self._engine.minibatch_size)
        if progress_bar is None:
            progress_bar = self.progress_bar
        else:
            progress_bar = check_progress_bar(progress_bar)
        if type(self).step is not Simulator.step:
            self._run_overridden_steps(steps, data, progress_bar)
        else:
            self._engine.simulate(steps, data, progress_bar)

    def _run_overridden_steps(self, steps: int, data: dict, progress_bar) -> None:
        # A subclass's `step` may pace or observe each step; the core's chunked run
        # would bypass it, so call it once per step as nengo's run_steps does.
        with ProgressTracker(
            progress_bar, Progress("Simulating", "Simulation", steps)
        ) as tracker:
            for i in range(steps):
                if data:
                    self.step(data={k: v[:, i : i + 1] for k, v in data.items()})
                else:
                    self.step()
                tracker.total_progress.step()

    def step(self, data: dict | None = None) -> None:
        """Advance the simulator by one step (``dt`` seconds).

        Parameters
        ----------
        data : dict, optional
            ``{node: array (minibatch, 1, node.size_out)}`` for this step.
        """
        if self.closed:
            raise SimulatorClosed("Simulator cannot run because it is closed.")
        self._engine.record(1, self._check_run_data(data, 1))

    def _check_run_data(self, data, steps: int) -> dict:
        engine = self._engine
        return check_data(
            data, engine.input_nodes, engine.minibatch_size, steps, dtype=self.dtype
        )[0]

    # -- batched prediction (NengoDL's names and meanings) --------------------------

    def predict_on_batch(
        self,
        x=None,
        n_steps: int | None = None,
        stateful: bool = False,
        *,
        first_item: int = 0,
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
        first_item : int, optional
            Without ``stateful``: the index of ``x``'s first item in a larger batch
            that is run in parts. Item ``b`` gets the random streams of item
            ``first_item + b`` of that batch, so the parts give what the whole batch
            gives (item 0 draws ``nengo.Simulator``'s own numbers).

        Returns
        -------
        dict
            ``{probe: array (minibatch_size, samples, *probe shape)}``.
        """
        n_steps, stateful = self._check_predict_args(n_steps, stateful)
        engine = self._engine
        data, n_steps = check_data(
            x, engine.input_nodes, engine.minibatch_size, n_steps, "x", self.dtype
        )
        if n_steps is None:
            raise ValidationError("give input data or n_steps", attr="n_steps")
        return engine.predict(
            [data],
            n_steps,
            stateful,
            self.progress_bar,
            check_steps(first_item, "first_item"),
        )

    def predict(
        self,
        x=None,
        n_steps: int | None = None,
        stateful: bool = False,
        *,
        first_item: int = 0,
        **kwargs,
    ) -> dict:
        """Run input data of any batch size through the model, a minibatch at a time.

        Parameters
        ----------
        x : dict or array, optional
            ``{node: array (batch, n_steps, node.size_out)}`` (or one array when the
            model has a single input node); when ``batch`` is not a multiple of
            ``minibatch_size`` the extra samples are left out, with a warning.
        n_steps : int, optional
            Number of steps; taken from ``x`` when given.
        stateful : bool, optional
            If True each minibatch continues from the state the previous one left
            and the simulator keeps the final state; if False every minibatch
            starts from the current state and the simulator is left unchanged, and
            item ``i`` gets the random streams of item ``i`` of the whole batch
            (the same whatever ``minibatch_size``).
        first_item : int, optional
            Without ``stateful``: the index of ``x``'s first item in a larger batch
            that is run in parts. Item ``b`` gets the random streams of item
            ``first_item + b`` of that batch, so the parts give what the whole batch
            gives (item 0 draws ``nengo.Simulator``'s own numbers).

        Returns
        -------
        dict
            ``{probe: array (batch, samples, *probe shape)}``.
        """
        refuse("predict", kwargs)
        n_steps, stateful = self._check_predict_args(n_steps, stateful)
        if isinstance(x, dict) and not x:
            x = None
        if x is None:
            if n_steps is None:
                raise ValidationError("give input data or n_steps", attr="n_steps")
            return self.predict_on_batch(None, n_steps, stateful, first_item=first_item)
        engine = self._engine
        data, n_steps = check_batch_data(x, engine.input_nodes, n_steps, self.dtype)
        data = truncate(data, engine.minibatch_size)
        return engine.predict(
            split_batch(data, engine.minibatch_size),
            n_steps,
            stateful,
            self.progress_bar,
            check_steps(first_item, "first_item"),
        )

    def _check_predict_args(self, n_steps, stateful) -> tuple[int | None, bool]:
        if self.closed:
            raise SimulatorClosed("Simulator cannot run because it is closed.")
        if n_steps is not None:
            n_steps = check_steps(n_steps, "n_steps")
        if not isinstance(stateful, (bool, np.bool_)):
            raise ValidationError(
                f"must be True or False (got {stateful!r})", attr="stateful"
            )
        return n_steps, bool(stateful)

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
        if sample_every is not None:
            sample_every = check_positive(sample_every, "sample_every")
        period = 1 if sample_every is None else sample_every / self.dt
        steps = np.arange(1, self.n_steps + 1)
        return self.dt * steps[steps % period < 1]

    # -- training (NengoDL's names and meanings; see `TrainingFront`) ------------------

    @property
    def trainer(self) -> Trainer:
        """(Trainer) The training state behind `compile`, `fit` and `evaluate`,
        made on first use."""
        if self.closed:
            raise SimulatorClosed("Simulator cannot train because it is closed.")
        if self._trainer_state is None:
            engine = self._engine
            self._trainer_state = Trainer(engine, self.seed)
            self.data.live = lambda obj, built: parameters.live_params(
                engine, obj, built
            )
        return self._trainer_state
