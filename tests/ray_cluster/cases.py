"""Tests on a real two-node Ray cluster (``ray.cluster_utils.Cluster``).

Not collected by a plain ``pytest`` (the file name does not start with ``test_``):
``tests/test_distributed.py`` runs this file in a private network namespace with only
loopback (``unshare -n``), where Ray's traffic cannot leave the machine, and reports
each case as a test of its own.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster as RayTestCluster  # noqa: E402

import nengo_native  # noqa: E402
from nengo_native.distributed import Cluster, WorkError  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import split_model  # noqa: E402
from split_model import make_data, make_model  # noqa: E402

# The workers cannot import this folder's modules: ship what they define by value.
ray.cloudpickle.register_pickle_by_value(split_model)
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.filterwarnings("ignore:.*have no native kernel")

STORE = 80 * 2**20  # the smallest object store Ray accepts is 75 MiB
SEED = 5


@pytest.fixture(scope="module")
def ray_cluster():
    """Two nodes of one CPU each; the test session is the driver."""
    cluster = RayTestCluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "object_store_memory": STORE,
            "include_dashboard": False,
        },
    )
    cluster.add_node(num_cpus=1, object_store_memory=STORE)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def cluster(ray_cluster):
    with Cluster(address=ray_cluster.address, progress_bar=False) as c:
        assert c.num_workers == 2
        yield c


def local_predict(net, stim, x, minibatch_size, **kwargs):
    with nengo_native.Simulator(
        net, seed=SEED, minibatch_size=minibatch_size, progress_bar=False, **kwargs
    ) as sim:
        return sim.predict({stim: x})


def assert_same(out, ref, probes):
    assert set(out) == set(ref) == set(probes)
    for probe in probes:
        assert out[probe].shape == ref[probe].shape
        assert out[probe].dtype == ref[probe].dtype
        np.testing.assert_array_equal(out[probe], ref[probe], err_msg=str(probe))


def in_worker(parent_pid):
    """True on a Ray worker, False in the test process (the local reference runs)."""
    return os.getpid() != parent_pid


# -- results independent of the split ---------------------------------------------


@pytest.fixture(scope="module")
def reference():
    """Local predict with minibatch_size 1: each item alone."""
    net, stim, probes = make_model()
    x = make_data(batch=8)
    return net, stim, probes, x, local_predict(net, stim, x, 1)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("minibatch_size", [2, 4])
def test_predict_equals_local(cluster, reference, workers, minibatch_size):
    net, stim, probes, x, ref = reference
    cluster._num_workers = workers
    try:
        out = cluster.predict(net, {stim: x}, minibatch_size=minibatch_size, seed=SEED)
    finally:
        cluster._num_workers = None
    assert cluster.stats["workers"] == workers
    assert cluster.stats["minibatches"] == 8 // minibatch_size
    assert_same(out, ref, probes)
    # the local predict at this minibatch size is the same too
    assert_same(local_predict(net, stim, x, minibatch_size), ref, probes)


def test_predict_without_data_and_float32(cluster):
    """A batch of noise trials (no input), in float32, against the local predict."""
    net, _, probes = make_model()
    with nengo_native.Simulator(
        net, seed=SEED, minibatch_size=2, dtype="float32", progress_bar=False
    ) as sim:
        parts = [sim.predict_on_batch(None, 30, first_item=2 * k) for k in range(3)]
        ref = {p: np.concatenate([part[p] for part in parts]) for p in parts[0]}
    out = cluster.predict(
        net, minibatch_size=2, n_steps=30, batch_size=6, seed=SEED, dtype="float32"
    )
    assert_same(out, ref, probes)


def test_map_preserves_order(cluster):
    def fn(i):
        time.sleep(0.05 * ((7 - i) % 4))  # finish out of order
        return i * i, os.getpid()

    results = cluster.map(fn, range(10))
    assert [r[0] for r in results] == [i * i for i in range(10)]


def test_map_runs_networks(cluster):
    """A sweep: each item builds and runs its own network on a worker."""

    def run(n_neurons):
        import nengo

        with nengo.Network(seed=1) as net:
            ens = nengo.Ensemble(n_neurons, 1)
            probe = nengo.Probe(ens, synapse=0.01)
        with nengo_native.Simulator(net, progress_bar=False) as sim:
            sim.run_steps(20)
            return sim.data[probe]

    sizes = [10, 20, 30]
    out = cluster.map(run, sizes)
    for n, result in zip(sizes, out, strict=True):
        # Each network is built on the worker, where Ray sets OMP_NUM_THREADS=1: the
        # BLAS in nengo's decoder solve may round differently from the caller's
        # threaded one (it did with the oldest declared NumPy), so equal to rounding.
        np.testing.assert_allclose(result, run(n), rtol=0, atol=1e-12)


# -- faults -------------------------------------------------------------------------


def test_predict_worker_killed(cluster, reference, tmp_path):
    """A worker process killed (SIGKILL) in the middle of a minibatch: its
    minibatches run again on a worker and the result is the same."""
    net0, stim0, probes0, x, ref = reference
    marker = tmp_path / "killed"
    parent = os.getpid()

    def hook(t):
        if in_worker(parent) and t > 0.02 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)

    net, stim, probes = make_model(hook)
    out = cluster.predict(net, {stim: x}, minibatch_size=2, seed=SEED)
    assert marker.exists()
    assert cluster.stats["lost"] >= 1
    for probe, probe0 in zip(probes, probes0, strict=True):
        np.testing.assert_array_equal(out[probe], ref[probe0])


def test_map_worker_killed(cluster, tmp_path):
    marker = tmp_path / "killed"
    parent = os.getpid()

    def fn(i):
        if i == 3 and in_worker(parent) and not marker.exists():
            marker.write_text("")
            os.kill(os.getpid(), signal.SIGKILL)
        return i + 100

    assert cluster.map(fn, range(6)) == [i + 100 for i in range(6)]
    assert marker.exists()


def test_map_error_names_item(cluster):
    def fn(i):
        if i == 3:
            raise ValueError(f"bad parameter {i}")
        return i

    with pytest.raises(WorkError, match=r"item 3 \(3\)") as info:
        cluster.map(fn, range(6))
    assert info.value.items == [3] and info.value.item == 3
    assert isinstance(info.value.__cause__, ValueError)
    message = str(info.value)
    assert "bad parameter 3" in message
    assert 'raise ValueError(f"bad parameter {i}")' in message  # the traceback
    assert cluster.map(abs, [-1, -2]) == [1, 2]  # still usable


def test_predict_error_names_items(cluster):
    parent = os.getpid()

    def hook(t):
        if in_worker(parent) and t > 0.01:
            raise RuntimeError("the model broke")

    net, stim, _ = make_model(hook)
    x = make_data(batch=4)
    with pytest.raises(WorkError, match="items 0 to 1|items 2 to 3") as info:
        cluster.predict(net, {stim: x}, minibatch_size=2, seed=SEED)
    assert "the model broke" in str(info.value)
    assert "in hook" in str(info.value)  # the worker's traceback
    assert list(info.value.items) in ([0, 1], [2, 3])


def _interrupt_after(seconds):
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def _wait_for_free_cpus(total=2.0, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ray.available_resources().get("CPU", 0) >= total:
            return True
        time.sleep(0.2)
    return False


def test_ctrl_c_cancels_and_cluster_stays_usable(cluster, reference):
    def slow(i):
        time.sleep(2)
        return i

    start = time.monotonic()
    timer = _interrupt_after(1.5)
    with pytest.raises(KeyboardInterrupt):
        cluster.map(slow, range(20))  # 20 s of work on 2 CPUs
    timer.join()
    assert time.monotonic() - start < 8
    assert _wait_for_free_cpus(), "cancelled tasks still hold the CPUs"

    parent = os.getpid()

    def hook(t):
        if in_worker(parent):
            time.sleep(0.02)

    net, stim, _ = make_model(hook)
    x = make_data(batch=16)
    timer = _interrupt_after(3.0)
    with pytest.raises(KeyboardInterrupt):
        cluster.predict(net, {stim: x}, minibatch_size=1, seed=SEED)
    timer.join()
    assert _wait_for_free_cpus(), "the workers of the interrupted call live on"

    # the cluster still works, and gives the full result
    net0, stim0, probes0, x0, ref = reference
    assert cluster.map(abs, [-3]) == [3]
    assert_same(
        cluster.predict(net0, {stim0: x0}, minibatch_size=4, seed=SEED), ref, probes0
    )


def test_predict_node_removed(ray_cluster, cluster, reference, tmp_path):
    """The second node leaves mid-call: its minibatches run on the head node's
    worker, the result is the same. (Runs last: it changes the cluster.)"""
    net0, stim0, probes0, x, ref = reference
    started = tmp_path / "started"
    parent = os.getpid()

    def hook(t):
        if in_worker(parent):
            if not started.exists():
                started.write_text("")
            time.sleep(0.01)

    net, stim, probes = make_model(hook)
    node = ray_cluster.list_all_nodes()[1]
    assert not node.head

    def remove():
        while not started.exists():
            time.sleep(0.05)
        time.sleep(0.5)
        ray_cluster.remove_node(node)

    remover = threading.Thread(target=remove)
    remover.start()
    out = cluster.predict(net, {stim: x}, minibatch_size=1, seed=SEED)
    remover.join()
    assert cluster.stats["lost"] >= 1, "the node left after the call"
    for probe, probe0 in zip(probes, probes0, strict=True):
        np.testing.assert_array_equal(out[probe], ref[probe0])
    assert len([n for n in ray.nodes() if n["Alive"]]) == 1
