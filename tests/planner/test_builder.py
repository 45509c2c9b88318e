"""NativeBuilder: nengo's build minus repeated decoder work, to the same numbers."""

import nengo
import numpy as np
import pytest
from nengo.builder import Builder, Model
from nengo.builder.connection import BuiltConnection
from nengo.exceptions import BuildError

import nengo_native
from nengo_native.planner import builder as native_builder
from nengo_native.planner.builder import NativeBuilder, RowShuffleRandomState


def _built(net, builder=None):
    model = Model(dt=0.001, builder=builder)
    model.build(net)
    return model


def _decoded_network():
    with nengo.Network(seed=3) as net:
        stim = nengo.Node(lambda t: np.sin(3 * t))
        a = nengo.Ensemble(60, 2)
        b = nengo.Ensemble(40, 1, neuron_type=nengo.LIFRate())
        c = nengo.Ensemble(30, 1, neuron_type=nengo.RectifiedLinear())
        nengo.Connection(stim, a[0])
        # Three decoded connections from `a` share its rates; one has its own points.
        nengo.Connection(a, b, function=lambda x: x[0] * x[1])
        nengo.Connection(a, c, function=lambda x: (x[0] ** 2,))
        nengo.Connection(
            a, b, function=lambda x: [x[1]], solver=nengo.solvers.LstsqL2nz()
        )
        nengo.Connection(
            a,
            c,
            eval_points=np.linspace(-1, 1, 50)[:, None] * [1, 0.5],
            function=lambda x: x[0],
        )
        nengo.Connection(b, c, solver=nengo.solvers.LstsqL2(weights=True))
        points = np.linspace(-1, 1, 40)[:, None]
        nengo.Connection(c, b, eval_points=points, function=points**3)
        nengo.Probe(b, synapse=0.01)
    return net


def test_decoders_identical_to_nengos_builder():
    net = _decoded_network()
    ours, theirs = _built(net, NativeBuilder()), _built(net)
    assert len(net.all_connections) == 7
    for conn in net.all_connections:
        mine, nengos = ours.params[conn], theirs.params[conn]
        assert isinstance(mine, BuiltConnection)
        assert np.array_equal(mine.weights, nengos.weights), conn
        assert np.array_equal(mine.eval_points, nengos.eval_points), conn


def test_simulator_output_same_as_with_nengos_builder():
    net = _decoded_network()
    probe = net.probes[0]
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        assert isinstance(sim.model.builder, NativeBuilder)
        sim.run(0.2)
    with nengo_native.Simulator(net, model=Model(), progress_bar=False) as plain:
        plain.run(0.2)
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run(0.2)
    assert np.array_equal(sim.data[probe], plain.data[probe])
    # nengo's own results move by this much between optimize=True and False
    assert np.allclose(sim.data[probe], ref.data[probe], rtol=0, atol=1e-14)


def test_function_returning_none_is_nengos_build_error():
    with nengo.Network() as net:
        a = nengo.Ensemble(10, 1)
        nengo.Connection(a, nengo.Node(size_in=1), function=lambda x: None)
    with pytest.raises(BuildError, match="Connection function returned None"):
        _built(net, NativeBuilder())


def test_registered_solver_builder_still_applies():
    class HalfSolver(nengo.solvers.LstsqL2):
        """A solver type with its own build function."""

    calls = []

    @Builder.register(HalfSolver)
    def build_half(model, solver, conn, rng):
        calls.append(conn)
        eval_points, decoders, info = nengo.builder.connection.build_decoders(
            model, conn, rng
        )
        return eval_points, decoders / 2, info

    try:
        with nengo.Network(seed=1) as net:
            a = nengo.Ensemble(20, 1)
            conn = nengo.Connection(a, nengo.Node(size_in=1), solver=HalfSolver())
        model = _built(net, NativeBuilder())
        assert calls == [conn]
        assert np.array_equal(
            model.params[conn].weights, _built(net).params[conn].weights
        )
    finally:
        del Builder.builders[HalfSolver]


def test_rates_computed_once_per_ensemble(monkeypatch):
    """An ensemble's rates at its own evaluation points are computed once however far
    apart its decoded connections (and decoded probes) are built; a connection with
    points of its own gets its own."""
    calls = []
    rates = nengo.LIF.rates

    def counted(self, x, gain, bias):
        calls.append(x.shape)
        return rates(self, x, gain, bias)

    monkeypatch.setattr(nengo.LIF, "rates", counted)
    with nengo.Network(seed=2) as net:
        ensembles = [nengo.Ensemble(30, 1) for _ in range(6)]
        sink = nengo.Node(size_in=1)
        for function in (np.sin, np.cos, np.tanh):  # all first outputs, then seconds
            for ens in ensembles:
                nengo.Connection(ens, sink, function=function)
        nengo.Connection(
            ensembles[0], sink, eval_points=np.linspace(-1, 1, 40)[:, None]
        )
        nengo.Probe(ensembles[1], synapse=0.01)
    builder = NativeBuilder()
    model = _built(net, builder)
    assert len(calls) == len(ensembles) + 1
    assert not builder._activities  # each kept matrix went with its last connection
    reference = _built(net)
    for conn in net.all_connections:
        assert np.array_equal(
            model.params[conn].weights, reference.params[conn].weights
        )
    builder.release()
    assert builder._pending is None


@pytest.mark.parametrize("shape", [(750, 1), (64, 3), (5, 2, 2), (1, 4), (9,), (0, 2)])
def test_row_shuffle_is_numpys_shuffle(shape):
    x = np.random.RandomState(0).standard_normal(shape)
    theirs, ours = x.copy(), x.copy()
    reference, fast = np.random.RandomState(7), RowShuffleRandomState(7)
    reference.shuffle(theirs)
    fast.shuffle(ours)
    assert np.array_equal(ours, theirs)
    assert reference.randint(1 << 30) == fast.randint(1 << 30)  # same state after


@pytest.mark.parametrize("seed", [0, 1, 2**31 + 5, 2**32 - 1])
def test_seeded_generator_is_seeded_randomstate(seed):
    ours, theirs = RowShuffleRandomState.seeded(seed), np.random.RandomState(seed)
    for mine, reference in zip(ours.get_state(), theirs.get_state(), strict=True):
        assert np.array_equal(mine, reference)
    assert np.array_equal(ours.standard_normal(5), theirs.standard_normal(5))


def _ensemble_zoo():
    with nengo.Network(seed=11) as net:
        nengo.Ensemble(40, 1)
        nengo.Ensemble(30, 3, radius=2.0, n_eval_points=123)
        nengo.Ensemble(20, 2, neuron_type=nengo.Direct())
        nengo.Ensemble(
            25,
            2,
            encoders=np.random.RandomState(1).standard_normal((25, 2)),
            normalize_encoders=False,
            eval_points=np.random.RandomState(2).uniform(-1, 1, (80, 2)),
        )
        nengo.Ensemble(
            15,
            1,
            gain=nengo.dists.Uniform(1, 3),
            bias=nengo.dists.Uniform(-1, 1),
            neuron_type=nengo.RectifiedLinear(),
            noise=nengo.processes.WhiteNoise(nengo.dists.Gaussian(0, 0.1)),
        )
        nengo.Ensemble(
            35, 4, encoders=nengo.dists.UniformHypersphere(surface=True)
        ).eval_points = nengo.dists.Uniform(-0.5, 0.5)
        # neuron types with more state, and one with a build function of its own
        nengo.Ensemble(12, 1, neuron_type=nengo.AdaptiveLIF())
        nengo.Ensemble(10, 2, neuron_type=nengo.Izhikevich())
        nengo.Ensemble(8, 1, neuron_type=nengo.PoissonSpiking(nengo.LIFRate()))
    return net


def test_ensemble_build_is_nengos():
    """Every ensemble's parameters, signals and operators as nengo builds them."""
    net = _ensemble_zoo()
    ours, theirs = _built(net, NativeBuilder()), _built(net)
    for ens in net.all_ensembles:
        for name, value in theirs.params[ens]._asdict().items():
            assert np.array_equal(getattr(ours.params[ens], name), value), (ens, name)
        for obj in (ens, ens.neurons):
            assert theirs.sig[obj].keys() == ours.sig[obj].keys()
            for key, sig in theirs.sig[obj].items():
                mine = ours.sig[obj][key]
                assert mine.name == sig.name
                assert np.array_equal(mine.initial_value, sig.initial_value)

    def describe(op):
        return type(op).__name__, op.tag, [(s.name, s.shape) for s in op.all_signals]

    assert [describe(op) for op in ours.operators] == [
        describe(op) for op in theirs.operators
    ]


def test_ensemble_nan_encoders_are_nengos_build_error():
    with nengo.Network() as net:
        nengo.Ensemble(2, 2, encoders=[[0, 0], [1, 0]])
    # nengo's suite matches this part of the message
    with pytest.raises(BuildError, match="zero-length encoders"):
        _built(net, NativeBuilder())


def test_other_nengo_releases_build_ensembles_with_nengos_builder(monkeypatch):
    used = []
    monkeypatch.setattr(
        NativeBuilder, "_build_ensemble", staticmethod(lambda *a: used.append(a))
    )
    net = _ensemble_zoo()
    _built(net, NativeBuilder())
    assert len(used) == len(net.all_ensembles)
    used.clear()
    monkeypatch.setattr(native_builder.nengo, "__version__", "4.2.0")
    _built(net, NativeBuilder())
    assert used == []


def _random_connection_zoo():
    """Connections whose build draws from the connection's generator."""
    with nengo.Network(seed=5) as net:
        a = nengo.Ensemble(40, 2)
        b = nengo.Ensemble(30, 3)
        nengo.Connection(a, b, transform=nengo.dists.Uniform(-1, 1))
        nengo.Connection(a, b[:2], solver=nengo.solvers.LstsqNoise(noise=0.2))
        conn = nengo.Connection(a, b[0], function=lambda x: x[0] * x[1])
        conn.eval_points = nengo.dists.Uniform(-0.5, 0.5)
        nengo.Connection(a.neurons, b.neurons, transform=nengo.dists.Gaussian(0, 1e-3))
        nengo.Connection(a, b, transform=np.eye(3, 2), learning_rule_type=nengo.PES())
        nengo.Probe(a, synapse=0.01)  # a decoded probe builds a connection too
    return net


def test_connection_generators_are_nengos():
    """Draws from each connection's generator (transforms, solver noise, evaluation
    points) are nengo's, and the model's seeds are left as they were."""
    net = _random_connection_zoo()
    ours, theirs = _built(net, NativeBuilder()), _built(net)
    assert all(ours.seeds[obj] == theirs.seeds[obj] for obj in net.all_objects)
    assert all(isinstance(seed, (int, np.integer)) for seed in ours.seeds.values())

    def connections(model):  # the network's, then the decoded probe's own
        return [obj for obj in model.params if isinstance(obj, nengo.Connection)]

    assert len(connections(ours)) == len(net.all_connections) + 1
    for mine, nengos in zip(connections(ours), connections(theirs), strict=True):
        for name in ("eval_points", "weights"):
            assert np.array_equal(
                getattr(ours.params[mine], name), getattr(theirs.params[nengos], name)
            ), (mine, name)


def test_other_nengo_releases_seed_connections_as_nengo_does(monkeypatch):
    seeded = []
    legacy = native_builder.legacy_mt19937
    monkeypatch.setattr(
        native_builder,
        "legacy_mt19937",
        lambda seed: seeded.append(seed) or legacy(seed),
    )
    net = _random_connection_zoo()
    _built(net, NativeBuilder())
    # every ensemble and its neurons, every connection and the decoded probe's
    assert len(seeded) == 2 * len(net.all_ensembles) + len(net.all_connections) + 1
    seeded.clear()
    monkeypatch.setattr(native_builder.nengo, "__version__", "4.2.0")
    _built(net, NativeBuilder())
    assert seeded == []


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
def test_legacy_mt19937_is_randomstates(seed):
    ours = np.random.RandomState(native_builder.legacy_mt19937(seed))
    theirs = np.random.RandomState(seed)
    for mine, reference in zip(ours.get_state(), theirs.get_state(), strict=True):
        assert np.array_equal(mine, reference)


@pytest.mark.parametrize(
    "function, size_out",
    [
        (lambda x: x[0] ** 2, 1),  # numpy scalars
        (lambda x: 0 if x[0] < 0 else 2 * x, 1),  # ints and 1-element arrays
        (lambda x: [x[0], 1], 2),  # lists
        (lambda x: (x[0], 2), 2),  # tuples
        (lambda x: np.outer(x, [1, 2])[:1], 2),  # 2-D rows
        (lambda x: np.nan if x[0] > 0.5 else x[0], 1),  # NaN where asked for
        (lambda x: x[0] > 0, 1),  # booleans
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_connection_targets_are_nengos(function, size_out, dtype):
    from nengo.builder.connection import get_targets

    with nengo.Network():
        a = nengo.Ensemble(10, 1)
        conn = nengo.Connection(
            a, nengo.Node(size_in=size_out), function=function, synapse=None
        )
    points = np.linspace(-1, 1, 41, dtype=dtype)[:, None]
    ours = native_builder.connection_targets(conn, points, dtype)
    theirs = get_targets(conn, points, dtype=dtype)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert np.array_equal(ours, theirs, equal_nan=True)
