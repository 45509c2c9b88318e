"""ConvInc and ConvTransposeInc run natively, match nengo, and differentiate."""

from __future__ import annotations

import textwrap

import nengo
import numpy as np
import pytest
from _threads import outputs_for_1_and_2_threads
from nengo.builder.signal import Signal
from nengo.builder.transforms import ConvInc, ConvTransposeInc

import nengo_native
from nengo_native import _core
from nengo_native.planner.layout import Layout
from nengo_native.planner.lower_conv import ConvIncLowering
from nengo_native.planner.program import KernelStep

Conv, ConvT = nengo.Convolution, nengo.ConvolutionTranspose

TRANSFORMS = {
    "2d-valid": lambda: Conv(4, (6, 7, 3), kernel_size=(3, 3)),
    "2d-same-strides": lambda: Conv(
        5, (7, 8, 3), kernel_size=(3, 2), strides=(2, 3), padding="same"
    ),
    "2d-channels-first": lambda: Conv(
        4, (3, 6, 7), kernel_size=(2, 3), strides=(1, 2), channels_last=False
    ),
    "2d-groups": lambda: Conv(
        6,
        (4, 5, 6),
        kernel_size=(3, 3),
        strides=(2, 2),
        padding="same",
        groups=2,
        channels_last=False,
    ),
    "2d-depthwise": lambda: Conv(4, (6, 6, 4), padding="same", groups=4),
    "1d-valid": lambda: Conv(3, (10, 2), kernel_size=(4,), strides=(3,)),
    "1d-same-groups": lambda: Conv(
        6, (9, 4), kernel_size=(3,), strides=(2,), padding="same", groups=2
    ),
    "1d-channels-first": lambda: Conv(
        2, (3, 11), kernel_size=(5,), strides=(2,), padding="same", channels_last=False
    ),
    "t2d-same": lambda: ConvT(
        3, (3, 4, 2), kernel_size=(3, 3), strides=(2, 2), padding="same"
    ),
    "t2d-valid-channels-first": lambda: ConvT(
        3, (2, 3, 4), kernel_size=(2, 3), strides=(2, 1), channels_last=False
    ),
    "t2d-output-shape": lambda: ConvT(
        2,
        (3, 4, 2),
        output_shape=(6, 8, 2),
        kernel_size=(3, 3),
        strides=(2, 2),
        padding="same",
    ),
    "t1d-valid": lambda: ConvT(3, (5, 2), kernel_size=(3,), strides=(2,)),
    "t1d-same-channels-first": lambda: ConvT(
        2, (3, 4), kernel_size=(4,), strides=(3,), padding="same", channels_last=False
    ),
}


def sines(n: int, phase: float = 0.3):
    return lambda t: np.sin(np.arange(1, n + 1) * 3 * t + phase)


def assert_close(got, want):
    scale = max(np.abs(want).max(), 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale)


def run_both(net, n_steps=5, **kwargs):
    with nengo.Simulator(net, progress_bar=False, **kwargs) as ref:
        ref.run_steps(n_steps)
    with nengo_native.Simulator(net, progress_bar=False, **kwargs) as sim:
        sim.run_steps(n_steps)
    return ref, sim


def native_ops(sim) -> list:
    return [
        op
        for step in sim.program.steps
        if isinstance(step, KernelStep)
        for op in step.ops
        if isinstance(op, (ConvInc, ConvTransposeInc))
    ]


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_conv_matches_nengo(name):
    transform = TRANSFORMS[name]()
    with nengo.Network(seed=0) as net:
        u = nengo.Node(sines(transform.size_in))
        out = nengo.Node(size_in=transform.size_out)
        nengo.Connection(u, out, transform=transform, synapse=None)
        probe = nengo.Probe(out)
    ref, sim = run_both(net)
    assert not sim.fallback_operators
    assert len(native_ops(sim)) == 1
    assert np.abs(ref.data[probe]).max() > 0.1
    assert_close(sim.data[probe], ref.data[probe])


def mixed_network():
    """Several convolutions: spiking and sliced inputs, two into one signal, a chain."""
    a = Conv(4, (5, 6, 2), kernel_size=(3, 3), padding="same")
    b = Conv(4, (5, 6, 2), kernel_size=(2, 2), padding="same")
    t = ConvT(2, a.output_shape.shape, output_shape=(5, 6, 2), padding="same")
    c = Conv(3, (8, 2), kernel_size=(3,), strides=(1,))
    with nengo.Network(seed=2) as net:
        u = nengo.Node(sines(2 * a.size_in))
        ens = nengo.Ensemble(a.size_in, 1, max_rates=nengo.dists.Uniform(200, 400))
        nengo.Connection(u[: a.size_in], ens.neurons)
        mid = nengo.Node(size_in=a.size_out)
        nengo.Connection(ens.neurons, mid, transform=a, synapse=0.005)  # spikes in
        nengo.Connection(u[::2], mid, transform=b, synapse=None)  # strided input
        out = nengo.Node(size_in=t.size_out)
        nengo.Connection(mid, out, transform=t, synapse=None)
        out1 = nengo.Node(size_in=c.size_out)
        nengo.Connection(u[5:21], out1, transform=c, synapse=0.01)
        probes = [nengo.Probe(x) for x in (mid, out, out1)]
    return net, probes


@pytest.mark.parametrize("optimize", [False, True])
def test_mixed_network_matches_nengo(optimize):
    net, probes = mixed_network()
    ref, sim = run_both(net, n_steps=40, optimize=optimize)
    assert not sim.fallback_operators
    assert len(native_ops(sim)) == 4
    for p in probes:
        assert np.abs(ref.data[p]).max() > 0.1
        assert_close(sim.data[p], ref.data[p])


def test_three_dimensional_conv_falls_back():
    transform = Conv(2, (4, 4, 4, 1), kernel_size=(2, 2, 2), strides=(1, 1, 1))
    with nengo.Network() as net:
        u = nengo.Node(np.ones(transform.size_in))
        out = nengo.Node(size_in=transform.size_out)
        nengo.Connection(u, out, transform=transform)
    with pytest.raises(NotImplementedError, match="> 2D"):
        with nengo_native.Simulator(net, progress_bar=False):
            pass


def test_minibatch_items_match_single_runs():
    conv = Conv(4, (5, 6, 3), kernel_size=(3, 3), strides=(2, 1), padding="same")
    tconv = ConvT(
        3,
        conv.output_shape.shape,
        output_shape=(5, 6, 3),
        strides=(2, 1),
        padding="same",
    )
    with nengo.Network(seed=1) as net:
        u = nengo.Node(np.zeros(conv.size_in))
        mid = nengo.Node(size_in=conv.size_out)
        out = nengo.Node(size_in=tconv.size_out)
        nengo.Connection(u, mid, transform=conv, synapse=None)
        nengo.Connection(mid, out, transform=tconv, synapse=0.01)
        probe = nengo.Probe(out)
    n_steps = 6
    x = np.random.RandomState(0).randn(3, n_steps, conv.size_in)
    with nengo_native.Simulator(net, minibatch_size=3, progress_bar=False) as sim:
        sim.run_steps(n_steps, data={u: x})
        batched = sim.data[probe]
    assert not sim.fallback_operators
    assert batched.shape == (3, n_steps, tconv.size_out)
    assert not np.allclose(batched[0], batched[1])
    for i in range(3):
        with nengo_native.Simulator(net, progress_bar=False) as single:
            single.run_steps(n_steps, data={u: x[i : i + 1]})
        assert_close(batched[i], single.data[probe])


def test_check_gradients_through_conv_layers():
    conv = Conv(
        4, (5, 6, 2), kernel_size=(3, 3), strides=(2, 1), padding="same", groups=2
    )
    tconv = ConvT(
        2,
        conv.output_shape.shape,
        output_shape=(5, 6, 2),
        strides=(2, 1),
        padding="same",
    )
    with nengo.Network(seed=0) as net:
        u = nengo.Node(np.zeros(conv.size_in))
        n = conv.size_out
        ens = nengo.Ensemble(
            n, 1, neuron_type=nengo.Sigmoid(), gain=np.ones(n), bias=np.zeros(n)
        )
        out = nengo.Node(size_in=tconv.size_out)
        nengo.Connection(u, ens.neurons, transform=conv, synapse=None)
        nengo.Connection(ens.neurons, out, transform=tconv, synapse=0.005)
        nengo.Probe(out)
    x = np.random.RandomState(0).randn(2, 4, conv.size_in)
    with nengo_native.Simulator(net, minibatch_size=2, progress_bar=False) as sim:
        assert not sim.fallback_operators
        errors = sim.check_gradients({u: x}, n_steps=4, max_checks=20)
    conv_errors = [
        v
        for p, v in errors.items()
        if p.name == "weights" and p.signal.shape[:2] == (3, 3)
    ]
    assert len(conv_errors) == 2


# -- the kernels on their own, against finite differences ------------------------------

GRAD_CASES = {
    "2d-groups-then-transpose": (
        Conv(
            4, (4, 5, 2), kernel_size=(3, 2), strides=(2, 1), padding="same", groups=2
        ),
        lambda shape: ConvT(
            3, shape, output_shape=(5, 6, 3), kernel_size=(2, 2), strides=(2, 1)
        ),
    ),
    "1d-channels-first": (
        Conv(3, (2, 9), kernel_size=(3,), strides=(2,), channels_last=False),
        lambda shape: ConvT(
            2,
            shape,
            kernel_size=(2,),
            strides=(3,),
            padding="same",
            channels_last=False,
        ),
    ),
}


def executor_chain(conv, make_transpose, batch):
    """An executor running Y1 += conv(X, W1); Y2 += conv_transpose(Y1, W2), with probes
    on Y1 and Y2; X differs per item, nothing resets Y1 and Y2, so the loss over steps
    is a polynomial in X, W1 and W2."""
    tconv = make_transpose(conv.output_shape.shape)
    rng = np.random.RandomState(3)
    X = Signal(rng.randn(conv.size_in), name="X")
    W1 = Signal(conv.sample(rng=rng), name="W1")
    Y1 = Signal(np.zeros(conv.size_out), name="Y1")
    W2 = Signal(tconv.sample(rng=rng), name="W2")
    Y2 = Signal(np.zeros(tconv.size_out), name="Y2")
    ops = [ConvInc(W1, X, Y1, conv), ConvTransposeInc(W2, Y1, Y2, tconv)]
    layout = Layout([X, W1, Y1, W2, Y2], {X, Y1, Y2}, batch, np.float64, dt=0.001)
    executor = _core.Executor64(layout.size, 1, batch, 0.001, 0)
    lowering = ConvIncLowering()
    for op in ops:
        key = lowering.group_key(op, layout)
        params = lowering.lower([op], layout)
        params["chain_ptr"] = np.array([0, 1], dtype=np.int64)
        executor.add_kernel(lowering.kernel_kind(key), params)
    for sig in (Y1, Y2):
        executor.add_probe(*layout.mat_ref(sig), 1.0)
    arena = np.zeros(layout.size)
    layout.fill(arena, np.zeros(1, dtype=np.int64))
    layout.batch_view(arena, X)[...] = rng.randn(batch, X.size)  # items differ
    written = np.zeros(layout.size, dtype=np.uint8)
    for sig in (Y1, Y2):
        layout.batch_view(written, sig)[...] = 1
    executor.set_written(written)

    def elements(sig):
        items = batch if layout.per_item[sig] else 1
        return np.add.outer(
            layout.offset[sig] + layout.bstride(sig) * np.arange(items),
            np.arange(sig.size),
        ).ravel()

    regions = {name: elements(s) for name, s in (("X", X), ("W1", W1), ("W2", W2))}
    return executor, arena, regions, (Y1.size, Y2.size)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("case", list(GRAD_CASES))
def test_backward_matches_finite_differences(case, batch):
    conv, make_transpose = GRAD_CASES[case]
    executor, arena, regions, sizes = executor_chain(conv, make_transpose, batch)
    n_steps = 3
    rng = np.random.RandomState(4)
    weights = [rng.randn(n_steps, batch, n) for n in sizes]

    def loss(values, training=False):
        executor.arena[:] = values
        buffers = [np.zeros((n_steps, batch, n)) for n in sizes]
        executor.run(n_steps, buffers, [], training=training)
        return sum(np.sum(w * b) for w, b in zip(weights, buffers, strict=True))

    loss(arena, training=True)
    executor.backward(weights)
    grad = executor.grad.copy()
    eps = 1e-6
    for name, idx in regions.items():
        assert np.abs(grad[idx]).max() > 0, name
        for i in rng.permutation(idx)[:12]:
            up, down = arena.copy(), arena.copy()
            up[i] += eps
            down[i] -= eps
            numeric = (loss(up) - loss(down)) / (2 * eps)
            assert abs(grad[i] - numeric) <= 1e-5 * max(abs(numeric), 1e-3), (
                name,
                i,
                grad[i],
                numeric,
            )


def test_shared_weight_gradient_sums_items():
    """The shared weights' gradient over a batch is the sum of the items' gradients,
    and a backward pass repeated gives the same numbers."""
    conv, make_transpose = GRAD_CASES["2d-groups-then-transpose"]
    executor, arena, regions, sizes = executor_chain(conv, make_transpose, 2)
    n_steps = 2
    weights = [np.random.RandomState(5).randn(n_steps, 2, n) for n in sizes]

    def backward(w):
        executor.arena[:] = arena
        executor.run(n_steps, [np.zeros(x.shape) for x in w], [], training=True)
        executor.backward(w)
        return executor.grad.copy()

    full = backward(weights)
    assert np.array_equal(full, backward(weights))
    items = []
    for keep in (0, 1):
        w = [x.copy() for x in weights]
        for x in w:
            x[:, 1 - keep] = 0
        items.append(backward(w))
    for name in ("W1", "W2"):
        idx = regions[name]
        np.testing.assert_allclose(
            full[idx], items[0][idx] + items[1][idx], rtol=1e-12, atol=1e-12
        )


THREAD_SCRIPT = textwrap.dedent(
    """
    import sys
    import nengo, numpy as np
    import nengo_native

    # Big enough that the kernels split their work over threads.
    conv = nengo.Convolution(16, (32, 32, 8), padding="same", groups=2)
    tconv = nengo.ConvolutionTranspose(
        8, conv.output_shape.shape, output_shape=(32, 32, 8), padding="same"
    )
    with nengo.Network(seed=0) as net:
        u = nengo.Node(np.zeros(conv.size_in))
        mid = nengo.Node(size_in=conv.size_out)
        out = nengo.Node(size_in=tconv.size_out)
        nengo.Connection(u, mid, transform=conv, synapse=None)
        nengo.Connection(mid, out, transform=tconv, synapse=0.01)
        nengo.Probe(out)
    x = np.random.RandomState(0).randn(2, 3, conv.size_in)
    with nengo_native.Simulator(net, minibatch_size=2, progress_bar=False) as sim:
        sim.trainer.prepare()
        runtime = sim._engine.runtime
        samples, _, error = runtime.run(3, {u: x}, training=True)
        assert error is None
        runtime.backward([np.cos(np.arange(s.size)).reshape(s.shape) for s in samples])
        # Parameters by signal: the arena's layout may differ between processes.
        trainer = sim.trainer
        grads = [trainer.gradient(p.key).ravel() for p in trainer.params]
        assert len(grads) == 2 and all(np.abs(g).max() > 0 for g in grads)
        result = np.concatenate([samples[0].ravel()] + grads)
    np.save(sys.argv[1], result)
    """
)


def test_thread_count_does_not_change_results(tmp_path):
    results = outputs_for_1_and_2_threads(tmp_path, THREAD_SCRIPT)
    assert np.array_equal(results[0], results[1])
    assert np.abs(results[0]).max() > 0


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"x_c": [3]}, ValueError, "X shape does not match"),
        ({"groups": [3]}, ValueError, "groups must divide"),
        ({"W_off": [10_000]}, IndexError, "outside the arena"),
        ({"W_co": [0]}, ValueError, "share elements"),
        ({"stride_w": [0]}, ValueError, "strides must be positive"),
    ],
)
def test_core_rejects_malformed_geometry(change, error, match):
    conv, make_transpose = GRAD_CASES["2d-groups-then-transpose"]
    X = Signal(np.zeros(conv.size_in))
    W = Signal(conv.sample(rng=np.random.RandomState(0)))
    Y = Signal(np.zeros(conv.size_out))
    layout = Layout([X, W, Y], {Y}, 1, np.float64, dt=0.001)
    params = ConvIncLowering().lower([ConvInc(W, X, Y, conv)], layout)
    params["chain_ptr"] = np.array([0, 1], dtype=np.int64)
    params.update({k: np.array(v, dtype=np.int64) for k, v in change.items()})
    executor = _core.Executor64(layout.size, 1, 1, 0.001, 0)
    with pytest.raises(error, match=match):
        executor.add_kernel("conv_inc", params)


def test_input_and_output_side_by_side_in_one_signal():
    """nengo's merging often puts a convolution's X and Y in one base signal; they do
    not overlap, so the kernel runs natively (and matches nengo)."""
    from nengo.builder import Model

    conv = nengo.Convolution(1, (8, 1), kernel_size=(6,), strides=(1,))
    results = []
    for simulator in (nengo.Simulator, nengo_native.Simulator):
        model = Model(dt=0.001)
        base = Signal(np.arange(11.0), name="merged")
        weights = Signal(np.linspace(-1, 1, 6).reshape(6, 1, 1), name="weights")
        model.add_op(ConvInc(weights, base[:8], base[8:], conv))
        with simulator(None, model=model, progress_bar=False) as sim:
            sim.step()
            results.append(np.array(sim.signals[base]))
            if simulator is nengo_native.Simulator:
                assert sim.fallback_operators == []
    assert np.allclose(results[0], results[1], rtol=1e-12, atol=1e-12)
