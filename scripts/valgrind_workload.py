"""A short run touching every kernel family, for scripts/valgrind.sh (memcheck).

Small on purpose: under valgrind everything runs ~50x slower.
"""

import pickle

import nengo
import numpy as np

import nengo_native

nengo.rc.set("decoder_cache", "enabled", "False")


# module-level functions, so that the simulator pickles
def stim_fn(t):
    return [np.sin(10 * t), np.cos(10 * t)]


def square(x):
    return x**2


def double(t, x):
    return 2 * x


def build():
    with nengo.Network(seed=1) as net:
        stim = nengo.Node(stim_fn, label="stim")
        fed = nengo.Node([0.0, 0.0], label="fed")
        a = nengo.Ensemble(30, 2)
        b = nengo.Ensemble(20, 2, neuron_type=nengo.AdaptiveLIF())
        c = nengo.Ensemble(10, 1, neuron_type=nengo.RectifiedLinear())
        d = nengo.Ensemble(8, 1, neuron_type=nengo.SpikingRectifiedLinear())
        e = nengo.Ensemble(8, 1, neuron_type=nengo.Sigmoid())
        nengo.Connection(stim, a)
        nengo.Connection(fed, a)
        conn = nengo.Connection(a, b, synapse=nengo.Alpha(0.005))
        conn.learning_rule_type = nengo.PES(learning_rate=1e-4)
        nengo.Connection(b, conn.learning_rule, transform=-1)
        nengo.Connection(stim, conn.learning_rule)
        nengo.Connection(b[0], c, function=square, synapse=0.01)
        nengo.Connection(
            a.neurons,
            d.neurons,
            transform=nengo.transforms.Sparse(
                (8, 30), indices=[[i, i] for i in range(8)]
            ),
        )
        nengo.Connection(b.neurons, e.neurons, transform=np.ones((8, 20)) * 0.01)
        nengo.Connection(c, c, synapse=nengo.LinearFilter([1], [0.01, 1]))
        noise = nengo.Node(nengo.processes.WhiteNoise(seed=2), size_out=2)
        nengo.Connection(noise, b, transform=0.1)
        img = nengo.Node(np.linspace(-1, 1, 2 * 4 * 4))
        conv = nengo.Node(size_in=3 * 3 * 2)
        nengo.Connection(
            img,
            conv,
            transform=nengo.Convolution(
                2, (4, 4, 2), kernel_size=(2, 2), init=nengo.dists.Uniform(-1, 1)
            ),
        )
        bn = nengo_native.BatchNode(double, shape_in=2, shape_out=2)
        nengo.Connection(a, bn)
        # Weights of spiking neurons, stored by columns.
        rng = np.random.RandomState(0)
        columns = []
        for rows in (130, 140):
            pre, post = nengo.Ensemble(128, 2), nengo.Ensemble(rows, 1)
            nengo.Connection(stim, pre)
            weights = rng.randn(rows, 128) * 2e-3
            nengo.Connection(pre.neurons, post.neurons, transform=weights)
            columns.append(nengo.Probe(post.neurons, synapse=0.01))
        net.my_probes = columns + [
            nengo.Probe(a, synapse=0.01),
            nengo.Probe(b.neurons, sample_every=0.003),
            nengo.Probe(c),
            nengo.Probe(d.neurons),
            nengo.Probe(e.neurons),
            nengo.Probe(conv),
            nengo.Probe(bn),
            nengo.Probe(conn, "weights", sample_every=0.01),
        ]
        net.fed = fed
    return net


net = build()
for dtype in ("float64", "float32"):
    for minibatch_size in (None, 3):
        batch = minibatch_size or 1
        with nengo_native.Simulator(
            net, dtype=dtype, minibatch_size=minibatch_size, progress_bar=False
        ) as sim:
            assert sim.program.layout.column_major
            sim.run_steps(20)
            sim.run_steps(10, data={net.fed: np.ones((batch, 10, 2))})
            sim.step()
            out = sim.predict({net.fed: np.ones((2 * batch, 5, 2))})
            sim.reset(seed=3)
            sim.run_steps(5)
            clone = pickle.loads(pickle.dumps(sim)) if minibatch_size is None else None
            if clone is not None:
                clone.run_steps(3)
                clone.close()
            for p in net.my_probes:
                assert np.all(np.isfinite(sim.data[p])), p
            assert all(np.all(np.isfinite(v)) for v in out.values())
        print(dtype, minibatch_size, "ok", sim.n_steps)


def build_trainable():
    """Every differentiable kernel family in a training run (backward passes)."""
    with nengo.Network(seed=2) as net:
        inp = nengo.Node(np.zeros(2), label="inp")
        a = nengo.Ensemble(12, 2)
        b = nengo.Ensemble(10, 1, neuron_type=nengo.AdaptiveLIF(tau_n=0.05, inc_n=0.1))
        c = nengo.Ensemble(6, 1, neuron_type=nengo.Tanh())
        out = nengo.Node(size_in=1)
        nengo.Connection(inp, a, synapse=None)
        nengo.Connection(a, b, function=lambda x: x[0] * x[1], synapse=0.005)
        nengo.Connection(b, c, synapse=nengo.Alpha(0.003))
        nengo.Connection(
            c.neurons,
            out,
            transform=nengo.transforms.Sparse((1, 6), indices=[[0, 1], [0, 4]]),
        )
        nengo.Connection(c, out, transform=0.5, synapse=None)
        img = nengo.Node(size_in=8)
        nengo.Connection(a.neurons[:8], img, transform=0.01, synapse=None)
        conv = nengo.Node(size_in=3)
        nengo.Connection(
            img,
            conv,
            transform=nengo.Convolution(1, (8, 1), kernel_size=(6,), strides=(1,)),
        )
        nengo.Connection(conv, out, transform=[[0.1, 0.1, 0.1]], synapse=None)
        bn = nengo_native.BatchNode(
            lambda t, x: 2 * x, shape_in=1, gradient=lambda t, x, dy: 2 * dy
        )
        nengo.Connection(out, bn, synapse=None)
        net.probe = nengo.Probe(bn)
        net.inp = inp
    return net


train_net = build_trainable()
for dtype in ("float64", "float32"):
    # Without nengo's merging, whose order varies from run to run, the same kernels
    # run every time.
    with nengo_native.Simulator(
        train_net, dtype=dtype, minibatch_size=2, progress_bar=False, optimize=False
    ) as sim:
        x = np.random.RandomState(0).uniform(-1, 1, size=(4, 6, 2))
        sim.compile(optimizer="adam", loss={train_net.probe: "mse"})
        sim.fit({train_net.inp: x}, {train_net.probe: np.zeros((4, 6, 1))}, epochs=2)
        sim.check_gradients({train_net.inp: x[:2]}, max_checks=2, rtol=1.0)
        assert np.isfinite(
            sim.evaluate({train_net.inp: x}, {train_net.probe: x[..., :1]})["loss"]
        )
    print(dtype, "training ok")
