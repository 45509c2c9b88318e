"""Ctrl-C and threads: a run stops cleanly, and simulators run side by side."""

import subprocess
import sys
import textwrap
import threading

import nengo
import numpy as np

import nengo_native

INTERRUPT_SCRIPT = textwrap.dedent(
    """
    import _thread, threading, time
    import nengo, numpy as np, nengo_native

    with nengo.Network(seed=0) as net:
        ens = nengo.networks.EnsembleArray(50, n_ensembles=20)
        probe = nengo.Probe(ens.output)
    sim = nengo_native.Simulator(net, progress_bar=False)
    threading.Timer(0.5, _thread.interrupt_main).start()
    start = time.perf_counter()
    try:
        sim.run_steps(10**8)
    except KeyboardInterrupt:
        stopped = time.perf_counter() - start
    assert sim.n_steps == len(sim.data[probe]) == len(sim.trange()) > 0
    n = sim.n_steps
    sim.run_steps(5)
    assert sim.n_steps == len(sim.data[probe]) == n + 5
    print(f"OK {stopped:.2f}")
    """
)


def test_ctrl_c_stops_a_long_run_promptly_and_leaves_it_consistent():
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPT_SCRIPT], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK")
    assert float(result.stdout.split()[1]) < 2.0  # interrupted after 0.5 s


def build(seed):
    with nengo.Network(seed=seed) as net:
        stim = nengo.Node(lambda t: [np.sin(10 * t), np.cos(7 * t)])
        ens = nengo.Ensemble(300, 2)
        nengo.Connection(stim, ens)
        net.probe = nengo.Probe(ens, synapse=0.01)
    return net


def test_simulators_in_two_threads_do_not_interfere():
    nets = [build(1), build(2)]
    expected = []
    for net in nets:
        with nengo_native.Simulator(net, progress_bar=False) as sim:
            sim.run_steps(500)
            expected.append(sim.data[net.probe])
    results = [None, None]

    def run(i):
        with nengo_native.Simulator(nets[i], progress_bar=False) as sim:
            sim.run_steps(500)
            results[i] = sim.data[nets[i].probe]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected, strict=True):
        assert np.array_equal(got, want)
