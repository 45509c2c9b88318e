"""nengo's builder, with repeated costs removed (same numbers).

Most of a first build is nengo's decoder solving: evaluating the connection's function
at each evaluation point, the neurons' rates at those points, and the solver. Two parts
of it repeat work whose result is already known:

- ``get_targets`` reads ``conn.function`` through nengo's parameter descriptor once per
  evaluation point, and stores the outputs one by one; here it is read once per
  connection, and outputs that are all numbers or all sequences of one length become an
  array in one call.
- Each decoded connection from an ensemble computes the ensemble's rates at its
  evaluation points again, although connections that use the ensemble's own points get
  the same matrix; here it is kept until the ensemble's last such connection is built
  (nengo's networks often make an ensemble's outputs far apart: an EnsembleArray adds
  one output function to all its ensembles, then the next).

Two more are numpy's, in nengo's use of it:

- nengo makes each ensemble's, neuron population's and connection's generator with
  ``RandomState(seed)``, which seeds a new MT19937 from the operating system's entropy
  through a SeedSequence (about 60 of its 90 us) before the legacy seeding of ``seed``
  overwrites that state; here the generators are seeded once, into the same state.
- nengo's distributions shuffle evaluation points and encoders with
  ``RandomState.shuffle``, which moves the rows of a 2-D array one at a time (about
  0.35 ms for an ensemble's 750 points, 10-20% of a build of many small ensembles).
  Ensembles here are built with a generator whose ``shuffle`` permutes an index vector
  instead: the same draws in the same order, so the same rows in the same places and the
  same generator state afterwards.

Everything else is nengo's: the same functions are called in the same order with the
same arguments, so decoders (and with them every output) are bit for bit
`nengo.Simulator`'s. Registries stay shared: a build function registered with
``nengo.builder.Builder.register`` applies here too, and a solver type with its own
registered build function keeps it.
"""

from __future__ import annotations

from collections import Counter

import nengo
import nengo.utils.numpy as npext
import numpy as np
from nengo import rc
from nengo.builder import Builder
from nengo.builder.connection import build_connection as nengo_build_connection
from nengo.builder.connection import build_solver as nengo_build_solver
from nengo.builder.connection import get_eval_points
from nengo.builder.ensemble import BuiltEnsemble, gen_eval_points, get_gain_bias
from nengo.builder.ensemble import build_ensemble as nengo_build_ensemble
from nengo.builder.neurons import SimNeurons
from nengo.builder.neurons import build_neurons as nengo_build_neurons
from nengo.builder.operator import Copy, DotInc, Reset
from nengo.builder.signal import Signal
from nengo.connection import Connection
from nengo.dists import Distribution, get_samples
from nengo.ensemble import Ensemble
from nengo.exceptions import BuildError
from nengo.neurons import Direct
from nengo.solvers import Solver
from nengo.transforms import Dense
from numpy.random.bit_generator import ISeedSequence

# Bytes of rate matrices (evaluation points x neurons) kept at once: those of a few
# hundred ensembles of a typical size, and a bound for networks of any size.
_KEPT_BYTES = 256 * 2**20


# The nengo releases whose ensemble and neuron builds `_build_ensemble` and
# `_build_neurons` reproduce (checked operator for operator by
# tests/planner/test_builder.py), and whose connection build reads the connection's seed
# once, for its generator (see `_build_connection`); others get nengo's own builds.
_NENGO_BUILDS_CHECKED = ("4.1.",)


class _ZeroSeedSequence(ISeedSequence):
    """A seed sequence whose state is zeros, for a generator seeded again at once."""

    def generate_state(self, n_words, dtype=np.uint32):
        # a list: MT19937 copies the state word by word, and indexing a list costs a
        # sixth of indexing an array (5 us instead of 30 for a generator)
        return [0] * n_words


def legacy_mt19937(seed: int) -> np.random.MT19937:
    """The bit generator of ``RandomState(seed)``, in the same state, seeded once.

    ``RandomState(seed)`` first seeds a new MT19937 from the operating system's entropy
    through a SeedSequence (about 60 us of the 90 us it takes), then overwrites that
    state with the legacy seeding of ``seed``. Here the first state is zeros.
    """
    bit_generator = np.random.MT19937(_ZeroSeedSequence())
    np.random.RandomState(bit_generator).seed(seed)  # seeds bit_generator in place
    return bit_generator


class RowShuffleRandomState(np.random.RandomState):
    """`numpy.random.RandomState` whose ``shuffle`` of rows permutes an index instead.

    numpy shuffles a multi-dimensional array by swapping rows one by one at the speed
    of Python objects, a 1-D array in a C loop; both draw ``randint(0, i + 1)`` for
    ``i = n - 1, ..., 1`` in the same way. Shuffling ``arange(n)`` and taking the rows
    in that order gives the same array and leaves the generator in the same state, 40
    times faster.
    """

    @classmethod
    def seeded(cls, seed: int) -> RowShuffleRandomState:
        """``cls(seed)``, in the same state, seeded once (see `legacy_mt19937`)."""
        return cls(legacy_mt19937(seed))

    def shuffle(self, x):
        if type(x) is np.ndarray and x.ndim > 1 and len(x) > 1:
            order = np.arange(len(x))
            super().shuffle(order)
            x[...] = x[order]
        else:
            super().shuffle(x)


def _is_nengos(neuron_type) -> bool:
    """Whether ``neuron_type`` is nengo's own, whose rates are a pure function."""
    return type(neuron_type).__module__.startswith("nengo.")


def connection_targets(conn, eval_points: np.ndarray, dtype) -> np.ndarray:
    """nengo's ``get_targets``, calling the same function on the same points."""
    function = conn.function
    if function is None:
        return eval_points[:, conn.pre_slice].astype(dtype)
    if isinstance(function, np.ndarray):
        return function
    points = eval_points[:, conn.pre_slice]
    outputs = list(map(function, points))
    try:  # all outputs numbers, or all sequences of one length: one conversion
        targets = np.array(outputs, dtype=dtype)
    except (TypeError, ValueError):
        targets = None
    shape = (len(points), conn.size_mid)
    if (
        targets is not None
        and (targets.shape == shape or (shape[1] == 1 and targets.shape == shape[:1]))
        and not np.isnan(targets).any()  # a None becomes NaN; below, it is an error
    ):
        return targets.reshape(shape)
    targets = np.zeros(shape, dtype=dtype)
    for i, out in enumerate(outputs):
        if out is None:
            raise BuildError(
                f"Building {conn}: Connection function returned None. "
                "Cannot solve for decoders."
            )
        if isinstance(out, (tuple, list)):
            out = np.hstack(out)
        targets[i] = out
    return targets


class NativeBuilder(Builder):
    """`nengo.builder.Builder` whose decoder solving skips repeated work.

    Used by the `nengo_native.Simulator`'s own `nengo.builder.Model`; call `release`
    once the network is built to drop the kept rate matrices.
    """

    def __init__(self):
        self._activities: dict = {}
        self._kept_bytes = 0
        # ensemble -> decoded connections on its own points not built yet
        self._pending: Counter | None = None

    def build(self, model, obj, *args, **kwargs):
        builds = self._registered(obj)
        if isinstance(obj, Solver) and builds is nengo_build_solver:
            conn, rng = args
            return self._build_decoders(model, conn, rng)
        if nengo.__version__.startswith(_NENGO_BUILDS_CHECKED):
            if isinstance(obj, Ensemble) and builds is nengo_build_ensemble:
                return self._build_ensemble(model, obj)
            if (
                isinstance(obj, Connection)
                and builds is nengo_build_connection
                and model.seeds.get(obj) is not None
            ):
                return self._build_connection(model, obj, *args, **kwargs)
        return super().build(model, obj, *args, **kwargs)

    def _build_connection(self, model, conn, *args, **kwargs):
        # nengo's build_connection starts with RandomState(model.seeds[conn]) and reads
        # the seed nowhere else; given a bit generator already in that seed's state,
        # RandomState takes it as it is.
        seed = model.seeds[conn]
        model.seeds[conn] = legacy_mt19937(seed)
        try:
            return super().build(model, conn, *args, **kwargs)
        finally:
            model.seeds[conn] = seed

    def _build_ensemble(self, model, ens) -> None:
        # nengo.builder.ensemble.build_ensemble's operators, signals and draws in its
        # order, with RowShuffleRandomState as the ensemble's generator.
        dtype = rc.float_dtype
        rng = RowShuffleRandomState.seeded(model.seeds[ens])
        eval_points = gen_eval_points(ens, ens.eval_points, rng=rng, dtype=dtype)
        sig_in = Signal(shape=ens.dimensions, name=f"{ens}.signal")
        model.sig[ens]["in"] = sig_in
        model.add_op(Reset(sig_in))

        direct = isinstance(ens.neuron_type, Direct)
        if direct:
            encoders = np.identity(ens.dimensions, dtype=dtype)
        elif isinstance(ens.encoders, Distribution):
            encoders = get_samples(ens.encoders, ens.n_neurons, ens.dimensions, rng=rng)
            encoders = np.asarray(encoders, dtype=dtype)
        else:
            encoders = npext.array(ens.encoders, min_dims=2, dtype=dtype)
        if ens.normalize_encoders:
            encoders /= npext.norm(encoders, axis=1, keepdims=True)
        if np.any(np.isnan(encoders)):
            raise BuildError(
                f"Building {ens}: its encoders contain NaN, which normalizing "
                "zero-length encoders gives; give every encoder a non-zero length or "
                "set normalize_encoders=False"
            )
        gain, bias, max_rates, intercepts = get_gain_bias(ens, rng, dtype=dtype)

        neurons = model.sig[ens.neurons]
        if direct:
            neurons["in"] = neurons["out"] = Signal(
                shape=ens.dimensions, name=f"{ens}.neuron_in"
            )
            model.add_op(Reset(neurons["in"]))
            scaled_encoders = encoders
        else:
            neurons["in"] = Signal(shape=ens.n_neurons, name=f"{ens}.neuron_in")
            neurons["out"] = Signal(shape=ens.n_neurons, name=f"{ens}.neuron_out")
            neurons["bias"] = Signal(bias, name=f"{ens}.bias", readonly=True)
            model.add_op(Copy(neurons["bias"], neurons["in"]))
            if self._registered(ens.neuron_type) is nengo_build_neurons:
                self._build_neurons(model, ens.neuron_type, ens.neurons)
            else:
                model.build(ens.neuron_type, ens.neurons)
            scaled_encoders = encoders * (gain / ens.radius)[:, np.newaxis]
        model.sig[ens]["encoders"] = Signal(
            scaled_encoders, name=f"{ens}.scaled_encoders", readonly=True
        )
        if ens.noise is not None:
            model.build(ens.noise, sig_out=neurons["in"], mode="inc")
        model.add_op(
            DotInc(
                model.sig[ens]["encoders"], sig_in, neurons["in"], tag=f"{ens} encoding"
            )
        )
        model.sig[ens]["out"] = neurons["out"]
        model.params[ens] = BuiltEnsemble(
            eval_points=eval_points,
            encoders=encoders,
            intercepts=intercepts,
            max_rates=max_rates,
            scaled_encoders=scaled_encoders,
            gain=gain,
            bias=bias,
        )

    @staticmethod
    def _build_neurons(model, neuron_type, neurons) -> None:
        # nengo.builder.neurons.build_neurons, with its generator seeded once.
        signals = model.sig[neurons]
        rng = np.random.RandomState(legacy_mt19937(model.seeds[neurons.ensemble] + 1))
        dtype = signals["in"].dtype
        state = {}
        for key, init in neuron_type.make_state(
            neurons.size_in, rng=rng, dtype=dtype
        ).items():
            if key in signals:
                raise BuildError(
                    f"State name '{key}' overlaps with existing signal name"
                )
            if npext.is_array_like(init):
                signals[key] = state[key] = Signal(
                    initial_value=init, name=f"{neurons}.{key}"
                )
            elif isinstance(init, np.random.RandomState):
                state[key] = init
            else:
                raise BuildError(
                    f"State '{key}' is of type '{type(init).__name__}'. Only "
                    "array-likes and RandomStates are currently supported."
                )
        model.add_op(
            SimNeurons(
                neurons=neuron_type, J=signals["in"], output=signals["out"], state=state
            )
        )

    def release(self) -> None:
        """Forget the kept rate matrices (the build is over)."""
        self._activities.clear()
        self._kept_bytes = 0
        self._pending = None

    def _pending_for(self, model) -> Counter:
        if self._pending is None:
            self._pending = Counter()
            network = model.toplevel
            if network is not None:
                self._pending.update(
                    conn.pre_obj
                    for conn in network.all_connections
                    if isinstance(conn.pre_obj, Ensemble) and conn.eval_points is None
                )
                # a decoded probe of an ensemble is one more such connection
                self._pending.update(
                    probe.target
                    for probe in network.all_probes
                    if isinstance(probe.target, Ensemble)
                    and probe.attr == "decoded_output"
                )
        return self._pending

    def _registered(self, obj):
        for cls in type(obj).__mro__:
            if cls in self.builders:
                return self.builders[cls]
        return None

    def _build_decoders(self, model, conn, rng):
        # nengo.builder.connection.build_decoders, step for step.
        ens = conn.pre_obj
        encoders = model.params[ens].encoders
        gain = model.params[ens].gain
        bias = model.params[ens].bias

        eval_points = get_eval_points(model, conn, rng)
        targets = connection_targets(conn, eval_points, rc.float_dtype)

        if conn.solver.weights and not conn.solver.compositional:
            if not isinstance(conn.transform, Dense):
                raise BuildError(
                    "Non-compositional solvers only work with Dense transforms"
                )
            transform = conn.transform.sample(rng=rng)
            targets = np.dot(targets, transform.T)
            post_enc = model.params[conn.post_obj].scaled_encoders
            targets = np.dot(targets, post_enc.T[conn.post_slice])

        x = np.dot(eval_points, encoders.T / ens.radius)
        solve = self._solver_for(conn, self._pending_for(model))
        if model.seeded[conn]:
            solve = model.decoder_cache.wrap_solver(solve)
        decoders, solver_info = solve(conn, gain, bias, x, targets, rng=rng)
        return eval_points, decoders.T, solver_info

    def _solver_for(self, conn, pending: Counter):
        ens = conn.pre_obj
        # Only the ensemble's own points give every such connection the same x.
        shared = conn.eval_points is None and _is_nengos(ens.neuron_type)

        def solve_for_decoders(conn, gain, bias, x, targets, rng):
            activities = self._activities.pop(ens, None) if shared else None
            if activities is None:
                activities = ens.neuron_type.rates(x, gain, bias)
            else:
                self._kept_bytes -= activities.nbytes
            given = activities
            if shared:
                pending[ens] -= 1
                if pending[ens] > 0 and (
                    self._kept_bytes + activities.nbytes <= _KEPT_BYTES
                ):
                    self._activities[ens] = activities
                    self._kept_bytes += activities.nbytes
                    given = activities.copy()  # a solver may write into its argument
            if np.count_nonzero(activities) == 0:
                raise BuildError(
                    f"Building {conn}: 'activities' matrix is all zero for {ens}. "
                    "This is because no evaluation points fall in the firing "
                    "ranges of any neurons."
                )
            return conn.solver(given, targets, rng=rng)

        return solve_for_decoders
