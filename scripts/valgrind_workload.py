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
        net.my_probes = [
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
