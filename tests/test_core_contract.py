"""The Python-C++ contract: the planner emits only kernels and parameters the core
declares (`_core.kernel_schemas()`), and the core refuses anything else at its border.

The models below together use every lowering and every registered kernel kind, so a
kernel the planner never emits, or a lowering that names a parameter its kernel does
not read, fails here.
"""

from __future__ import annotations

import nengo
import numpy as np
import pytest
from nengo.builder import Model
from nengo.builder.operator import DotInc, Reset
from nengo.builder.signal import Signal

import nengo_native
from nengo_native import _core
from nengo_native.planner import KernelStep, plan_model
from nengo_native.training.config import training_options


def plan_network(net, batch: int = 1, training: dict | None = None, exact: bool = True):
    """The Program the simulator would run for ``net`` (a `nengo.Network`, or an
    already built `nengo.builder.Model`), without nengo's optimizer."""
    kwargs = dict(minibatch_size=batch, optimize=False, training=training, exact=exact)
    if isinstance(net, Model):
        return plan_model(model=net, **kwargs)
    return plan_model(net, **kwargs)


SCHEMAS = _core.kernel_schemas()


def neuron_types_net() -> nengo.Network:
    """One ensemble of every neuron type with a kernel."""
    types = [
        nengo.LIF(),
        nengo.LIFRate(),
        nengo.AdaptiveLIF(),
        nengo.AdaptiveLIFRate(),
        nengo.RectifiedLinear(),
        nengo.SpikingRectifiedLinear(),
        nengo.Sigmoid(),
        nengo.Tanh(),
        nengo.Izhikevich(),
        nengo.RegularSpiking(nengo.LIFRate()),
        nengo.StochasticSpiking(nengo.LIFRate()),
        nengo.PoissonSpiking(nengo.LIFRate()),
    ]
    with nengo.Network(seed=0) as net:
        stim = nengo.Node(np.sin)
        for neuron_type in types:
            ens = nengo.Ensemble(10, 1, neuron_type=neuron_type)
            nengo.Connection(stim, ens)
            nengo.Probe(ens, synapse=0.01)
    return net


def transforms_net() -> nengo.Network:
    """Dense, scalar, sparse, convolution and integer products; every filter."""
    with nengo.Network(seed=1) as net:
        stim = nengo.Node(lambda t: [np.sin(t)] * 16)
        a = nengo.Ensemble(20, 3)
        b = nengo.Ensemble(20, 3)
        nengo.Connection(stim[:3], a, synapse=nengo.Alpha(0.01))
        nengo.Connection(a, b, synapse=nengo.synapses.Triangle(0.01))
        nengo.Connection(a.neurons, b.neurons, transform=0.5 * np.eye(20))
        nengo.Connection(
            a.neurons,
            b.neurons,
            transform=nengo.transforms.Sparse(
                (20, 20), indices=np.array([[0, 1], [5, 3]]), init=np.array([0.1, 0.2])
            ),
        )
        nengo.Connection(a.neurons, b.neurons, transform=-0.1, synapse=None)
        conv = nengo.Convolution(2, (4, 4, 1), kernel_size=(3, 3))
        c = nengo.Node(size_in=conv.size_out)
        nengo.Connection(stim, c, transform=conv, synapse=None)
        convt = nengo.transforms.ConvolutionTranspose(
            1, (2, 2, 2), kernel_size=(3, 3), output_shape=(4, 4, 1)
        )
        d = nengo.Node(size_in=convt.size_out)
        nengo.Connection(c, d, transform=convt, synapse=nengo.Lowpass(0.005))
        general = nengo.LinearFilter([1], [0.001, 0.05, 1])
        nengo.Connection(d, nengo.Node(size_in=16), synapse=general)
        for node in (c, d):
            nengo.Probe(node)
        nengo.Probe(b, synapse=0.01)
    return net


def processes_net() -> nengo.Network:
    with nengo.Network(seed=2) as net:
        out = nengo.Node(size_in=1)
        for process in [
            nengo.processes.WhiteNoise(),
            nengo.processes.FilteredNoise(),
            nengo.processes.BrownNoise(),
            nengo.processes.WhiteNoise(dist=nengo.dists.Uniform(-1, 1)),
            nengo.processes.WhiteNoise(dist=nengo.dists.Choice([[0.5], [-0.5]])),
            nengo.processes.WhiteSignal(1.0, high=10),
            nengo.processes.PresentInput([[0.1], [0.2]], presentation_time=0.01),
            nengo.processes.Piecewise({0: 0.0, 0.05: 1.0}),
            nengo.processes.Piecewise({0: 0.0, 0.05: 1.0}, interpolation="linear"),
        ]:
            nengo.Connection(nengo.Node(process), out)
        nengo.Probe(out)
    return net


def learning_net() -> nengo.Network:
    with nengo.Network(seed=3) as net:
        stim = nengo.Node(np.sin)
        pre = nengo.Ensemble(30, 1)
        post = nengo.Ensemble(30, 1)
        nengo.Connection(stim, pre)
        err = nengo.Node(size_in=1)
        for rule in (nengo.PES(), nengo.RLS()):
            conn = nengo.Connection(pre, post, learning_rule_type=rule)
            nengo.Connection(err, conn.learning_rule)
        for rule in (nengo.BCM(), nengo.Oja()):
            nengo.Connection(
                pre.neurons,
                post.neurons,
                transform=np.zeros((30, 30)),
                learning_rule_type=rule,
            )
        voja = nengo.Connection(stim, post, learning_rule_type=nengo.Voja())
        nengo.Connection(nengo.Node(1.0), voja.learning_rule, synapse=None)
        nengo.Probe(post, synapse=0.01)
    return net


def spiking_aware_net() -> nengo.Network:
    """Every neuron type with a spiking-aware training kernel, trained through it."""
    with nengo.Network(seed=0) as net:
        nengo_native.configure_settings(spiking_aware_training="surrogate")
        stim = nengo.Node([0.5])
        for neuron_type in SPIKING_AWARE_TYPES:
            ens = nengo.Ensemble(8, 1, neuron_type=neuron_type)
            nengo.Connection(stim, ens)
            nengo.Probe(ens, synapse=0.01)
    return net


SPIKING_AWARE_TYPES = [
    nengo.LIF(),
    nengo.AdaptiveLIF(),
    nengo.SpikingRectifiedLinear(),
    nengo.RegularSpiking(nengo.LIFRate()),
]


def integer_model() -> Model:
    """A DotInc of an integer signal (nengo keeps integer arrays as integers), which
    no network builds: a hand-built model."""
    model = Model(dt=0.001)
    model.build(nengo.Network())
    x = Signal(np.array([3, 4]), name="x")
    y = Signal(np.zeros(1), name="y")
    model.add_op(Reset(y))
    model.add_op(DotInc(Signal(np.array([0.5, 2.0]), name="a"), x, y))
    return model


NETWORKS = {
    "neuron_types": neuron_types_net,
    "transforms": transforms_net,
    "processes": processes_net,
    "learning": learning_net,
    "integer": integer_model,  # integer signals are not batched: minibatch 1 only
}
# Training runs swap spiking neurons for rate kernels (smoothed LIF among them).
TRAINING = [None, {"lif_smoothing": 0.05}]


@pytest.fixture(scope="module")
def programs():
    planned = {
        (name, i, batch): plan_network(make(), batch=batch, training=training)
        for name, make in NETWORKS.items()
        for i, training in enumerate(TRAINING)
        for batch in (1, 2)
        if name != "integer" or batch == 1
    }
    for batch in (1, 2):  # training settings read from the built model, as the
        # simulator does (spiking_aware_training is per ensemble)
        planned[("spiking_aware", 0, batch)] = plan_network(
            spiking_aware_net(), batch=batch, training=training_options
        )
    for i, training in enumerate(TRAINING):  # the throughput mode's kernels
        planned[("neuron_types_fast", i, 2)] = plan_network(
            neuron_types_net(), batch=2, training=training, exact=False
        )
        for name, make in NETWORKS.items():
            if name != "integer":
                planned[(f"{name}_fast", i, 2)] = plan_network(
                    make(), batch=2, training=training, exact=False
                )
    return planned


def kernel_steps(programs):
    for key, program in programs.items():
        for step in program.steps:
            if isinstance(step, KernelStep):
                yield key, step


def schema_errors(kind: str, params: dict, names=None) -> list[str]:
    """What is wrong with ``params`` for a ``kind`` kernel (only ``names`` of its
    parameters, all required, when given: a reseed)."""
    if kind not in SCHEMAS:
        return [f"kernel {kind!r} is not registered"]
    declared = SCHEMAS[kind]["params"]
    if names is not None:
        declared = {n: dict(declared[n], required=True) for n in names}
    errors = []
    for name, value in params.items():
        spec = declared.get(name)
        if spec is None:
            errors.append(f"{kind}: parameter {name!r} is not declared")
            continue
        value = np.asarray(value)
        is_int = value.dtype.kind in "iub"
        if is_int != (spec["kind"] == "int"):
            errors.append(f"{kind}: {name!r} is {value.dtype}, declared {spec['kind']}")
        if spec["scalar"] and value.size != 1:
            errors.append(f"{kind}: {name!r} is a scalar, got {value.size} values")
    for name, spec in declared.items():
        if spec["required"] and name not in params:
            errors.append(f"{kind}: required parameter {name!r} is missing")
    return errors


def test_every_step_matches_its_kernel_schema(programs):
    errors = []
    for key, step in kernel_steps(programs):
        errors += [f"{key}: {e}" for e in schema_errors(step.kind, step.params)]
        if step.training_kind is not None:
            errors += [
                f"{key} (training): {e}"
                for e in schema_errors(step.training_kind, step.training_params)
            ]
    assert not errors, "\n".join(errors)


def test_reseeded_parameters_are_declared_state(programs):
    """What a reset gives seed-dependent kernels (the Program's reseed functions,
    fed the draws of its `rng_uses` as the runtime does)."""
    errors, reseeded = [], set()
    draws = {}
    for program in programs.values():
        rng = np.random.RandomState(0)
        for use in program.rng_uses:
            if use.draw is not None:
                draws[use.op] = use.draw(rng)
    for key, step in kernel_steps(programs):
        if step.reseed is None:
            continue
        # on a reset, and for a predict minibatch that starts at item 1
        for first_item in (None, 1):
            params = step.reseed(
                [draws.get(op) for op in step.ops], first_item=first_item
            )
            if params is None:
                continue
            reseeded.add(step.kind)
            state = SCHEMAS[step.kind]["state"]
            errors += [f"{key}: {e}" for e in schema_errors(step.kind, params, state)]
    assert not errors, "\n".join(errors)
    stateful = {kind for kind, schema in SCHEMAS.items() if schema["state"]}
    assert reseeded == stateful


def test_every_kernel_kind_is_planned(programs):
    """A registered kernel the planner never emits is dead code, or its lowering
    is missing."""
    used = set()
    for _, step in kernel_steps(programs):
        used.add(step.kind)
        used.add(step.training_kind)
    assert set(SCHEMAS) - used == set()


def test_the_models_run_natively(programs):
    for key, program in programs.items():
        assert not program.fallback_ops, (key, program.fallback_ops)


def test_every_schema_is_well_formed():
    for kind, schema in SCHEMAS.items():
        assert schema["backends"] == ["cpu"], kind
        assert set(schema["state"]) <= set(schema["params"]), kind
        for spec in schema["params"].values():
            assert spec["kind"] in ("int", "real")
            assert isinstance(spec["required"], bool)
            assert isinstance(spec["scalar"], bool)
    assert sorted(SCHEMAS) == sorted(_core.kernel_kinds())
    assert _core.kernel_backends() == ["cpu"]


def test_shared_codes_come_from_the_core():
    from nengo.synapses import LinearFilter

    for name in _core.FILTER_VARIANTS:
        assert isinstance(getattr(LinearFilter, name), type)
    for name in _core.NOISE_DISTS:
        assert isinstance(getattr(nengo.dists, name), type)
    assert set(_core.LOOKUP_MODES) == {
        "Periodic",
        "Present",
        "PiecewiseZero",
        "StepGrid",
    }
    for table in (_core.FILTER_VARIANTS, _core.NOISE_DISTS, _core.LOOKUP_MODES):
        assert len(set(table.values())) == len(table)


def _time_params():
    return {
        "step_off": np.array([0]),
        "time_off": np.array([0]),
        "chain_ptr": np.array([0, 1]),
    }


def test_the_core_refuses_undeclared_parameters():
    executor = _core.Executor64(4, 1, 1, 0.001, 0)
    assert executor.backend == "cpu"
    executor.add_kernel("time_update", _time_params())
    with pytest.raises(
        ValueError, match="kernel 'time_update' has no parameter 'tim_off'"
    ):
        executor.add_kernel("time_update", {**_time_params(), "tim_off": np.array([0])})
    params = _time_params()
    del params["time_off"]
    with pytest.raises(ValueError, match="'time_update' needs parameter 'time_off'"):
        executor.add_kernel("time_update", params)
    with pytest.raises(ValueError, match="'time_off' must be an integer array"):
        executor.add_kernel("time_update", {**_time_params(), "time_off": np.zeros(1)})
    with pytest.raises(ValueError, match="unknown kernel kind 'no_such_kernel'"):
        executor.add_kernel("no_such_kernel", {})
    with pytest.raises(ValueError, match="kernel 'time_update' has no parameter 'x'"):
        executor.add_kernel(
            "time_update", _time_params(), "time_update", {**_time_params(), "x": [1]}
        )
    with pytest.raises(ValueError, match="'time_update' has no seed-dependent"):
        executor.set_kernel_params(0, {})
    assert executor.n_kernels == 1


def test_set_kernel_params_accepts_only_state(programs):
    program = programs[("processes", 0, 1)]
    executor = _core.Executor64(
        program.layout.size, program.layout.int_size, 1, 0.001, 0
    )
    for step in program.steps:
        if isinstance(step, KernelStep) and step.kind == "process_noise":
            executor.add_kernel(step.kind, step.params)
            break
    state = {n: step.params[n] for n in SCHEMAS["process_noise"]["state"]}
    executor.set_kernel_params(0, state)
    with pytest.raises(ValueError, match="no state parameter 'mean'"):
        executor.set_kernel_params(0, {**state, "mean": step.params["mean"]})


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        _core.Executor32(4, 1, 1, 0.001, 0, backend="cuda")
