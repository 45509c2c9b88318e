"""nengo_native.distributed: split-independent batches, and the Ray cluster tests.

The cluster tests live in ``tests/ray_cluster/cases.py``. Ray binds to the machine's
network address, so they run in a private network namespace with only loopback
(``unshare -n``, then ``ip link set lo up``): a fixture here runs that file once in
such a namespace, in a subprocess, and each case below reports one of its results.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import nengo_native

pytestmark = pytest.mark.filterwarnings("ignore:.*have no native kernel")

HERE = Path(__file__).parent
CASES_FILE = HERE / "ray_cluster" / "cases.py"
sys.path.insert(0, str(HERE / "ray_cluster"))
from split_model import make_data, make_model  # noqa: E402

import private_net  # noqa: E402

# The cases of tests/ray_cluster/cases.py, as pytest names them.
CLUSTER_CASES = [
    "test_predict_equals_local[2-1]",
    "test_predict_equals_local[2-2]",
    "test_predict_equals_local[4-1]",
    "test_predict_equals_local[4-2]",
    "test_predict_without_data_and_float32",
    "test_map_preserves_order",
    "test_map_runs_networks",
    "test_predict_worker_killed",
    "test_map_worker_killed",
    "test_map_error_names_item",
    "test_predict_error_names_items",
    "test_ctrl_c_cancels_and_cluster_stays_usable",
    "test_predict_node_removed",
]
TIMEOUT_S = 900


# -- split independence of the local predict (no Ray needed) -----------------------


@pytest.fixture(scope="module")
def alone():
    """Every item run alone (minibatch_size 1)."""
    net, stim, probes = make_model()
    x = make_data(batch=8)
    with nengo_native.Simulator(
        net, seed=5, minibatch_size=1, progress_bar=False
    ) as sim:
        return net, stim, probes, x, sim.predict({stim: x})


@pytest.mark.parametrize("minibatch_size", [2, 4, 8])
def test_predict_independent_of_minibatch_size(alone, minibatch_size):
    """Item i gets the random streams of (seed, i) whatever the minibatch size: noise
    processes, a WhiteSignal, a process run through nengo's make_step, stochastic
    and Poisson neurons, with PES and Voja learning."""
    net, stim, probes, x, ref = alone
    with nengo_native.Simulator(
        net, seed=5, minibatch_size=minibatch_size, progress_bar=False
    ) as sim:
        out = sim.predict({stim: x})
    for probe in probes:
        np.testing.assert_array_equal(out[probe], ref[probe], err_msg=str(probe))


@pytest.mark.xfail(
    reason="pre-existing, not from the seeding: with PES on a decoded connection whose "
    "error comes from an ensemble, a minibatch item differs from the item run alone "
    "by ~3e-17 in some processes and not in others (exact mode; looks like a "
    "memory-alignment-dependent path in a batched kernel)",
    strict=False,
)
def test_predict_independent_of_minibatch_size_pes_decoded():
    import nengo

    with nengo.Network(seed=3) as net:
        stim = nengo.Node(np.zeros(2))
        pre = nengo.Ensemble(40, 2)
        post = nengo.Ensemble(30, 2)
        nengo.Connection(stim, pre)
        learned = nengo.Connection(pre, post, learning_rule_type=nengo.PES(1e-3))
        error = nengo.Ensemble(30, 2)
        nengo.Connection(post, error)
        nengo.Connection(stim, error, transform=-1)
        nengo.Connection(error, learned.learning_rule)
        probe = nengo.Probe(post, synapse=0.01)
    x = make_data(batch=8)
    outs = {}
    for minibatch_size in (1, 2, 4):
        with nengo_native.Simulator(
            net, seed=5, minibatch_size=minibatch_size, progress_bar=False
        ) as sim:
            outs[minibatch_size] = sim.predict({stim: x})[probe]
    np.testing.assert_array_equal(outs[2], outs[1])
    np.testing.assert_array_equal(outs[4], outs[1])


def test_predict_items_differ_and_repeat(alone):
    """Items have streams of their own (a constant input gives different spikes), and
    a stateless predict rewinds the streams: a second predict gives the same."""
    net, stim, probes, _, _ = alone
    x = np.zeros((4, 30, 2))
    with nengo_native.Simulator(
        net, seed=5, minibatch_size=2, progress_bar=False
    ) as sim:
        first = sim.predict({stim: x})
        spikes = first[probes[1]]
        assert not np.array_equal(spikes[0], spikes[1])
        assert not np.array_equal(spikes[1], spikes[2])
        again = sim.predict({stim: x})
        for probe in probes:
            np.testing.assert_array_equal(again[probe], first[probe])


def test_predict_item0_is_nengo(alone):
    """Global item 0 is nengo's own stream: item 0 of a predict equals
    nengo.Simulator's run of the same input, spikes included."""
    import nengo

    net, stim, probes, _, _ = alone
    x = np.zeros((2, 30, 2))  # stim outputs zeros in nengo too
    with nengo_native.Simulator(
        net, seed=5, minibatch_size=2, progress_bar=False
    ) as sim:
        out = sim.predict({stim: x})
    with nengo.Simulator(net, seed=5, progress_bar=False) as ref:
        ref.run_steps(30)
    for probe in probes[1:3]:  # the spike trains
        np.testing.assert_array_equal(out[probe][0], ref.data[probe])
    np.testing.assert_allclose(out[probes[0]][0], ref.data[probes[0]], atol=1e-12)


def test_import_error_names_the_extra():
    """Without Ray, ``import nengo_native`` works and the distributed module says
    which extra to install (in a fresh interpreter where ``import ray`` fails)."""
    code = """if True:
        import sys
        sys.modules["ray"] = None  # `import ray` raises ImportError
        import nengo_native
        assert nengo_native.Simulator
        try:
            from nengo_native.distributed import Cluster
        except ImportError as e:
            print("ImportError:", e)
        else:
            raise SystemExit("imported without ray")
    """
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'pip install "nengo-native[ray]"' in proc.stdout


# -- the cluster tests, in a private network namespace -----------------------------


@pytest.fixture(scope="session")
def cluster_results():
    """Runs tests/ray_cluster/cases.py once; ``{case: (outcome, message)}``."""
    pytest.importorskip("ray")
    prefix = private_net.prefix()
    if isinstance(prefix, str):
        pytest.skip(prefix)
    # not pytest's tmp_path: other pytest runs on the machine prune those folders
    out = Path(tempfile.mkdtemp(prefix="nengo_native_ray_cluster_"))
    junit = out / "junit.xml"
    env = private_net.environment()
    command = [
        *prefix,
        sys.executable,
        "-m",
        "pytest",
        "-v",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        f"--rootdir={HERE.parent}",
        str(CASES_FILE),
    ]
    logs = []
    for _ in range(2):
        if logs:  # Ray's files (sockets, session logs) in a folder of each run's own
            env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="nnray", dir="/tmp")
        junit.unlink(missing_ok=True)
        try:
            proc = subprocess.run(
                command,
                cwd=HERE.parent,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
            logs.append(f"exit status {proc.returncode}\n{proc.stdout}{proc.stderr}")
        except subprocess.TimeoutExpired as e:
            logs.append(
                f"timed out after {TIMEOUT_S} s\n{e.stdout or ''}{e.stderr or ''}"
            )
        if junit.exists():
            shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
            break
        logs[-1] += f"\n(Ray's logs of this attempt: {env['RAY_TMPDIR']})"
        # The run died without a report (seen rarely: the process ends with no
        # summary): run it once more, keeping the first log.
    log = "\n--- next attempt ---\n".join(logs)
    (out / "log.txt").write_text(log)
    results = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            outcome, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                node = case.find(tag)
                if node is not None:
                    outcome = tag
                    message = (node.get("message") or "") + "\n" + (node.text or "")
            name = case.get("name")
            if outcome != "passed" and name in results:
                results[name] = (outcome, results[name][1] + message)
            elif name not in results or results[name][0] == "passed":
                results[name] = (outcome, message)
    if results and all(outcome == "passed" for outcome, _ in results.values()):
        shutil.rmtree(out, ignore_errors=True)  # the log is kept only when needed
    return results, log


def test_cluster_cases_listed(cluster_results):
    results, log = cluster_results
    assert sorted(results) == sorted(CLUSTER_CASES), log[-3000:]


@pytest.mark.parametrize("case", CLUSTER_CASES)
def test_cluster(cluster_results, case):
    results, log = cluster_results
    if case not in results:
        pytest.fail(f"{case} did not run; the run's output ends with:\n{log[-3000:]}")
    outcome, message = results[case]
    if outcome == "skipped":
        pytest.skip(message.strip().splitlines()[0] if message.strip() else "skipped")
    assert outcome == "passed", message
