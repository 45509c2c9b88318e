"""Trained parameters: files, nengo arguments, and freezing into the network."""

import nengo
import numpy as np
import pytest
from nengo.exceptions import ValidationError

import nengo_native
from nengo_native import optimizers


def network(seed=0, n=25):
    with nengo.Network(seed=seed) as net:
        inp = nengo.Node(np.zeros(2))
        a = nengo.Ensemble(n, 2)
        b = nengo.Ensemble(n, 1, neuron_type=nengo.RectifiedLinear())
        out = nengo.Node(size_in=1)
        nengo.Connection(inp, a, synapse=None)
        nengo.Connection(a, b, function=lambda x: x[0] * x[1], synapse=0.005)
        nengo.Connection(b.neurons, out, transform=np.ones((1, n)) * 0.01)
        nengo.Connection(inp[0], out, transform=[[0.5]], synapse=None)
        p = nengo.Probe(out)
    return net, inp, p


def trained(sim, inp, p, epochs=3):
    x = np.random.RandomState(0).uniform(-1, 1, size=(16, 5, 2))
    y = x[..., :1] * x[..., 1:]
    sim.compile(optimizer=optimizers.Adam(0.01), loss={p: "mse"})
    sim.fit({inp: x}, {p: y}, epochs=epochs, verbose=0)


def test_save_load_round_trip_is_exact(tmp_path):
    net, inp, p = network()
    with nengo_native.Simulator(net, minibatch_size=4, progress_bar=False) as sim:
        trained(sim, inp, p)
        path = sim.save_params(tmp_path / "params")
        saved = [sim.trainer.get(q.key) for q in sim.trainable_parameters]
    assert path.endswith(".npz")
    with nengo_native.Simulator(net, minibatch_size=4, progress_bar=False) as sim:
        fresh = [sim.trainer.get(q.key) for q in sim.trainable_parameters]
        sim.load_params(tmp_path / "params")
        loaded = [sim.trainer.get(q.key) for q in sim.trainable_parameters]
    assert any(not np.array_equal(a, b) for a, b in zip(saved, fresh, strict=True))
    for a, b in zip(saved, loaded, strict=True):
        assert np.array_equal(a, b)


def test_load_refuses_another_model_or_a_corrupt_file(tmp_path):
    net, inp, p = network()
    other, _, _ = network(n=30)
    with nengo_native.Simulator(other, progress_bar=False) as sim:
        sim.save_params(tmp_path / "other")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a zip file")
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        with pytest.raises(ValidationError, match="different model"):
            sim.load_params(tmp_path / "other.npz")
        with pytest.raises(ValidationError, match="cannot read"):
            sim.load_params(corrupt)
        with pytest.raises(ValidationError, match="cannot read"):
            sim.load_params(tmp_path / "missing.npz")


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.filterwarnings("error::nengo.exceptions.NengoWarning")
def test_freeze_params_then_nengo_simulator_runs_the_trained_model():
    net, inp, p = network()
    x = np.random.RandomState(5).uniform(-1, 1, size=(1, 50, 2))
    with nengo_native.Simulator(net, minibatch_size=4, progress_bar=False) as sim:
        trained(sim, inp, p)
        native = sim.predict({inp: np.repeat(x, 4, axis=0)})[p][0]
        sim.freeze_params(net)
    with net:
        inp.output = nengo.processes.PresentInput(x[0], presentation_time=0.001)
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run_steps(50)
    assert np.allclose(ref.data[p], native, rtol=1e-9, atol=1e-9)


def test_get_nengo_params_builds_the_same_objects():
    net, inp, p = network()
    ens, conns = net.ensembles[0], net.connections
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        params = sim.get_nengo_params([ens, conns[1], conns[2]])
        by_name = sim.get_nengo_params([ens], as_dict=True)
    ens_params, decoded, neuron_conn = params
    assert set(ens_params) >= {"encoders", "gain", "bias", "normalize_encoders"}
    assert str(ens) in by_name
    with nengo.Network() as copy:
        e = nengo.Ensemble(ens.n_neurons, ens.dimensions, **ens_params)
        f = nengo.Ensemble(1, 1)
        nengo.Connection(e, f, **decoded)
    with nengo.Simulator(copy, progress_bar=False) as ref:
        with nengo_native.Simulator(net, progress_bar=False) as sim:
            assert np.allclose(
                ref.data[e].scaled_encoders, sim.data[ens].scaled_encoders
            )
            assert np.allclose(ref.data[e].bias, sim.data[ens].bias)
    assert neuron_conn["transform"].init.shape == (1, 25)
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        with pytest.raises(ValidationError, match="no parameters"):
            sim.get_nengo_params([p])
