"""The drop-in API of `nengo_native.Simulator`, checked against `nengo.Simulator`."""

from __future__ import annotations

import gc
import importlib.metadata
import pickle
import warnings

import nengo
import numpy as np
import pytest
from nengo.exceptions import BuildError

import nengo_native

ATOL = 1e-9

# Networks with unseeded noise are compared across builds with optimize=False:
# with nengo's operator merger the order of operators that draw from the
# simulator's generator changes from one build to the next (nengo.Simulator too),
# so two builds get different noise.
NOISY = {"optimize": False}


def _sin_input(t):
    return [np.sin(10 * t), np.cos(7 * t)]


def _square(x):
    return x**2


def make_net(noise: bool = False):
    """A small deterministic (or noisy) network with spikes, filters and a node.

    Functions are module-level so that the network pickles.
    """
    with nengo.Network(seed=7) as net:
        stim = nengo.Node(_sin_input)
        a = nengo.Ensemble(40, 2, label="a")
        b = nengo.Ensemble(30, 2, neuron_type=nengo.LIFRate(), label="b")
        nengo.Connection(stim, a)
        nengo.Connection(a, b, function=_square, synapse=0.01)
        nengo.Connection(b, b, transform=0.5, synapse=nengo.Alpha(0.01))
        net.p = {
            "a": nengo.Probe(a, synapse=0.01),
            "spikes": nengo.Probe(a.neurons),
            "b": nengo.Probe(b, synapse=nengo.Lowpass(0.005), sample_every=0.003),
            "stim": nengo.Probe(stim),
        }
        if noise:
            white = nengo.Node(
                nengo.processes.WhiteNoise(dist=nengo.dists.Gaussian(0, 1)),
                size_out=2,
            )
            nengo.Connection(white, b, transform=0.1)
            net.p["noise"] = nengo.Probe(white)
        net.a, net.b, net.stim = a, b, stim
    return net


def assert_probes_equal(ref, sim, probes, atol=ATOL):
    for name, p in probes.items():
        assert sim.data[p].shape == ref.data[p].shape, name
        np.testing.assert_allclose(
            sim.data[p], ref.data[p], rtol=0, atol=atol, err_msg=name
        )


def test_run_run_steps_step_match_nengo():
    net = make_net()
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run(0.05)
        ref.run_steps(31)
        ref.step()
        ref.step()
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        sim.run(0.05)
        assert sim.n_steps == 50
        sim.run_steps(31)
        sim.step()
        sim.step()
    assert sim.n_steps == ref.n_steps == 83
    assert sim.time == pytest.approx(ref.time, abs=1e-12)
    assert sim.time == pytest.approx(0.083)
    assert_probes_equal(ref, sim, net.p)
    assert sim.data[net.p["spikes"]].shape == (83, 40)
    assert np.any(sim.data[net.p["spikes"]] > 0), "no spikes at all"


def test_run_rounds_to_whole_steps_like_nengo():
    net = make_net()
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run(0.0106)
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        sim.run(0.0106)
    assert sim.n_steps == ref.n_steps == 11


def test_run_zero_time_warns_and_does_nothing():
    with nengo_native.Simulator(make_net(), progress_bar=False) as sim:
        with pytest.warns(UserWarning, match="0 timesteps"):
            sim.run(0.0001)
        assert sim.n_steps == 0


def test_run_steps_zero_raises_like_nengo():
    """nengo's run_steps(0) raises ValidationError (from its progress bar); run(0.0)
    only warns, in both."""
    net = make_net()
    for cls in (nengo.Simulator, nengo_native.Simulator):
        with cls(net, progress_bar=False) as sim:
            with pytest.raises(nengo.exceptions.ValidationError, match="at least 1"):
                sim.run_steps(0)
            with pytest.warns(UserWarning, match="0 timesteps"):
                sim.run(0.0)
            assert sim.n_steps == 0, cls


def test_data_of_never_run_simulator_has_nengos_shape():
    """A probe with no samples gives shape (0,) in nengo, whatever its size; so after
    clear_probes too."""
    net = make_net()
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref_shapes = {k: ref.data[p].shape for k, p in net.p.items()}
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        shapes = {k: sim.data[p].shape for k, p in net.p.items()}
        assert shapes == ref_shapes == {k: (0,) for k in net.p}
        sim.run_steps(3)
        sim.clear_probes()
        assert sim.data[net.p["a"]].shape == (0,)


class _CountingSimulator(nengo_native.Simulator):
    """Like nengo-extras' real-time simulator: overrides step() and calls super()."""

    def step(self, data=None):
        self.calls = getattr(self, "calls", 0) + 1
        super().step(data=data)


def test_overridden_step_is_called_per_step_like_nengo():
    net = make_net()

    class RefCounting(nengo.Simulator):
        def step(self):
            self.calls = getattr(self, "calls", 0) + 1
            super().step()

    with RefCounting(net, progress_bar=False) as ref:
        ref.run_steps(7)
        ref.run(0.005)
    with _CountingSimulator(net, progress_bar=False) as sim:
        sim.run_steps(7)
        sim.run(0.005)
    assert sim.calls == ref.calls == 12
    assert sim.n_steps == 12
    assert_probes_equal(ref, sim, net.p)


def test_overridden_step_gets_each_steps_data():
    with nengo.Network(seed=1) as net:
        stim = nengo.Node(np.zeros(1))
        p = nengo.Probe(stim)
    x = np.arange(5.0).reshape(1, 5, 1)
    with _CountingSimulator(net, progress_bar=False) as sim:
        sim.run_steps(5, data={stim: x})
    assert sim.calls == 5
    np.testing.assert_array_equal(sim.data[p], x[0])


def test_reset_gives_same_data_as_fresh_run():
    """reset() replays the first run bit for bit; a fresh build matches to ATOL.

    Two separate builds of one network need not be bit-identical: nengo's
    operator-merging optimizer can merge signals in a different order from one
    build to the next (seen in practice: the arena layout of a second build in
    the same process differed), so sums are reordered by an ulp or so.
    """
    net = make_net(noise=True)
    with nengo_native.Simulator(net, seed=3, progress_bar=False, **NOISY) as fresh:
        fresh.run(0.06)
    with nengo_native.Simulator(net, seed=3, progress_bar=False, **NOISY) as sim:
        sim.run(0.06)
        first = {name: np.array(sim.data[p]) for name, p in net.p.items()}
        sim.run(0.04)
        sim.reset()
        assert sim.n_steps == 0
        assert sim.time == 0.0
        assert all(len(sim.data[p]) == 0 for p in net.p.values())
        sim.run(0.06)
        for name, p in net.p.items():
            np.testing.assert_array_equal(sim.data[p], first[name], err_msg=name)
    assert_probes_equal(fresh, sim, net.p)


def test_reset_with_seed_changes_noise_not_parameters():
    net = make_net(noise=True)
    noise = net.p["noise"]
    with nengo_native.Simulator(net, seed=3, progress_bar=False, **NOISY) as sim:
        enc = np.array(sim.data[net.a].encoders)
        sim.run(0.02)
        first = np.array(sim.data[noise])
        sim.reset(seed=4)
        sim.run(0.02)
        second = np.array(sim.data[noise])
        np.testing.assert_array_equal(sim.data[net.a].encoders, enc)
        assert not np.allclose(first, second), "reset(seed) did not change the noise"
        sim.reset(seed=3)
        sim.run(0.02)
        np.testing.assert_array_equal(sim.data[noise], first)
    # and the new seed's noise is what nengo gives for that seed
    with nengo.Simulator(net, seed=3, progress_bar=False, **NOISY) as ref:
        ref.reset(seed=4)
        ref.run(0.02)
    with nengo_native.Simulator(net, seed=3, progress_bar=False, **NOISY) as sim:
        sim.reset(seed=4)
        sim.run(0.02)
    assert_probes_equal(ref, sim, net.p)


def test_seed_defaults_to_network_seed_plus_one():
    net = make_net(noise=True)
    with nengo.Simulator(net, progress_bar=False, **NOISY) as ref:
        ref.run(0.02)
    with nengo_native.Simulator(net, progress_bar=False, **NOISY) as sim:
        sim.run(0.02)
    assert sim.seed == ref.seed == net.seed + 1
    assert_probes_equal(ref, sim, net.p)


@pytest.mark.parametrize("sample_every", [None, 0.001, 0.003, 0.0025, 0.01])
def test_trange_matches_nengo(sample_every):
    net = make_net()
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run(0.05)
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        sim.run(0.05)
    expected = ref.trange(sample_every=sample_every)
    np.testing.assert_allclose(
        sim.trange(sample_every=sample_every), expected, atol=1e-12
    )
    if sample_every is None:
        assert len(sim.trange()) == len(sim.data[net.p["a"]]) == 50
        assert sim.trange()[0] == pytest.approx(sim.dt)
    # the probe with sample_every=0.003 has one sample per trange entry
    assert len(sim.trange(sample_every=0.003)) == len(sim.data[net.p["b"]])


def test_trange_dt_argument_deprecated_like_nengo():
    with nengo_native.Simulator(make_net(), progress_bar=False) as sim:
        sim.run(0.01)
        with pytest.warns(DeprecationWarning):
            t = sim.trange(dt=0.002)
        np.testing.assert_allclose(t, sim.trange(sample_every=0.002))


def test_built_parameters_equal_nengo():
    net = make_net()
    with nengo.Simulator(net, progress_bar=False) as ref:
        pass
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        pass
    for ens in (net.a, net.b):
        for attr in (
            "encoders",
            "gain",
            "bias",
            "max_rates",
            "intercepts",
            "eval_points",
        ):
            np.testing.assert_array_equal(
                getattr(sim.data[ens], attr), getattr(ref.data[ens], attr), err_msg=attr
            )
    for conn in net.all_connections:
        np.testing.assert_array_equal(sim.data[conn].weights, ref.data[conn].weights)


def test_dt_is_respected_and_readonly():
    net = make_net()
    with nengo.Simulator(net, dt=0.002, progress_bar=False) as ref:
        ref.run(0.04)
    with nengo_native.Simulator(net, dt=0.002, progress_bar=False) as sim:
        sim.run(0.04)
        assert sim.dt == 0.002
        assert sim.n_steps == 20
        with pytest.raises(nengo.exceptions.ReadonlyError):
            sim.dt = 0.001
    assert_probes_equal(ref, sim, net.p)


def test_context_manager_closes_and_data_stays_readable():
    net = make_net()
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        assert not sim.closed
        sim.run(0.01)
    assert sim.closed
    assert sim.data[net.p["a"]].shape == (10, 2)
    with pytest.raises(nengo.exceptions.SimulatorClosed):
        sim.run(0.01)
    sim.close()  # closing twice is fine, as in nengo
    assert sim.closed


def test_context_manager_closes_on_exception():
    with pytest.raises(RuntimeError, match="boom"):
        with nengo_native.Simulator(make_net(), progress_bar=False) as sim:
            raise RuntimeError("boom")
    assert sim.closed


def test_pickle_roundtrip_continues_like_uninterrupted():
    net = make_net()
    with nengo_native.Simulator(net, progress_bar=False) as whole:
        whole.run_steps(100)

    sim = nengo_native.Simulator(net, progress_bar=False)
    sim.run_steps(40)
    blob = pickle.dumps(sim)
    sim.close()
    sim2 = pickle.loads(blob)
    try:
        assert not sim2.closed
        assert sim2.n_steps == 40
        assert sim2.time == pytest.approx(0.04)
        sim2.run_steps(60)
        assert sim2.n_steps == 100
        # probe data recorded before pickling is kept
        pa = sim2.model.probes[whole.model.probes.index(net.p["a"])]
        assert len(sim2.data[pa]) == 100
        probes = {name: p for name, p in net.p.items()}
        # the unpickled simulator uses its own probe objects (copied by pickle);
        # match them to ours by position in the model's probe list
        for name, p in probes.items():
            idx = whole.model.probes.index(p)
            p2 = sim2.model.probes[idx]
            assert p2.attr == p.attr and p2.synapse == p.synapse
            np.testing.assert_allclose(
                sim2.data[p2], whole.data[p], rtol=0, atol=ATOL, err_msg=name
            )
    finally:
        sim2.close()


def test_pickle_roundtrip_with_sample_every_probe():
    """The core sizes probe buffers from its step counter, which unpickling (and any
    write of the step signal) changes on the Python side first."""
    with nengo.Network(seed=0) as net:
        stim = nengo.Node([0.5])
        p = nengo.Probe(stim, sample_every=0.003)
    with nengo_native.Simulator(net, progress_bar=False) as whole:
        whole.run_steps(12)
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        sim.run_steps(8)
        sim2 = pickle.loads(pickle.dumps(sim))
    with sim2:
        sim2.run_steps(4)  # step 9 samples; from step 0 it would not
        (p2,) = sim2.model.probes
        assert sim2.data[p2].shape == whole.data[p].shape == (4, 1)
        np.testing.assert_array_equal(
            sim2.trange(sample_every=0.003), whole.trange(sample_every=0.003)
        )


def test_pickle_closed_simulator_stays_closed():
    sim = nengo_native.Simulator(make_net(), progress_bar=False)
    sim.run_steps(5)
    sim.close()
    sim2 = pickle.loads(pickle.dumps(sim))
    assert sim2.closed
    with pytest.raises(nengo.exceptions.SimulatorClosed):
        sim2.step()


def test_signals_read_and_write_like_nengo():
    net = make_net()
    sims = []
    for cls in (nengo.Simulator, nengo_native.Simulator):
        sim = cls(net, progress_bar=False)
        sims.append(sim)
        sim.run_steps(10)
        voltage = sim.model.sig[net.a.neurons]["voltage"]
        # read: a live view of the state
        v = np.array(sim.signals[voltage])
        assert v.shape == (40,)
        assert np.all((v >= 0) & (v <= 1))
        # read: built parameters (scaled encoders) as in nengo
        enc = sim.signals[sim.model.sig[net.a]["encoders"]]
        assert enc.shape == (40, 2)
        # write: push every neuron to just below threshold -> synchronous spikes
        sim.signals[voltage] = np.full(40, 0.999)
        np.testing.assert_array_equal(sim.signals[voltage], 0.999)
        sim.run_steps(10)
    ref, nat = sims
    try:
        np.testing.assert_array_equal(
            nat.signals[nat.model.sig[net.a]["encoders"]],
            ref.signals[ref.model.sig[net.a]["encoders"]],
        )
        assert_probes_equal(ref, nat, net.p)
        spikes = nat.data[net.p["spikes"]]
        assert spikes[10].sum() > spikes[9].sum(), "writing voltage had no effect"
        # built parameters are read-only, as in nengo
        enc_sig = nat.model.sig[net.a]["encoders"]
        with pytest.raises(ValueError, match="read-only"):
            nat.signals[enc_sig] = np.zeros(enc_sig.shape)
    finally:
        for s in sims:
            s.close()


def test_resource_warning_when_collected_open():
    sim = nengo_native.Simulator(make_net(), progress_bar=False)
    sim.run_steps(2)
    with pytest.warns(ResourceWarning, match="deallocated while open"):
        del sim
        gc.collect()


def test_no_resource_warning_when_closed():
    sim = nengo_native.Simulator(make_net(), progress_bar=False)
    sim.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del sim
        gc.collect()


@pytest.mark.parametrize("enabled", [True, False])
def test_construction_leaves_the_garbage_collector_as_it_was(enabled):
    """The collector, paused while a model is built, runs afterwards as it did before,
    also when the build fails."""
    with nengo.Network() as bad:
        a, out = nengo.Ensemble(5, 1), nengo.Node(size_in=1)
        nengo.Connection(a, out, function=lambda x: None)
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with nengo_native.Simulator(make_net(), progress_bar=False) as sim:
            assert gc.isenabled() is enabled
            sim.run_steps(2)
        with pytest.raises(BuildError, match="returned None"):
            nengo_native.Simulator(bad, progress_bar=False)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_progress_bar_false_is_silent(capsys):
    with nengo_native.Simulator(make_net(), progress_bar=False) as sim:
        sim.run(0.05)
        sim.run_steps(5, progress_bar=False)
        sim.step()
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ""


@pytest.mark.parametrize("dtype", ["float32", np.float32])
def test_float32_runs_close_to_float64(dtype):
    with nengo.Network(seed=2) as net:
        stim = nengo.Node(_sin_input)
        a = nengo.Ensemble(50, 2, neuron_type=nengo.LIFRate())
        b = nengo.Ensemble(50, 2, neuron_type=nengo.LIFRate())
        nengo.Connection(stim, a)
        nengo.Connection(a, b, function=_square)
        pa = nengo.Probe(a, synapse=0.01)
        pb = nengo.Probe(b, synapse=0.01)
    with nengo_native.Simulator(net, progress_bar=False) as s64:
        s64.run(0.1)
    with nengo_native.Simulator(net, dtype=dtype, progress_bar=False) as s32:
        s32.run(0.1)
        assert s32.dtype == np.float32
        v = (
            s32.signals[s32.model.sig[a.neurons]["out"]]
            if "out" in s32.model.sig[a.neurons]
            else None
        )
        if v is not None:
            assert v.dtype == np.float32
    for p in (pa, pb):
        assert s32.data[p].dtype == np.float32
        assert np.all(np.isfinite(s32.data[p]))
        np.testing.assert_allclose(s32.data[p], s64.data[p], rtol=0, atol=1e-3)
    # and float64 is the default, matching nengo's
    assert s64.data[pa].dtype == np.float64


def test_nengo_backends_entry_point_loads_simulator():
    eps = importlib.metadata.entry_points(group="nengo.backends")
    (ep,) = [ep for ep in eps if ep.name == "native"]
    assert ep.load() is nengo_native.Simulator


def test_sim_data_mapping_like_nengo():
    net = make_net()
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        sim.run_steps(3)
        assert net.a in sim.data
        assert net.p["a"] in sim.data
        with pytest.raises(KeyError):
            sim.data[nengo.Ensemble(5, 1, add_to_container=False)]
        # probe arrays must not be writable (nengo returns read-only views)
        with pytest.raises(ValueError):
            sim.data[net.p["a"]][0, 0] = 1.0


def test_fallback_is_reported_once_naming_the_objects():
    class MyLIF(nengo.LIF):
        pass

    class Constant(nengo.processes.Process):
        def make_step(self, shape_in, shape_out, dt, rng, state):
            return lambda t: np.ones(shape_out)

    with nengo.Network() as net:
        ens = nengo.Ensemble(10, 1, neuron_type=MyLIF(), label="custom")
        node = nengo.Node(Constant(), size_out=1, label="source")
        nengo.Connection(node, ens)
    with pytest.warns(nengo_native.FallbackWarning) as record:
        with nengo_native.Simulator(net, progress_bar=False) as sim:
            sim.run_steps(3)
    (warning,) = [w for w in record if w.category is nengo_native.FallbackWarning]
    message = str(warning.message)
    assert "MyLIF neurons of <Ensemble 'custom'>" in message
    assert "process Constant of <Node 'source'>" in message
    assert len(sim.fallback_operators) == 2


def test_native_models_report_no_fallback(recwarn):
    with nengo.Network() as net:
        ens = nengo.Ensemble(10, 1)
        nengo.Connection(nengo.Node(np.sin), ens)
    with nengo_native.Simulator(net, progress_bar=False):
        pass
    assert not [w for w in recwarn if w.category is nengo_native.FallbackWarning]
