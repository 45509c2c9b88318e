"""Malformed use raises a clear exception (nengo's types), and never crashes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import nengo
import numpy as np
import pytest
from nengo.exceptions import (
    BuildError,
    SimulationError,
    SimulatorClosed,
    ValidationError,
)

import nengo_native


def small_net():
    with nengo.Network(seed=0) as net:
        stim = nengo.Node(lambda t: [np.sin(10 * t)])
        ens = nengo.Ensemble(20, 1)
        nengo.Connection(stim, ens)
        net.probe = nengo.Probe(ens, synapse=0.01)
    return net


@pytest.fixture
def sim():
    s = nengo_native.Simulator(small_net(), progress_bar=False)
    yield s
    s.close()


# -- closed simulator ------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: s.run(0.01), "closed"),
        (lambda s: s.run_steps(3), "closed"),
        (lambda s: s.step(), "closed"),
        (lambda s: s.reset(), "closed"),
        (lambda s: s.reset(seed=5), "closed"),
        (lambda s: s.__enter__(), "closed"),
    ],
    ids=["run", "run_steps", "step", "reset", "reset_seed", "reenter"],
)
def test_closed_simulator_raises(call, match):
    s = nengo_native.Simulator(small_net(), progress_bar=False)
    s.run_steps(2)
    s.close()
    with pytest.raises(SimulatorClosed, match=match):
        call(s)
    assert s.n_steps == 2
    assert len(s.data[s.model.probes[0]]) == 2


# -- run times and step counts ---------------------------------------------------------


@pytest.mark.parametrize(
    "t, match",
    [
        (-0.1, "positive"),
        (-1, "positive"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (float("-inf"), "finite"),
        ("abc", "number"),
        (None, "number"),
    ],
)
def test_bad_run_time(sim, t, match):
    with pytest.raises(ValidationError, match=match):
        sim.run(t)
    assert sim.n_steps == 0
    sim.run(0.005)  # still usable
    assert sim.n_steps == 5


@pytest.mark.parametrize("steps", [1.5, -1, -100, "3", None, 2.0, np.float64(3)])
def test_bad_run_steps(sim, steps):
    with pytest.raises(ValidationError, match="non-negative integer"):
        sim.run_steps(steps)
    assert sim.n_steps == 0
    sim.run_steps(np.int64(4))  # numpy integers are fine
    assert sim.n_steps == 4


@pytest.mark.parametrize(
    "dtype, match",
    [
        ("int32", "float32 or float64"),
        ("float16", "float32 or float64"),
        ("complex128", "float32 or float64"),
        (np.int64, "float32 or float64"),
        ("not-a-dtype", "not a dtype"),
    ],
)
def test_bad_dtype(dtype, match):
    with pytest.raises(ValidationError, match=match):
        nengo_native.Simulator(small_net(), dtype=dtype, progress_bar=False)


# -- user code failing -----------------------------------------------------------------


class _FailOnCall:
    """Node output that raises on the n-th call made during simulation."""

    def __init__(self, fail_at_step):
        self.fail_at_step = fail_at_step
        self.armed = False  # nengo calls the function once at build time

    def __call__(self, t):
        if self.armed and round(t / 0.001) == self.fail_at_step:
            self.fail_at_step = None
            raise RuntimeError("user node failed")
        self.armed = True
        return [t]


def _fail_net():
    fn = _FailOnCall(fail_at_step=5)
    with nengo.Network(seed=0) as net:
        node = nengo.Node(fn)
        ens = nengo.Ensemble(10, 1)
        nengo.Connection(node, ens)
        net.probe = nengo.Probe(node)
    return net


def test_node_exception_propagates_and_simulator_stays_usable():
    results = []
    for cls in (nengo.Simulator, nengo_native.Simulator):
        net = _fail_net()
        with cls(net, progress_bar=False) as s:
            with pytest.raises(RuntimeError, match="user node failed"):
                s.run_steps(10)
            assert len(s.data[net.probe]) == 4  # samples of the completed steps
            np.testing.assert_allclose(
                s.data[net.probe].ravel(), [0.001, 0.002, 0.003, 0.004]
            )
            s.run_steps(3)  # usable after the error
            results.append((s.n_steps, np.array(s.data[net.probe])))
    (ref_steps, ref_data), (steps, data) = results
    assert steps == ref_steps
    np.testing.assert_allclose(data, ref_data, rtol=0, atol=1e-12)


def test_node_exception_n_steps_counts_completed_steps():
    net = _fail_net()
    with nengo_native.Simulator(net, progress_bar=False) as s:
        with pytest.raises(RuntimeError, match="user node failed"):
            s.run_steps(10)
        assert s.n_steps == len(s.data[net.probe]) == 4
        assert s.time == pytest.approx(0.004)


@pytest.mark.parametrize(
    "output, match",
    [
        (lambda t: [1.0, 2.0], "invalid type"),
        (lambda t: np.array([1.0, 2.0]), "invalid type"),
        (lambda t: [np.nan], "non-finite"),
        (lambda t: [np.inf], "non-finite"),
        (lambda t: None, "non-finite"),
        (lambda t: "x", "invalid type"),
    ],
    ids=["list-shape", "array-shape", "nan", "inf", "none", "str"],
)
def test_node_bad_return_value(output, match):
    calls = {"n": 0}

    def fn(t):
        # nengo calls the function once at build time to infer the size
        calls["n"] += 1
        return [0.0] if calls["n"] == 1 else output(t)

    with nengo.Network() as net:
        node = nengo.Node(fn)
        post = nengo.Node(size_in=1)
        nengo.Connection(node, post)
    with nengo_native.Simulator(net, progress_bar=False) as s:
        with pytest.raises(SimulationError, match=match):
            s.run_steps(3)
        assert s.n_steps <= 1


def test_node_with_input_bad_return_value():
    with nengo.Network() as net:
        stim = nengo.Node([0.5])
        node = nengo.Node(lambda t, x: x / 0.0 if t > 0.0015 else x, size_in=1)
        nengo.Connection(stim, node, synapse=None)
    with nengo_native.Simulator(net, progress_bar=False) as s:
        with pytest.raises(SimulationError, match="non-finite"):
            s.run_steps(5)


# -- things that can't be built --------------------------------------------------------


@pytest.mark.parametrize(
    "network", ["a string", 5, object()], ids=["str", "int", "obj"]
)
def test_unbuildable_network(network):
    with pytest.raises((BuildError, ValidationError), match="Cannot build"):
        nengo_native.Simulator(network, progress_bar=False)


def test_algebraic_loop_is_a_build_error():
    with nengo.Network() as net:
        a = nengo.Node(size_in=1)
        b = nengo.Node(size_in=1)
        nengo.Connection(a, b, synapse=None)
        nengo.Connection(b, a, synapse=None)
    with pytest.raises(BuildError, match="cycle"):
        nengo_native.Simulator(net, progress_bar=False)


def test_failed_build_does_not_warn_resource(recwarn):
    import gc

    with pytest.raises(BuildError):
        nengo_native.Simulator("a string", progress_bar=False)
    gc.collect()
    assert not [w for w in recwarn if issubclass(w.category, ResourceWarning)]


# -- writing bad values into signals ---------------------------------------------------


@pytest.mark.parametrize(
    "value, match",
    [(np.zeros(5), "broadcast"), (np.zeros((20, 2)), "broadcast"), ("abc", "convert")],
)
def test_signal_write_wrong_shape(sim, value, match):
    ens = sim.model.toplevel.all_ensembles[0]
    v = sim.model.sig[ens.neurons]["voltage"]
    with pytest.raises(ValueError, match=match):
        sim.signals[v] = value
    sim.run_steps(3)
    assert np.all(np.isfinite(sim.data[sim.model.probes[0]]))


def test_readonly_signal_write(sim):
    ens = sim.model.toplevel.all_ensembles[0]
    sig = sim.model.sig[ens]["encoders"]
    with pytest.raises(ValueError, match="read-only"):
        sim.signals[sig] = np.zeros(sig.shape)


# -- nothing crashes the interpreter ---------------------------------------------------

_REENTRANT = textwrap.dedent(
    """
    import sys, nengo, numpy as np, nengo_native
    nengo.rc.set("decoder_cache", "enabled", "False")
    mode = sys.argv[1]
    holder = {}
    def f(t):
        s = holder.pop("sim", None)
        if s is not None and t > 0.0025:
            getattr(s, mode)()
        elif s is not None:
            holder["sim"] = s
        return [t]
    with nengo.Network() as net:
        a = nengo.Ensemble(20, 1)
        n = nengo.Node(f)
        nengo.Connection(n, a)
        p = nengo.Probe(a)
    sim = nengo_native.Simulator(net, progress_bar=False)
    holder["sim"] = sim
    try:
        sim.run_steps(10)
    except Exception as e:
        print("raised", type(e).__name__)
    try:
        sim.run_steps(2)
    except nengo.exceptions.SimulatorClosed:
        print("closed")
    print("alive", len(sim.data[p]))
    """
)


@pytest.mark.parametrize("mode", ["close", "step", "reset"])
def test_reentrant_calls_from_node_do_not_crash(mode):
    """A node function that closes/steps/resets its own simulator mid-run."""
    proc = subprocess.run(
        [sys.executable, "-c", _REENTRANT, mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "alive" in proc.stdout
    if mode == "close":
        assert "closed" in proc.stdout


@pytest.mark.parametrize(
    "kind, params, match",
    [
        (
            "reset",
            {"value": [0.0], "seg_ptr": [1, 0], "seg_dst": [], "seg_len": []},
            "seg_ptr",
        ),
        (
            "copy",
            {
                "src_bstride": [0],
                "dst_bstride": [0],
                "inc": [0],
                "seg_ptr": [0, 0],
                "seg_dst": [],
                "seg_len": [],
                "seg_src": [],
                "chain_ptr": [0, 2],
            },
            "chain_ptr' must end at 1",
        ),
    ],
)
def test_core_rejects_malformed_ragged_arrays(kind, params, match):
    """The core checks a Program's offsets once, at its border, and says which."""
    from nengo_native import _core

    executor = _core.Executor64(16, 1, 1, 0.001, 0)
    params = {
        k: np.asarray(v, dtype=np.float64 if k == "value" else np.int64)
        for k, v in params.items()
    }
    params.setdefault("dst_bstride", np.zeros(1, dtype=np.int64))
    params.setdefault("chain_ptr", np.array([0, 1]))
    with pytest.raises(ValueError, match=match):
        executor.add_kernel(kind, params)
