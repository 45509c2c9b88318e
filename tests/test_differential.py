"""Differential fuzzing: random nengo networks run in nengo_native and nengo.

Hypothesis draws a network *specification* (plain tuples, so failures print and
shrink readably), the spec is built into a `nengo.Network` with a fixed seed,
and the same network is run in `nengo.Simulator` (the oracle) and in
`nengo_native.Simulator` with the same seed and ``optimize`` setting. Every
probe must agree to ``atol=1e-9`` (float64). Spike trains are compared with the
same tolerance: a spike is ``1/dt`` in a single step, so any spike that moves by
one step shows up as a difference of 1000.

Profiles: the default runs a quick CI sample; set ``NENGO_NATIVE_FUZZ_EXAMPLES``
(e.g. ``1000``) for a long run, and ``NENGO_NATIVE_FUZZ_SEED`` to change the
hypothesis seed of the CI run (it is derandomized by default so that CI is
reproducible).
"""

from __future__ import annotations

import copy
import os

import nengo
import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from nengo.builder.optimizer import optimize as opmerge_optimize
from nengo.utils.simulator import operator_dependency_graph

import nengo_native

ATOL = 1e-9
# Networks can diverge (a RectifiedLinear loop reached 5e8 in a fuzzed case); there the
# last bit of a sum is worth more than ATOL, so large values compare relatively.
RTOL = 1e-12
DT = 0.001

_LONG = int(os.environ.get("NENGO_NATIVE_FUZZ_EXAMPLES", "0"))
FUZZ_SETTINGS = settings(
    max_examples=_LONG or 25,
    deadline=None,
    derandomize=not _LONG,
    database=None if not _LONG else settings.default.database,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    print_blob=True,
)

# -- vocabulary ----------------------------------------------------------------------

NEURON_TYPES = {
    "LIF": nengo.LIF,
    "LIFRate": nengo.LIFRate,
    "AdaptiveLIF": nengo.AdaptiveLIF,
    "AdaptiveLIFRate": nengo.AdaptiveLIFRate,
    "RectifiedLinear": nengo.RectifiedLinear,
    "SpikingRectifiedLinear": nengo.SpikingRectifiedLinear,
    "Sigmoid": nengo.Sigmoid,
    "Tanh": nengo.Tanh,
    "Izhikevich": nengo.Izhikevich,
    "RegularSpiking(LIFRate)": lambda: nengo.RegularSpiking(nengo.LIFRate()),
    "StochasticSpiking(RectifiedLinear)": lambda: nengo.StochasticSpiking(
        nengo.RectifiedLinear()
    ),
    "PoissonSpiking(LIFRate)": lambda: nengo.PoissonSpiking(nengo.LIFRate()),
    "Direct": nengo.Direct,
}
# Neurons that draw from the simulator's random generator on every step. With
# optimize=True, nengo's operator merger makes the operator order (so the order of
# draws from the shared generator) differ from one *build* to the next, even in
# nengo.Simulator alone (seen: the step order of an Izhikevich and a
# RectifiedLinear SimNeurons swapped between two builds of one network, and a
# WhiteNoise process swapped with a Lowpass one, changing the noise seed). So
# two builds (nengo's and ours) can only be compared when the order of draws
# cannot matter: with optimize=True there is at most one stochastic neuron
# ensemble, and noise processes get their own seeds.
STOCHASTIC = {"StochasticSpiking(RectifiedLinear)", "PoissonSpiking(LIFRate)"}

SPIKING = {
    "LIF",
    "AdaptiveLIF",
    "SpikingRectifiedLinear",
    "Izhikevich",
    "RegularSpiking(LIFRate)",
    "StochasticSpiking(RectifiedLinear)",
    "PoissonSpiking(LIFRate)",
}

# neurons whose output grows without bound with their input current (the spiking
# rectified-linear types emit several spikes in one step when driven hard)
UNBOUNDED_RATES = {
    "RectifiedLinear",
    "SpikingRectifiedLinear",
    "StochasticSpiking(RectifiedLinear)",
}

SYNAPSES = {
    "None": lambda: None,
    "Lowpass(0.005)": lambda: nengo.Lowpass(0.005),
    "Lowpass(0.02)": lambda: nengo.Lowpass(0.02),
    "Alpha(0.01)": lambda: nengo.Alpha(0.01),
    "LinearFilter([1],[0.001,0.05,1])": lambda: nengo.LinearFilter(
        [1], [0.001, 0.05, 1]
    ),
}


def _square(x):
    return x**2


def _sin(x):
    return np.sin(np.pi * x)


def _tanh(x):
    return np.tanh(2 * x)


def _sum(x):
    return [np.sum(x)]


def _prod(x):
    return [x[0] * x[-1]]


# name -> (function, output size given input size); None means "no function"
CONN_FUNCTIONS = {
    "none": (None, lambda d: d),
    "square": (_square, lambda d: d),
    "sin": (_sin, lambda d: d),
    "tanh": (_tanh, lambda d: d),
    "sum": (_sum, lambda d: 1),
    "prod": (_prod, lambda d: 1),
}


class _SinFunction:
    """``sin(2 pi f t + phase)`` per dimension (a class, so nengo sees one arg)."""

    def __init__(self, freqs, phases):
        self.freqs = freqs
        self.phases = phases

    def __call__(self, t):
        return np.sin(2 * np.pi * self.freqs * t + self.phases)


def _node_tanh(t, x):
    return np.tanh(2 * x)


def _node_mix(t, x):
    return np.tanh(x) * np.cos(3 * t) + 0.1


# -- the strategy --------------------------------------------------------------------

_SLICE_KINDS = ("full", "first", "reverse", "list", "repeat")


@st.composite
def _slice_spec(draw, dim):
    # every kind is valid for any dim (lists may repeat an index when dim == 1)
    return draw(st.sampled_from(_SLICE_KINDS))


def _has_repeats(kind, dim):
    return kind == "repeat" or (kind == "list" and dim == 1)


def _apply_slice(kind, dim):
    """Return (index or None, resulting size)."""
    if kind == "full":
        return None, dim
    if kind == "first":
        return slice(0, 1), 1
    if kind == "reverse":
        return slice(None, None, -1), dim
    if kind == "list":
        return [dim - 1, 0], 2
    if kind == "repeat":  # repeated indices: on a post slice this is a scatter-add
        return [0, 0, dim - 1], 3
    raise AssertionError(kind)


@st.composite
def network_specs(draw):
    """A random network, as plain data."""
    objs = []  # ("ens", type, n, dims, radius, noise) | ("node", kind, size_out, ...)
    optimize = draw(st.booleans())
    n_stochastic = 0
    n_ens = draw(st.integers(1, 3))
    n_nodes = draw(st.integers(0, 3))
    for _ in range(n_ens):
        ntype = draw(st.sampled_from(sorted(NEURON_TYPES)))
        if ntype in STOCHASTIC:
            n_stochastic += 1
            if optimize and n_stochastic > 1:
                ntype = "LIF"  # see STOCHASTIC
        objs.append(
            (
                "ens",
                ntype,
                draw(st.integers(5, 60)),
                draw(st.integers(1, 3)),
                draw(st.sampled_from([1.0, 1.5])),
                draw(st.sampled_from([None, None, None, "whitenoise"])),
            )
        )
    for _ in range(n_nodes):
        kind = draw(st.sampled_from(["sin", "const", "tanh", "mix", "pass", "noise"]))
        size = draw(st.integers(1, 3))
        if kind == "sin":
            freqs = tuple(draw(st.floats(0.5, 20.0)) for _ in range(size))
            objs.append(("node", kind, size, freqs))
        elif kind == "const":
            vals = tuple(
                draw(st.floats(-1, 1, allow_nan=False, width=32)) for _ in range(size)
            )
            objs.append(("node", kind, size, vals))
        elif kind == "noise":
            objs.append(
                (
                    "node",
                    draw(st.sampled_from(["whitenoise", "whitesignal"])),
                    size,
                    None,
                )
            )
        else:  # nodes with input
            objs.append(("node", kind, size, None))
    order = draw(st.permutations(range(len(objs))))
    objs = [objs[i] for i in order]

    def is_ens(i):
        return objs[i][0] == "ens"

    def is_neural(i):
        return is_ens(i) and objs[i][1] != "Direct"

    def has_output(i):
        return True  # every node here has size_out >= 1

    def size(i, where):
        if where == "neurons":
            return objs[i][2]
        return objs[i][3] if is_ens(i) else objs[i][2]

    conns = []
    n_conns = draw(st.integers(0, 6))
    # make sure most networks have at least some input into an ensemble
    for _ in range(n_conns):
        pre = draw(st.integers(0, len(objs) - 1))
        post = draw(st.integers(0, len(objs) - 1))
        if not has_output(pre):
            continue
        if objs[post][0] == "node" and objs[post][1] not in ("tanh", "mix", "pass"):
            continue  # node without input
        pre_where = "decoded"
        post_where = "decoded"
        backward = pre >= post  # closes a loop: needs a synapse and bounded gain
        passthrough = objs[pre][0] == "node" and objs[pre][1] == "pass"
        if backward and passthrough:
            continue  # nengo can't apply a (bounding) function to a passthrough node
        if (
            is_neural(pre)
            and draw(st.booleans())
            and not (backward and objs[pre][1] in UNBOUNDED_RATES)
        ):
            pre_where = "neurons"
        if is_neural(post) and draw(st.integers(0, 3)) == 0:
            post_where = "neurons"
        pre_d, post_d = size(pre, pre_where), size(post, post_where)
        pre_slice = "full"
        post_slice = "full"
        if pre_where == "decoded":
            pre_slice = draw(_slice_spec(pre_d))
        if post_where == "decoded":
            post_slice = draw(_slice_spec(post_d))
        func = "none"
        if pre_where == "decoded" and not passthrough:
            func = draw(st.sampled_from(sorted(CONN_FUNCTIONS)))
            if backward:
                func = draw(st.sampled_from(["sin", "tanh"]))
        transform = draw(st.sampled_from(["none", "scalar", "dense"]))
        if pre_where == "neurons":
            transform = "dense"
        for _ in range(2):
            _, pre_n = _apply_slice(pre_slice, pre_d)
            _, post_n = _apply_slice(post_slice, post_d)
            if func == "prod" and pre_n < 2:
                func = "none"
            f_out = CONN_FUNCTIONS[func][1](pre_n)
            if f_out != post_n:
                transform = "dense"
            if transform == "dense":
                # nengo forbids repeated indices with a 2-D transform
                if _has_repeats(pre_slice, pre_d):
                    pre_slice = "full"
                if _has_repeats(post_slice, post_d):
                    post_slice = "full"
        scalar = draw(st.sampled_from([0.5, -1.0, 2.0]))
        tseed = draw(st.integers(0, 2**16))
        synapse = draw(st.sampled_from(sorted(SYNAPSES)))
        if backward and synapse == "None":
            synapse = "Lowpass(0.005)"  # no algebraic loops
        conns.append(
            (
                pre,
                pre_where,
                pre_slice,
                post,
                post_where,
                post_slice,
                func,
                transform,
                scalar,
                tseed,
                synapse,
            )
        )

    probes = []
    sample_every = st.sampled_from([None, None, 0.002, 0.005, 0.0015])
    for i, obj in enumerate(objs):
        if obj[0] == "ens":
            probes.append(
                (
                    i,
                    "decoded",
                    draw(st.sampled_from(sorted(SYNAPSES))),
                    draw(sample_every),
                )
            )
            if obj[1] != "Direct" and draw(st.booleans()):
                probes.append((i, "neurons", "None", draw(sample_every)))
        elif draw(st.booleans()):
            probes.append(
                (
                    i,
                    "decoded",
                    draw(st.sampled_from(["None", "Lowpass(0.005)"])),
                    draw(sample_every),
                )
            )

    return {
        "objs": objs,
        "conns": conns,
        "probes": probes,
        "seed": draw(st.integers(0, 2**20)),
        "optimize": optimize,
        "steps": draw(st.integers(100, 200)),
    }


# -- building ------------------------------------------------------------------------


def build_network(spec):
    """Build the spec into a network; returns (network, [probe], has_spiking)."""

    # unseeded processes draw their seed from the simulator's generator in step
    # order, which nengo's optimizer does not keep from build to build (see
    # STOCHASTIC); with optimize=False they are left unseeded, to test that the
    # draws happen in nengo's order.
    def pseed(k):
        return 100 + k if spec["optimize"] else None

    objs = []
    spiking = False
    with nengo.Network(seed=spec["seed"]) as net:
        for k, obj in enumerate(spec["objs"]):
            if obj[0] == "ens":
                _, ntype, n, dims, radius, noise = obj
                spiking |= ntype in SPIKING
                objs.append(
                    nengo.Ensemble(
                        n,
                        dims,
                        radius=radius,
                        # Izhikevich rates are found by simulating each eval point;
                        # keep its build quick (the simulator doesn't care)
                        n_eval_points=60 if ntype == "Izhikevich" else None,
                        neuron_type=NEURON_TYPES[ntype](),
                        noise=(
                            nengo.processes.WhiteNoise(
                                dist=nengo.dists.Gaussian(0, 0.05), seed=pseed(k)
                            )
                            if noise
                            else None
                        ),
                        label=f"ens{k}",
                    )
                )
                continue
            _, kind, size, extra = obj
            if kind == "sin":
                freqs = np.asarray(extra)
                phases = np.linspace(0, 1, size)
                node = nengo.Node(_SinFunction(freqs, phases))
            elif kind == "const":
                node = nengo.Node(np.asarray(extra))
            elif kind == "tanh":
                node = nengo.Node(_node_tanh, size_in=size)
            elif kind == "mix":
                node = nengo.Node(_node_mix, size_in=size)
            elif kind == "pass":
                node = nengo.Node(size_in=size)
            elif kind == "whitenoise":
                node = nengo.Node(
                    nengo.processes.WhiteNoise(
                        dist=nengo.dists.Gaussian(0, 0.3), seed=pseed(k)
                    ),
                    size_out=size,
                )
            elif kind == "whitesignal":
                node = nengo.Node(
                    nengo.processes.WhiteSignal(
                        period=0.5, high=10, rms=0.4, seed=pseed(k)
                    ),
                    size_out=size,
                )
            else:
                raise AssertionError(kind)
            node.label = f"node{k}_{kind}"
            objs.append(node)

        for (
            pre,
            pre_where,
            pre_slice,
            post,
            post_where,
            post_slice,
            func,
            transform,
            scalar,
            tseed,
            synapse,
        ) in spec["conns"]:
            pre_obj = objs[pre].neurons if pre_where == "neurons" else objs[pre]
            post_obj = objs[post].neurons if post_where == "neurons" else objs[post]
            pre_d = pre_obj.size_out
            post_d = post_obj.size_in
            pre_idx, pre_n = _apply_slice(pre_slice, pre_d)
            post_idx, post_n = _apply_slice(post_slice, post_d)
            if pre_idx is not None:
                pre_obj = pre_obj[pre_idx]
            if post_idx is not None:
                post_obj = post_obj[post_idx]
            fn, fout = CONN_FUNCTIONS[func]
            f_out = fout(pre_n)
            kwargs = {}
            if fn is not None:
                kwargs["function"] = fn
            if transform == "scalar":
                kwargs["transform"] = scalar
            elif transform == "dense":
                rng = np.random.RandomState(tseed)
                scale = 0.002 if pre_where == "neurons" else 1.0 / f_out
                kwargs["transform"] = rng.uniform(-1, 1, (post_n, f_out)) * scale
            nengo.Connection(pre_obj, post_obj, synapse=SYNAPSES[synapse](), **kwargs)

        probes = []
        for i, where, synapse, sample_every in spec["probes"]:
            target = objs[i].neurons if where == "neurons" else objs[i]
            probes.append(
                nengo.Probe(
                    target, synapse=SYNAPSES[synapse](), sample_every=sample_every
                )
            )
    return net, probes, spiking


def run_both(net, probes, *, seed, optimize, steps):
    """Run ``net`` in both simulators. With ``optimize``, nengo's optimizer runs
    once and each simulator gets a copy of the same optimized model: two runs of
    the optimizer can merge differently (nengo.Simulator alone gave two different
    outputs, 0.038 apart, over repeated builds of one fuzzed network) and could
    even crash in nengo."""
    if optimize:
        model = nengo.builder.Model(dt=0.001)
        model.build(net)
        try:
            opmerge_optimize(model, operator_dependency_graph(model.operators))
        except ValueError:  # nengo's optimizer fails on some merge orders
            reject()
        # copies of signals, operators and generators; the network's objects stay
        # themselves so that probes still key the data
        keep = {id(obj): obj for obj in [net, *net.all_objects]}
        models = tuple(copy.deepcopy(model, dict(keep)) for _ in range(2))
        nets = (None, None)
    else:
        models, nets = (None, None), (net, net)
    with nengo.Simulator(
        nets[0], model=models[0], seed=seed, optimize=False, progress_bar=False
    ) as ref:
        ref.run_steps(steps)
    with nengo_native.Simulator(
        nets[1], model=models[1], seed=seed, optimize=False, progress_bar=False
    ) as sim:
        sim.run_steps(steps)
    return ref, sim


def assert_same(ref, sim, probes):
    assert sim.n_steps == ref.n_steps
    assert sim.time == pytest.approx(ref.time, abs=1e-12)
    for p in probes:
        a, b = ref.data[p], sim.data[p]
        assert b.shape == a.shape, f"{p}: shape {b.shape} != {a.shape}"
        err = np.max(np.abs(a - b), initial=0.0)
        assert np.allclose(b, a, rtol=RTOL, atol=ATOL), (
            f"{p} (target {p.target}, synapse {p.synapse}, sample_every "
            f"{p.sample_every}): max abs error {err:g}; first bad sample "
            f"{np.argwhere(~np.isclose(b, a, rtol=RTOL, atol=ATOL))[0]}"
        )
        se = p.sample_every
        np.testing.assert_allclose(
            sim.trange(sample_every=se), ref.trange(sample_every=se), atol=1e-12
        )


# -- tests ---------------------------------------------------------------------------


@FUZZ_SETTINGS
@given(spec=network_specs())
def test_random_networks_match_nengo(spec):
    net, probes, _ = build_network(spec)
    ref, sim = run_both(
        net,
        probes,
        seed=spec["seed"] + 1,
        optimize=spec["optimize"],
        steps=spec["steps"],
    )
    try:
        assert_same(ref, sim, probes)
    except AssertionError:
        # Products and filters can differ from numpy's BLAS in the last bit (FMA,
        # blocking); a network whose dynamics amplify such a bit (seen: a recurrent
        # RectifiedLinear loop with inputs in the hundreds) says nothing about
        # correctness. nengo.Simulator with its operators merged differently is the
        # same model with other roundings: if it disagrees with itself as well, the
        # example is rejected; if it agrees, the mismatch is ours.
        if ulp_sensitive(net, probes, spec):
            reject()
        raise


def ulp_sensitive(net, probes, spec) -> bool:
    seed, steps = spec["seed"] + 1, spec["steps"]
    runs = []
    for optimize in (False, True):
        with nengo.Simulator(
            net, seed=seed, optimize=optimize, progress_bar=False
        ) as ref:
            ref.run_steps(steps)
            runs.append(ref)
    try:
        assert_same(*runs, probes)
    except AssertionError:
        return True
    return False


@pytest.mark.parametrize("ntype", sorted(NEURON_TYPES))
@pytest.mark.parametrize("optimize", [False, True])
def test_each_neuron_type_matches_nengo(ntype, optimize):
    """Every neuron type, deterministically, in a small feedforward + recurrent net."""
    spec = {
        "objs": [
            ("node", "sin", 2, (3.0, 7.0)),
            ("ens", ntype, 40, 2, 1.0, None),
            ("ens", "LIF", 30, 1, 1.0, None),
        ],
        "conns": [
            (
                0,
                "decoded",
                "full",
                1,
                "decoded",
                "full",
                "none",
                "none",
                1.0,
                0,
                "None",
            ),
            (
                1,
                "decoded",
                "full",
                1,
                "decoded",
                "reverse",
                "square",
                "scalar",
                0.5,
                0,
                "Lowpass(0.02)",
            ),
            (
                1,
                "decoded",
                "full",
                2,
                "decoded",
                "full",
                "prod",
                "none",
                1.0,
                0,
                "Alpha(0.01)",
            ),
        ],
        "probes": [
            (1, "decoded", "None", None),
            (1, "decoded", "Lowpass(0.005)", 0.005),
            (2, "decoded", "LinearFilter([1],[0.001,0.05,1])", None),
        ],
        "seed": 3,
        "optimize": optimize,
        "steps": 150,
    }
    if ntype != "Direct":
        spec["conns"].append(
            (
                1,
                "neurons",
                "full",
                2,
                "neurons",
                "full",
                "none",
                "dense",
                1.0,
                7,
                "Lowpass(0.005)",
            )
        )
        spec["probes"].append((1, "neurons", "None", None))
    net, probes, _ = build_network(spec)
    ref, sim = run_both(net, probes, seed=4, optimize=optimize, steps=spec["steps"])
    assert_same(ref, sim, probes)
