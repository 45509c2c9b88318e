"""SparseDotInc, BsrDotInc and scalar DotInc run natively and match nengo.Simulator."""

from __future__ import annotations

import os
import textwrap

import nengo
import numpy as np
import pytest
import scipy.sparse
from _threads import outputs_for_1_and_2_threads
from nengo.builder import Model
from nengo.builder.operator import BsrDotInc, DotInc, SparseDotInc
from nengo.builder.signal import Signal

import nengo_native
from nengo_native.planner.program import KernelStep

SPARSE_OPS = (SparseDotInc, BsrDotInc)


def native_op_types(sim) -> set:
    return {
        type(op)
        for step in sim.program.steps
        if isinstance(step, KernelStep)
        for op in step.ops
    }


def sparse_chain(seed: int = 5):
    """Node -> Ensemble -> Ensemble chain with sparse and dense neuron connections."""
    rng = np.random.RandomState(seed)
    with nengo.Network(seed=seed) as net:
        u = nengo.Node(lambda t: [np.sin(7 * t), np.cos(3 * t), t])
        a = nengo.Ensemble(40, 3)
        b = nengo.Ensemble(30, 2)
        c = nengo.Ensemble(30, 2)
        nengo.Connection(u, a)
        nengo.Connection(a, b, function=lambda x: x[:2] * x[2])
        csr = scipy.sparse.random(30, 40, density=0.2, random_state=1, format="csr")
        nengo.Connection(
            a.neurons, b.neurons, transform=nengo.transforms.Sparse((30, 40), init=csr)
        )
        nengo.Connection(
            a.neurons,
            c.neurons,
            transform=nengo.transforms.Sparse(
                (30, 40), indices=[[0, 1], [5, 7], [29, 39]], init=[0.5, -0.2, 1.0]
            ),
            synapse=nengo.Alpha(0.005),
        )
        # Dense neuron-to-neuron connections with different inputs: nengo's optimizer
        # merges these into one block-diagonal BsrDotInc.
        nengo.Connection(b.neurons, c.neurons, transform=rng.randn(30, 30) * 1e-3)
        nengo.Connection(c.neurons, b.neurons, transform=rng.randn(30, 30) * 1e-3)
        nengo.Connection(u[:2], c, transform=[[1, 0], [0, -1]])
        probes = [nengo.Probe(x, synapse=0.01) for x in (a, b, c)]
        probes += [nengo.Probe(b.neurons), nengo.Probe(c.neurons, synapse=0.005)]
    return net, probes


@pytest.mark.parametrize("optimize", [False, True])
def test_sparse_chain_matches_nengo(optimize):
    net, probes = sparse_chain()
    with nengo.Simulator(net, seed=1, progress_bar=False, optimize=optimize) as ref:
        ref.run(0.3)
    # (nengo's optimizer is optimize="nengo" here; True is the planner's merging)
    native_optimize = "nengo" if optimize else False
    with nengo_native.Simulator(
        net, seed=1, progress_bar=False, optimize=native_optimize
    ) as sim:
        sim.run(0.3)
    assert not [op for op in sim.fallback_operators if isinstance(op, SPARSE_OPS)]
    native = native_op_types(sim)
    assert SparseDotInc in native
    if optimize:
        assert BsrDotInc in native
    for p in probes:
        assert np.allclose(ref.data[p], sim.data[p], atol=1e-12, rtol=0), p


@pytest.mark.parametrize(
    "rows, cols", [(1, 1), (3, 5), (4, 8), (7, 9), (9, 17), (13, 3)]
)
def test_dense_transform_matches_nengo_and_is_batch_independent(rows, cols):
    """Dense products are tiled by rows and items with a vector tail: every shape
    around the tile and vector widths matches nengo, and each minibatch item equals
    the same input run alone, bit for bit."""
    rng = np.random.RandomState(rows * 100 + cols)
    with nengo.Network(seed=2) as net:
        u = nengo.Node(lambda t: np.sin(np.arange(1, cols + 1) * 7 * t))
        v = nengo.Node(size_in=rows)
        nengo.Connection(u, v, transform=rng.randn(rows, cols), synapse=None)
        probe = nengo.Probe(v)
    with nengo.Simulator(net, progress_bar=False, optimize=False) as ref:
        ref.run_steps(20)
    runs = []
    for minibatch_size in (1, 3):
        with nengo_native.Simulator(
            net, progress_bar=False, optimize=False, minibatch_size=minibatch_size
        ) as sim:
            sim.run_steps(20)
            assert DotInc in native_op_types(sim)
            runs.append(sim.data[probe])
    one, three = runs
    np.testing.assert_allclose(one, ref.data[probe], atol=1e-13, rtol=1e-13)
    for item in range(3):
        np.testing.assert_array_equal(three[item], one)


def scalar_model():
    model = Model(dt=0.001)
    a = Signal(np.array(1.7), name="a")
    x = Signal(np.arange(3.0) + 0.3, name="x")
    y = Signal(np.zeros(3), name="y")
    m = Signal(np.array([1.1, -2.0, 0.5]), name="m")
    s = Signal(np.array(0.7), name="s")
    y2 = Signal(np.zeros((3, 1)), name="y2")
    s1, s2 = Signal(np.array(0.3)), Signal(np.array(-0.9))
    y3 = Signal(np.zeros(1), name="y3")
    model.add_op(DotInc(a, x, y))  # scalar A
    model.add_op(DotInc(m, s, y2[:, 0]))  # scalar X, strided Y
    model.add_op(DotInc(s1, s2, y3))  # both scalars, reshaped into (1,)
    return model, (y, y2, y3)


def test_scalar_dotinc_native():
    results = []
    for simulator in (nengo.Simulator, nengo_native.Simulator):
        model, sigs = scalar_model()
        with simulator(None, model=model, progress_bar=False, optimize=False) as sim:
            sim.run_steps(6)
            results.append([np.array(sim.signals[s]) for s in sigs])
            if simulator is nengo_native.Simulator:
                assert not [op for op in sim.fallback_operators if type(op) is DotInc]
    for want, got in zip(*results, strict=True):
        assert np.array_equal(want, got)


def bsr_model():
    model = Model(dt=0.001)
    rng = np.random.RandomState(3)
    blocks = rng.randn(3, 2, 4)
    # 3 block rows; row 1 is empty; row 2 has two blocks (columns 2 and 0).
    indptr, indices = np.array([0, 1, 1, 3]), np.array([1, 2, 0])
    A = Signal(blocks, name="A")
    x = Signal(rng.randn(12), name="x")
    y = Signal(np.ones(6), name="y")
    model.add_op(BsrDotInc(A, x, y, indices=indices, indptr=indptr, reshape=False))
    return model, y


def test_bsr_with_empty_rows_and_unsorted_columns():
    results = []
    for simulator in (nengo.Simulator, nengo_native.Simulator):
        model, y = bsr_model()
        with simulator(None, model=model, progress_bar=False, optimize=False) as sim:
            sim.run_steps(4)
            results.append(np.array(sim.signals[y]))
            if simulator is nengo_native.Simulator:
                assert not sim.fallback_operators
    assert np.array_equal(*results)


THREAD_SCRIPT = textwrap.dedent(
    """
    import sys
    import nengo, numpy as np, scipy.sparse
    import nengo_native

    # Other test processes may hold the shared decoder cache's lock.
    nengo.rc.set("decoder_cache", "enabled", "False")
    rng = np.random.RandomState(0)
    n = 800
    with nengo.Network(seed=0) as net:
        u = nengo.Node(lambda t: np.sin(np.arange(4) * 5 * t))
        ens = [nengo.Ensemble(n, 4) for _ in range(6)]
        for e in ens:
            nengo.Connection(u, e)
        for a, b in zip(ens, ens[1:] + ens[:1]):
            nengo.Connection(a.neurons, b.neurons, synapse=nengo.Alpha(0.005),
                             transform=rng.randn(n, n) * 1e-4)
        csr = scipy.sparse.random(n, n, density=0.1, random_state=1, format="csr")
        nengo.Connection(ens[0].neurons, ens[3].neurons,
                         transform=nengo.transforms.Sparse((n, n), init=csr * 1e-3))
        probes = [nengo.Probe(e.neurons, synapse=0.01) for e in ens]
        probes += [nengo.Probe(e, synapse=nengo.Alpha(0.01)) for e in ens]
    with nengo_native.Simulator(net, seed=1, progress_bar=False) as sim:
        sim.run(0.04)
    np.save(sys.argv[1], np.concatenate([sim.data[p].ravel() for p in probes]))
    """
)


def test_thread_count_does_not_change_results(tmp_path):
    results = outputs_for_1_and_2_threads(tmp_path, THREAD_SCRIPT)
    assert np.array_equal(results[0], results[1])
    assert np.abs(results[0]).max() > 0


def test_integer_signals_run_natively_and_stay_integers():
    """nengo keeps signals made from integer arrays as integers, and DotInc on them
    does integer arithmetic (or float, into a float Y)."""

    def run(simulator):
        model = Model(dt=0.001)
        a = Signal(np.array([[1, 2], [3, -4], [5, 6]]))
        x = Signal(np.array([7, -8]))
        y = Signal(np.array([1, 2, 3]))
        weights = Signal(np.array([0.5, 0.25]))
        y_float = Signal(np.array([1.0, 2.0, 3.0]))
        scalar = Signal(np.array([5.0]))
        model.operators += [
            DotInc(a, x, y),
            DotInc(a, weights, y_float),
            DotInc(x, x, scalar),  # vector . vector, reshaped into Y of size 1
        ]
        with simulator(None, model=model, progress_bar=False) as sim:
            sim.run_steps(3)
            if simulator is nengo_native.Simulator:
                assert sim.fallback_operators == []
            return [np.array(sim.signals[s]) for s in (y, y_float, scalar)]

    for ref, native in zip(
        run(nengo.Simulator), run(nengo_native.Simulator), strict=True
    ):
        assert native.dtype == ref.dtype
        assert np.array_equal(native, ref)


# -- weights stored by columns (products of spikes) -----------------------------------


def spiking_pairs(
    rows, cols, pairs=1, neuron_type=None, seed=0, probe_weights=False, **ens_kwargs
):
    """``pairs`` parallel connections of neuron-to-neuron weights out of spiking
    ensembles; nengo's optimizer merges two or more into one BsrDotInc."""
    rng = np.random.RandomState(seed)
    with nengo.Network(seed=3) as net:
        if neuron_type is not None:
            net.config[nengo.Ensemble].neuron_type = neuron_type
        u = nengo.Node(lambda t: [np.sin(9 * t), np.cos(7 * t)])
        probes = []
        for _ in range(pairs):
            pre = nengo.Ensemble(cols, 2, **ens_kwargs)
            post = nengo.Ensemble(rows, 2, **ens_kwargs)
            nengo.Connection(u, pre)
            conn = nengo.Connection(
                pre.neurons,
                post.neurons,
                transform=rng.randn(rows, cols) * 2e-3,
                synapse=0.005,
            )
            probes.append(nengo.Probe(post.neurons, synapse=0.01))
            if probe_weights:
                nengo.Probe(conn, "weights")
    return net, u, probes


def column_major_shapes(sim) -> list:
    return sorted(base.shape for base in sim.program.layout.column_major)


@pytest.mark.parametrize(
    "rows, cols, pairs, shape",
    [(181, 97, 1, (181, 97)), (101, 96, 2, (2, 101, 96))],
    ids=["dense", "merged-bsr"],
)
def test_spike_products_read_weights_by_columns_and_match_nengo(
    rows, cols, pairs, shape
):
    """Weights multiplying spikes are stored by columns and only the columns of
    neurons that spiked are read; the outputs are nengo's (bit for bit where nengo
    uses scipy's block-sparse product, whose order of additions the kernel keeps)."""
    net, _, probes = spiking_pairs(rows, cols, pairs)
    with nengo.Simulator(net, progress_bar=False) as ref:
        ref.run_steps(150)
    # nengo's optimizer stacks the pairs' weights into one BsrDotInc, as here
    with nengo_native.Simulator(net, progress_bar=False, optimize="nengo") as sim:
        assert column_major_shapes(sim) == [shape]
        sim.run_steps(150)
    for p in probes:
        assert ref.data[p].any()
        if pairs > 1:
            np.testing.assert_array_equal(sim.data[p], ref.data[p])
        else:
            np.testing.assert_allclose(sim.data[p], ref.data[p], atol=1e-12, rtol=0)


@pytest.mark.parametrize("pairs", [1, 2], ids=["dense", "merged-bsr"])
@pytest.mark.parametrize("minibatch_size", [5, 40])
def test_spike_products_give_each_item_its_own_run(pairs, minibatch_size):
    """Items spike differently, so each reads its own columns; each item's output
    is, bit for bit, the same input run alone (minibatch 40 splits rows into tiles)."""
    net, u, probes = spiking_pairs(131, 128, pairs)
    n_steps = 60
    t = np.arange(1, n_steps + 1)[None, :, None] * 0.001
    freq = np.arange(1, minibatch_size + 1)[:, None, None]
    data = np.concatenate([np.sin(40 * freq * t), np.cos(25 * freq * t)], axis=-1)
    with nengo_native.Simulator(
        net, progress_bar=False, minibatch_size=minibatch_size
    ) as sim:
        assert column_major_shapes(sim)
        sim.run_steps(n_steps, data={u: data})
        batched = [sim.data[p] for p in probes]
    with nengo_native.Simulator(net, progress_bar=False) as one:
        for item in (0, minibatch_size - 1):
            one.reset()
            one.run_steps(n_steps, data={u: data[item : item + 1]})
            for p, out in zip(probes, batched, strict=True):
                np.testing.assert_array_equal(out[item], one.data[p])
    assert not np.array_equal(batched[0][0], batched[0][-1])


def test_spike_products_split_over_threads_give_the_same_numbers(tmp_path):
    """A product big enough to split its rows over threads: 1 and 2 threads agree."""
    script = textwrap.dedent(
        """
            import sys
            import nengo, numpy as np
            import nengo_native
            sys.path.insert(0, sys.argv[2])
            from test_lower_dot import spiking_pairs

            nengo.rc.set("decoder_cache", "enabled", "False")
            # Most neurons fire at 400-500 Hz: enough spikes that the product's
            # work passes the threshold for threads.
            net, _, probes = spiking_pairs(
                3000,
                1500,
                max_rates=nengo.dists.Uniform(400, 500),
                intercepts=nengo.dists.Uniform(-1, -0.5),
            )
            with nengo_native.Simulator(net, progress_bar=False) as sim:
                assert sim.program.layout.column_major
                sim.run_steps(40)
            np.save(sys.argv[1], sim.data[probes[0]])
            """
    )
    results = outputs_for_1_and_2_threads(tmp_path, script, os.path.dirname(__file__))
    assert np.array_equal(results[0], results[1])
    assert np.abs(results[0]).max() > 0


@pytest.mark.parametrize(
    "case", ["rate neurons", "probed weights", "non-finite weights", "small"]
)
def test_weights_stay_row_major_where_columns_do_not_pay(case):
    """Rates are rarely zero; probed weights are read as a whole by nengo's code;
    a zero spike times an infinite weight must stay NaN, as in numpy; and small
    matrices gain nothing."""
    rows, cols = (16, 16) if case == "small" else (181, 97)
    net, _, _ = spiking_pairs(
        rows,
        cols,
        neuron_type=nengo.RectifiedLinear() if case == "rate neurons" else None,
        probe_weights=case == "probed weights",
    )
    if case == "non-finite weights":
        net.connections[-1].transform = np.full((rows, cols), np.inf)
    with nengo_native.Simulator(net, progress_bar=False) as sim:
        assert column_major_shapes(sim) == []
