"""configure_settings and which built signals are trainable (NengoDL's rules)."""

import nengo
import numpy as np
import pytest
from nengo.builder import Model
from nengo.exceptions import ConfigError, NetworkContextError, ValidationError

import nengo_native
from nengo_native.training.config import (
    SETTINGS,
    TrainableParameter,
    get_setting,
    trainable_parameters,
)


def build(net):
    model = Model()
    model.build(net)
    return model


def keys(model, net=None):
    """{(obj, name)} of the trainable parameters."""
    return {r.key for r in trainable_parameters(model, net)}


def three_layer(**settings):
    """node -> a -> b -> out node, with configure_settings(**settings)."""
    with nengo.Network(seed=1) as net:
        if settings:
            nengo_native.configure_settings(**settings)
        net.inp = nengo.Node([0.5])
        net.a = nengo.Ensemble(10, 1)
        net.b = nengo.Ensemble(8, 2)
        net.out = nengo.Node(size_in=2)
        net.c_in = nengo.Connection(net.inp, net.a)  # no transform: no weights
        net.c_ab = nengo.Connection(net.a, net.b[0], function=np.square)
        net.c_out = nengo.Connection(net.b, net.out)
        net.p = nengo.Probe(net.b, synapse=0.01)
    return net


def all_keys(net):
    return {
        (net.a, "encoders"),
        (net.a.neurons, "bias"),
        (net.b, "encoders"),
        (net.b.neurons, "bias"),
        (net.c_ab, "weights"),
        (net.c_out, "weights"),
    }


def test_default_everything_trainable():
    # with or without configure_settings, None means trainable
    for settings in ({}, {"trainable": None}):
        net = three_layer(**settings)
        model = build(net)
        assert keys(model) == all_keys(net)
        assert model.sig[net.c_in]["weights"] is None


def test_records_point_at_builder_signals():
    net = three_layer()
    model = build(net)
    records = trainable_parameters(model)
    assert all(isinstance(r, TrainableParameter) for r in records)
    for r in records:
        assert r.signal is model.sig[r.obj][r.name]
        assert not r.signal.is_view
    enc = next(r for r in records if r.key == (net.a, "encoders"))
    # nengo stores encoders scaled by gain / radius
    built = model.params[net.a]
    np.testing.assert_allclose(enc.signal.initial_value, built.scaled_encoders)
    bias = next(r for r in records if r.key == (net.a.neurons, "bias"))
    np.testing.assert_allclose(bias.signal.initial_value, built.bias)
    # decoded connection: weights are the decoders (transposed, times transform)
    w = next(r for r in records if r.key == (net.c_out, "weights"))
    np.testing.assert_allclose(w.signal.initial_value, model.params[net.c_out].weights)
    # order: ensembles then connections, deterministic
    assert [r.key for r in records] == [r.key for r in trainable_parameters(model)]
    assert [r.name for r in records][:4] == ["encoders", "bias", "encoders", "bias"]
    assert "shape=(10, 1)" in repr(enc)


def test_tutorial_setup_encoders_only():
    # the tutorial: configure_settings(trainable=False) then Ensemble -> True.
    # Neurons keep the class default False from configure_settings, so the
    # biases do not train (NengoDL's behaviour).
    net = three_layer(trainable=False)
    with net:
        net.config[nengo.Ensemble].trainable = True
    model = build(net)
    assert keys(model) == {(net.a, "encoders"), (net.b, "encoders")}

    with net:
        net.config[nengo.ensemble.Neurons].trainable = True
    assert keys(build(net)) == {
        (net.a, "encoders"),
        (net.a.neurons, "bias"),
        (net.b, "encoders"),
        (net.b.neurons, "bias"),
    }


def test_neurons_follow_ensemble_when_unset():
    net = three_layer(trainable=None)
    with net:
        net.config[net.a].trainable = False
    model = build(net)
    k = keys(model)
    assert (net.a, "encoders") not in k
    assert (net.a.neurons, "bias") not in k  # follows its ensemble
    assert (net.b.neurons, "bias") in k

    # an explicit neurons setting wins over the ensemble
    with net:
        net.config[net.a.neurons].trainable = True
    k = keys(build(net))
    assert (net.a, "encoders") not in k
    assert (net.a.neurons, "bias") in k

    # and the other way round
    with net:
        net.config[net.a].trainable = True
        net.config[net.a.neurons].trainable = False
    k = keys(build(net))
    assert (net.a, "encoders") in k
    assert (net.a.neurons, "bias") not in k


def test_class_and_instance_overrides():
    net = three_layer(trainable=None)
    with net:
        net.config[nengo.Connection].trainable = False
        net.config[net.c_ab].trainable = True  # instance beats class
        net.config[nengo.Ensemble].trainable = False
        net.config[net.b].trainable = True
    k = keys(build(net))
    assert k == {
        (net.c_ab, "weights"),
        (net.b, "encoders"),
        (net.b.neurons, "bias"),
    }


def test_instance_setting_before_class_setting():
    # order of the assignments does not matter, and objects created after a
    # class setting are covered by it as well
    with nengo.Network() as net:
        nengo_native.configure_settings(trainable=None)
        a = nengo.Ensemble(5, 1)
        net.config[a].trainable = True
        net.config[nengo.Ensemble].trainable = False
        b = nengo.Ensemble(5, 1)
    k = keys(build(net))
    assert (a, "encoders") in k
    assert (b, "encoders") not in k


def nested(outer, inner):
    with nengo.Network(seed=2) as net:
        nengo_native.configure_settings(trainable=outer)
        net.a = nengo.Ensemble(5, 1)
        with nengo.Network() as net.sub:
            if inner != "unset":
                nengo_native.configure_settings(trainable=inner)
            net.b = nengo.Ensemble(5, 1)
            net.conn = nengo.Connection(net.a, net.b)
            with nengo.Network() as net.subsub:
                net.c = nengo.Ensemble(5, 1)
    return net


@pytest.mark.parametrize(
    "outer, inner, expect_inner",
    [
        (True, False, False),
        (False, True, True),
        (False, None, False),  # None in the subnetwork: no opinion, parent rules
        (None, False, False),
        (False, "unset", False),  # no trainable param in sub: parent rules
        (None, "unset", True),
    ],
)
def test_nested_networks(outer, inner, expect_inner):
    net = nested(outer, inner)
    k = keys(build(net))
    outer_on = outer is not False
    assert ((net.a, "encoders") in k) == outer_on
    assert ((net.a.neurons, "bias") in k) == outer_on
    for obj in (net.b, net.c):  # subsub has no settings: inherits sub's
        assert ((obj, "encoders") in k) == expect_inner
        assert ((obj.neurons, "bias") in k) == expect_inner
    assert ((net.conn, "weights") in k) == expect_inner


def test_subnetwork_class_default_beats_parent_instance_setting():
    # NengoDL: configs are applied top down and the innermost non-None value
    # wins, even if the outer one was set on the instance
    net = nested(None, False)
    with net:
        net.config[net.b].trainable = True
    assert (net.b, "encoders") not in keys(build(net))

    # an instance setting in the subnetwork's own config does win
    with net.sub:
        net.sub.config[net.b].trainable = True
    assert (net.b, "encoders") in keys(build(net))


def test_subnetwork_config_without_configure_settings():
    # configuring the class in a subnetwork's config without the trainable
    # parameter does not block the parent's setting
    with nengo.Network() as net:
        nengo_native.configure_settings(trainable=False)
        with nengo.Network() as sub:
            sub.config[nengo.Ensemble].radius = 2
            b = nengo.Ensemble(5, 1)
    assert keys(build(net)) == set()
    assert b.radius == 2


def test_direct_ensembles_and_connections_without_weights():
    with nengo.Network() as net:
        a = nengo.Ensemble(1, 2, neuron_type=nengo.Direct())
        b = nengo.Ensemble(5, 2)
        c_none = nengo.Connection(a, b, transform=None)  # no weights
        c_w = nengo.Connection(b.neurons, b.neurons, transform=np.eye(5) * 0.1)
        nengo.Probe(b.neurons)  # probe connections never train
    k = keys(build(net))
    assert (a, "encoders") in k  # identity encoders, as in NengoDL
    assert (a.neurons, "bias") not in k  # Direct neurons have no bias
    assert not any(key[0] is c_none for key in k)
    assert (c_w, "weights") in k
    assert len(k) == 4  # a enc, b enc, b bias, c_w


def test_learning_rule_targets_not_trainable():
    with nengo.Network() as net:
        nengo_native.configure_settings(trainable=None)
        a = nengo.Ensemble(10, 1)
        b = nengo.Ensemble(10, 1)
        c = nengo.Connection(a, b, learning_rule_type=nengo.PES())
        nengo.Connection(b, c.learning_rule)
        d = nengo.Ensemble(10, 1)
        nengo.Connection(a, d, learning_rule_type=nengo.Voja())
    k = keys(build(net))
    assert (c, "weights") not in k
    assert (d, "encoders") not in k
    assert (d.neurons, "bias") in k

    with net:
        net.config[c].trainable = True
    with pytest.warns(UserWarning, match="learning rule"):
        k = keys(build(net))
    assert (c, "weights") not in k


def test_network_argument_and_errors():
    net = three_layer()
    model = build(net)
    assert keys(model, net) == keys(model)
    with pytest.raises(ValidationError, match="no top-level network"):
        trainable_parameters(Model())
    other = three_layer()
    with pytest.raises(ValidationError, match="not in the built model"):
        trainable_parameters(model, other)


def test_unknown_setting_lists_valid_ones():
    with nengo.Network():
        with pytest.raises(ConfigError, match="'dtyp'") as info:
            nengo_native.configure_settings(dtyp="float32")
    for name in SETTINGS:
        assert repr(name) in str(info.value)
    # nothing is changed when any setting is bad
    with nengo.Network() as net:
        with pytest.raises(ConfigError):
            nengo_native.configure_settings(trainable=False, bogus=1)
    assert "trainable" not in net.config[nengo.Ensemble].extra_params


def test_bad_values():
    with nengo.Network() as net:
        with pytest.raises(ValidationError, match="None, True or False"):
            nengo_native.configure_settings(trainable=1)
        for bad in (0, -0.1, float("nan"), float("inf"), "0.1", True):
            with pytest.raises(ValidationError, match="positive"):
                nengo_native.configure_settings(lif_smoothing=bad)
        with pytest.raises(ValidationError, match="positive"):
            nengo_native.configure_settings(trainable=True, lif_smoothing=-1)
    assert get_setting(net, "lif_smoothing") is None
    assert "trainable" not in net.config[nengo.Ensemble].extra_params


def test_outside_network_context():
    with pytest.raises(NetworkContextError, match="inside a network context"):
        nengo_native.configure_settings(trainable=False)


def test_lif_smoothing_on_toplevel():
    with nengo.Network() as net:
        with nengo.Network():
            nengo_native.configure_settings(lif_smoothing=0.05)
        nengo.Ensemble(5, 1)
    assert get_setting(net, "lif_smoothing") == 0.05
    assert get_setting(build(net), "lif_smoothing") == 0.05
    with net:
        nengo_native.configure_settings(lif_smoothing=None)
    assert get_setting(net, "lif_smoothing", default=1.0) is None
    assert get_setting(nengo.Network(), "lif_smoothing", default=0.5) == 0.5
    assert get_setting(Model(), "lif_smoothing", default=0.5) == 0.5
    with pytest.raises(ConfigError, match="not a network-wide setting"):
        get_setting(net, "trainable")


def test_reconfigure_keeps_instance_settings():
    with nengo.Network() as net:
        nengo_native.configure_settings(trainable=True)
        a = nengo.Ensemble(5, 1)
        b = nengo.Ensemble(5, 1)
        net.config[a].trainable = False
        nengo_native.configure_settings(trainable=False)
        net.config[b].trainable = True
    k = keys(build(net))
    assert (a, "encoders") not in k
    assert (b, "encoders") in k
    assert net.config[nengo.Connection].trainable is False
