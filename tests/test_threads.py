"""Results do not depend on the number of OpenMP threads (DESIGN rule 7).

Each thread count runs in its own interpreter (OpenMP reads ``OMP_NUM_THREADS``
once, at start-up) and saves its probes; the arrays must be bit-identical. The
model is large enough that the core's parallel loops actually split work
(neuron-to-neuron weight matrices of 2000 x 2000 into separate targets).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import nengo
    import nengo_native

    nengo.rc.set("decoder_cache", "enabled", "False")
    out, with_ref = sys.argv[1], sys.argv[2] == "1"

    with nengo.Network(seed=11) as net:
        stim = nengo.Node(lambda t: [np.sin(8 * t), np.cos(5 * t)])
        ens = [
            nengo.Ensemble(2000, 2, n_eval_points=200, label=f"e{i}")
            for i in range(3)
        ]
        nengo.Connection(stim, ens[0])
        nengo.Connection(ens[0], ens[1], function=lambda x: x**2)
        rng = np.random.RandomState(0)
        for pre, post in [(0, 1), (1, 2), (2, 0), (0, 2)]:
            nengo.Connection(
                ens[pre].neurons,
                ens[post].neurons,
                transform=rng.uniform(-1, 1, (2000, 2000)) * 2e-5,
                synapse=0.005,
            )
        ea = nengo.networks.EnsembleArray(50, n_ensembles=8, ens_dimensions=1)
        nengo.Connection(stim, ea.input[:2])
        nengo.Connection(ens[2], ea.input[2:4])
        nengo.Connection(ea.output, ea.input, transform=0.3, synapse=0.01)
        # (decoded probes of 2000-neuron ensembles would each solve for decoders)
        probes = [nengo.Probe(e.neurons) for e in ens]
        probes += [nengo.Probe(e.neurons, "voltage") for e in ens]
        probes.append(nengo.Probe(ea.output, synapse=0.01))

    def run(cls, optimize):
        with cls(net, seed=1, optimize=optimize, progress_bar=False) as sim:
            sim.run_steps(60)
            data = {f"p{i}": sim.data[p] for i, p in enumerate(probes)}
            data["decoders"] = sim.data[net.all_connections[1]].weights
            data["encoders"] = sim.data[ens[0]].scaled_encoders
            return data

    data = {}
    for opt in (False, True):
        for k, v in run(nengo_native.Simulator, opt).items():
            data[f"native{int(opt)}_{k}"] = v
    if with_ref:
        data.update({"ref_" + k: v for k, v in run(nengo.Simulator, False).items()})
    np.savez(out, **data)
    """
)


def _run(tmp_path, threads, with_ref=False):
    out = tmp_path / f"t{threads}.npz"
    # Only our OpenMP loops may vary: numpy's BLAS (used by nengo's builder to
    # solve for decoders) also reads OMP_NUM_THREADS, and a different BLAS thread
    # count changes the decoders by an ulp, so pin it.
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        OMP_DYNAMIC="false",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        BLIS_NUM_THREADS="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(out), str(int(with_ref))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as f:
        return dict(f)


def test_same_results_for_1_and_2_threads(tmp_path):
    """optimize=False and optimize=True (nengo's merging makes fewer, larger groups)."""
    one = _run(tmp_path, 1, with_ref=True)
    two = _run(tmp_path, 2)
    native = sorted(k for k in one if k.startswith("native"))
    assert native and set(native) == set(two)
    # the builder (nengo's, not ours) gave both processes the same parameters
    for key in [k for k in native if k.endswith(("decoders", "encoders"))]:
        assert np.array_equal(one[key], two[key]), f"{key} differ between processes"
    for key in native:
        assert one[key].shape == two[key].shape, key
        assert np.array_equal(one[key], two[key]), (
            f"{key}: thread count changed the result, max diff "
            f"{np.max(np.abs(one[key] - two[key]))}"
        )
    # the neurons spike at all (so the comparison means something) ...
    assert np.any(one["native0_p0"] > 0) and np.any(one["native1_p1"] > 0)
    # ... and the single-threaded run agrees with nengo
    for key in [k for k in one if k.startswith("ref_")]:
        nat = one["native0_" + key[len("ref_") :]]
        np.testing.assert_allclose(nat, one[key], rtol=0, atol=1e-9, err_msg=key)
