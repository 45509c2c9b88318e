"""What NengoDL/Keras users bring to fit: callbacks, validation_split, truncation of
partial minibatches, clear refusals of unsupported arguments, readable names."""

import warnings

import nengo
import numpy as np
import pytest
from nengo.exceptions import ValidationError

import nengo_native
from nengo_native import callbacks, optimizers


def product_net(label_probe=True):
    with nengo.Network(seed=1) as net:
        inp = nengo.Node(np.zeros(2), label="x")
        ens = nengo.Ensemble(30, 2, neuron_type=nengo.LIF())
        out = nengo.Node(size_in=1, label="out")
        nengo.Connection(inp, ens, synapse=None)
        nengo.Connection(ens, out, function=lambda x: x[0] * x[1], synapse=None)
        p_out = nengo.Probe(out, label="out" if label_probe else None)
    return net, inp, p_out


def data(n, seed=0):
    x = np.random.RandomState(seed).uniform(-1, 1, size=(n, 1, 2))
    return x, x[..., :1] * x[..., 1:]


@pytest.fixture
def sim_and_data():
    net, inp, p_out = product_net()
    x, y = data(32)
    with nengo_native.Simulator(net, minibatch_size=8, progress_bar=False) as sim:
        sim.compile(optimizer=optimizers.SGD(0.05), loss={p_out: "mse"})
        yield sim, inp, p_out, x, y


class Recorder(callbacks.Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch, sorted(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))


def test_callback_base_sees_every_epoch_and_batch(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    rec = Recorder()
    sim.fit({inp: x}, {p_out: y}, epochs=2, callbacks=[rec])
    assert rec.sim is sim
    kinds = [e[0] for e in rec.events]
    assert kinds == (
        ["train_begin"]
        + (["epoch_begin"] + ["batch_end"] * 4 + ["epoch_end"]) * 2
        + ["train_end"]
    )
    assert rec.events[2] == ("batch_end", 0, ["loss", "out_loss"])
    assert rec.events[6] == ("epoch_end", 0, ["loss", "out_loss"])


def test_callbacks_must_be_callbacks(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    with pytest.raises(ValidationError, match="callbacks: .*Callback instances"):
        sim.fit({inp: x}, {p_out: y}, callbacks=[object()])


def test_early_stopping_stops_and_restores_best(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    # a learning rate so large that the loss goes up after the first epochs
    sim.compile(optimizer=optimizers.SGD(30.0), loss={p_out: "mse"})
    stop = callbacks.EarlyStopping(
        monitor="loss", patience=2, restore_best_weights=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = sim.fit({inp: x}, {p_out: y}, epochs=50, callbacks=[stop])
    losses = history.history["loss"]
    assert len(losses) < 50
    assert stop.stopped_epoch == len(losses) - 1
    best = int(np.argmin(losses))
    assert stop.best_epoch == best and len(losses) == best + 3
    # the restored parameters are the best epoch's: evaluated on the training data
    # (rate model, no shuffling differences for SGD), the loss is at most the best
    # epoch's end-of-epoch loss rather than the last one.
    sim.compile(loss={p_out: "mse"})
    after = sim.evaluate({inp: x}, {p_out: y})["loss"]
    assert after < losses[-1]


def test_early_stopping_patience_counts_epochs_without_improvement(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    sim.compile(optimizer=optimizers.SGD(1e-30), loss={p_out: "mse"})  # no change
    stop = callbacks.EarlyStopping(monitor="loss", patience=3, min_delta=1e-6)
    history = sim.fit({inp: x}, {p_out: y}, epochs=20, shuffle=False, callbacks=[stop])
    assert len(history.history["loss"]) == 4  # the first, then 3 without improvement


def test_early_stopping_missing_monitor_warns(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    with pytest.warns(RuntimeWarning, match="'val_loss' is not in the epoch's logs"):
        sim.fit({inp: x}, {p_out: y}, epochs=1, callbacks=[callbacks.EarlyStopping()])


def test_terminate_on_nan_is_on_by_default(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    before = [sim.data[ens].encoders.copy() for ens in sim.model.toplevel.ensembles]
    sim.compile(optimizer=optimizers.Adam(1.0), loss={p_out: "mse"})
    sim.fit({inp: x}, {p_out: y}, epochs=1)  # one finite epoch first
    finite = sim.get_nengo_params(sim.model.toplevel.ensembles)
    # a learning rate so large that the parameters overflow to inf within an epoch
    sim.compile(optimizer=optimizers.SGD(1e200), loss={p_out: "mse"})
    with pytest.warns(
        RuntimeWarning, match=r"fit stopped at epoch \d+: the loss is not finite"
    ):
        history = sim.fit({inp: x}, {p_out: y}, epochs=100)
    assert len(history.history["loss"]) < 100
    assert not np.isfinite(history.history["loss"][-1])
    restored = sim.get_nengo_params(sim.model.toplevel.ensembles)
    for a, b in zip(finite, restored, strict=True):
        for key in a:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))
    assert before  # the model had ensembles to compare


def test_terminate_on_nan_can_be_turned_off(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    sim.compile(optimizer=optimizers.SGD(1e200), loss={p_out: "mse"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = sim.fit({inp: x}, {p_out: y}, epochs=4, terminate_on_nan=False)
    assert len(history.history["loss"]) == 4


def test_model_checkpoint_saves_through_save_params(sim_and_data, tmp_path):
    sim, inp, p_out, x, y = sim_and_data
    every = callbacks.ModelCheckpoint(tmp_path / "ckpt_{epoch:02d}")
    best = callbacks.ModelCheckpoint(
        tmp_path / "best", monitor="loss", save_best_only=True
    )
    history = sim.fit({inp: x}, {p_out: y}, epochs=3, callbacks=[every, best])
    assert [p.rsplit("/", 1)[-1] for p in every.saved] == [
        "ckpt_01.npz",
        "ckpt_02.npz",
        "ckpt_03.npz",
    ]
    n_best = 1 + sum(
        b < min(history.history["loss"][:i])
        for i, b in enumerate(history.history["loss"])
        if i
    )
    assert len(best.saved) == n_best
    # the last checkpoint loads back to the current parameters
    current = sim.get_nengo_params(sim.model.toplevel.ensembles)
    sim.fit({inp: x}, {p_out: y}, epochs=1)
    sim.load_params(every.saved[-1])
    for a, b in zip(
        current, sim.get_nengo_params(sim.model.toplevel.ensembles), strict=True
    ):
        for key in a:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))


def test_learning_rate_scheduler(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return 0.1 / (epoch + 1)

    sim.fit(
        {inp: x},
        {p_out: y},
        epochs=3,
        callbacks=[callbacks.LearningRateScheduler(schedule)],
    )
    assert seen == [(0, 0.05), (1, 0.1), (2, 0.05)]
    assert sim.trainer.compiled.optimizer.learning_rate == pytest.approx(0.1 / 3)
    bad = callbacks.LearningRateScheduler(lambda epoch, lr: -1.0)
    with pytest.raises(ValidationError, match="returned -1.0"):
        sim.fit({inp: x}, {p_out: y}, callbacks=[bad])


def test_validation_split_takes_the_last_samples(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    rec = Recorder()
    history = sim.fit(
        {inp: x}, {p_out: y}, epochs=1, validation_split=0.25, callbacks=[rec]
    )
    # 24 training samples: 3 minibatches of 8
    assert sum(e[0] == "batch_end" for e in rec.events) == 3
    sim.compile(loss={p_out: "mse"})
    val = sim.evaluate({inp: x[24:]}, {p_out: y[24:]})["loss"]
    assert history.history["val_loss"] == [pytest.approx(val)]
    with pytest.raises(ValidationError, match="validation_split: must be a number"):
        sim.compile(optimizer="sgd", loss={p_out: "mse"})
        sim.fit({inp: x}, {p_out: y}, validation_split=1.5)


def test_fit_and_evaluate_truncate_partial_minibatches(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    rec = Recorder()
    match = (
        r"Number of elements in input data \(29\) is not evenly divisible by "
        r"Simulator.minibatch_size \(8\); input data will be truncated"
    )
    with pytest.warns(UserWarning, match=match):
        sim.fit({inp: x[:29]}, {p_out: y[:29]}, epochs=1, callbacks=[rec])
    assert sum(e[0] == "batch_end" for e in rec.events) == 3
    with pytest.warns(UserWarning, match=match):
        partial = sim.evaluate({inp: x[:29]}, {p_out: y[:29]})
    assert partial == sim.evaluate({inp: x[:24]}, {p_out: y[:24]})


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda s, x, y: s.fit(x, y, sample_weight=np.ones(32)),
            r"fit\(\) does not support the argument 'sample_weight': per-sample "
            r"weights are not supported; use compile\(loss_weights=...\)",
        ),
        (
            lambda s, x, y: s.fit(x, y, stateful=True),
            r"fit\(\) does not support the argument 'stateful': stateful=True is not "
            r"supported in fit",
        ),
        (
            lambda s, x, y: s.fit(x, y, class_weight={0: 1}),
            r"'class_weight': class weights are not supported",
        ),
        (
            lambda s, x, y: s.fit(x, y, soft_reset=True),
            r"'soft_reset': NengoDL's soft_reset is not supported; use "
            r"sim.reset\(seed, include_trainable=False\)",
        ),
        (
            lambda s, x, y: s.evaluate(x, y, stateful=True),
            r"evaluate\(\) does not support the argument 'stateful'",
        ),
        (
            lambda s, x, y: s.evaluate(x, y, sample_weight=1),
            r"evaluate\(\) does not support the argument 'sample_weight'",
        ),
        (
            lambda s, x, y: s.predict(x, batch_size=4),
            r"predict\(\) does not support the argument 'batch_size': the batch size "
            r"is the Simulator's minibatch_size",
        ),
        (
            lambda s, x, y: s.save_params("p", include_state=True),
            r"save_params\(\) does not support the argument 'include_state': only "
            r"trainable parameters are saved",
        ),
        (
            lambda s, x, y: s.load_params("p", include_state=True),
            r"load_params\(\) does not support the argument 'include_state'",
        ),
        (
            lambda s, x, y: s.fit(x, y, no_such_thing=1),
            r"fit\(\) got an unexpected keyword argument 'no_such_thing' "
            r"\(nengo_native does not support it; see docs/migration.md",
        ),
    ],
)
def test_unsupported_arguments_are_refused_clearly(sim_and_data, call, match):
    sim, inp, p_out, x, y = sim_and_data
    with pytest.raises(TypeError, match=match):
        call(sim, {inp: x}, {p_out: y})


def test_harmless_nengodl_arguments_are_accepted(sim_and_data):
    sim, inp, p_out, x, y = sim_and_data
    sim.fit({inp: x}, {p_out: y}, stateful=False)
    sim.evaluate({inp: x}, {p_out: y}, stateful=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"device": "/gpu:0"},
            r"Simulator\(\) does not support the argument 'device': nengo_native runs "
            r"on the CPU with OpenMP; .*set_num_threads",
        ),
        (
            {"unroll_simulation": 10},
            r"Simulator\(\) does not support the argument 'unroll_simulation'",
        ),
        (
            {"keras_model": object()},
            r"'keras_model': there is no Keras model behind nengo_native",
        ),
    ],
)
def test_unsupported_simulator_arguments(kwargs, match):
    net, _, _ = product_net()
    with pytest.raises(TypeError, match=match):
        nengo_native.Simulator(net, **kwargs)


def test_unlabelled_probes_get_readable_history_names():
    with nengo.Network(seed=0) as net:
        inp = nengo.Node(np.zeros(1))
        ens = nengo.Ensemble(10, 1, label="hidden")
        out = nengo.Node(size_in=1, label="out")
        anon = nengo.Node(size_in=1)
        nengo.Connection(inp, ens, synapse=None)
        nengo.Connection(ens, out, synapse=None)
        nengo.Connection(ens, anon, synapse=None)
        probes = [
            nengo.Probe(out),
            nengo.Probe(ens),
            nengo.Probe(ens.neurons),
            nengo.Probe(anon),
            nengo.Probe(anon),
        ]
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        names = sim.trainer._names
    assert [names[p] for p in probes] == [
        "probe_out",
        "probe_hidden",
        "probe_hidden_neurons",
        "probe_node",
        "probe_node_1",
    ]


def test_evaluate_progress_bar_is_labelled_as_evaluation(sim_and_data, monkeypatch):
    sim, inp, p_out, x, y = sim_and_data
    labels = []
    import nengo_native.engine as engine_module

    original = engine_module.Progress

    def spy(name_during, name_after, max_steps):
        labels.append((name_during, name_after))
        return original(name_during, name_after, max_steps)

    monkeypatch.setattr(engine_module, "Progress", spy)
    sim.evaluate({inp: x}, {p_out: y})
    assert labels == [("Evaluating", "Evaluation")]
