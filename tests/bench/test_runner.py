"""The benchmark runner's quick profile writes the documented JSON and a plot."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.__main__ import main  # noqa: E402
from bench.cost import step_cost  # noqa: E402
from bench.models import MODELS, SIZES, make  # noqa: E402

SIM_FIELDS = {
    "ok",
    "dtype",
    "build_s",
    "steps_per_s",
    "sample_steps_per_s",
    "peak_rss_mb",
    "baseline_rss_mb",
    "ops_before",
    "ops_after",
    "fallback_ops",
    "bytes_per_step",
    "flops_per_step",
    "gb_per_s",
    "gflop_per_s",
    "bandwidth_fraction",
    "flops_fraction",
    "max_abs_diff_vs_nengo",
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    json_path = str(out / "quick.json")
    document = main(
        [
            "--quick",
            "--models",
            "integrator",
            "--sizes",
            "small",
            "--simulators",
            "nengo,native",
            "--json",
            json_path,
        ]
    )
    return document, json_path


def test_quick_profile_fields(quick_run):
    import json

    document, json_path = quick_run
    with open(json_path) as f:
        assert json.load(f)["schema"] == document["schema"] == 1
    for key in ("created", "settings", "machine", "limits", "results"):
        assert key in document
    assert document["machine"]["cpu"]
    assert document["machine"]["cores"] >= 1
    assert "OMP_NUM_THREADS" in document["machine"]["threads_env"]
    assert document["limits"]["bandwidth_gbs"]["best"] > 0
    assert document["limits"]["matmul_gflops"]["float64"] > 0
    assert document["limits"]["matmul_gflops"]["float32"] > 0

    (row,) = document["results"]
    assert (row["model"], row["size"], row["neuron_type"]) == (
        "integrator",
        "small",
        "lif",
    )
    assert row["runs"]
    for name in ("nengo", "native"):
        sim = row["simulators"][name]
        assert sim["ok"], sim.get("error")
        assert SIM_FIELDS <= set(sim)
        assert sim["build_s"] > 0 and sim["steps_per_s"] > 0
        assert sim["peak_rss_mb"]["1"] >= sim["baseline_rss_mb"]["1"] > 0
        assert sim["ops_before"] > 0 and sim["ops_after"] > 0
        assert sim["bytes_per_step"] > 0 and sim["flops_per_step"] > 0
        assert 0 < sim["bandwidth_fraction"]["1"]
    assert row["simulators"]["nengo"]["sample_steps_derived"]
    ratio = row["ratios"]["native"]
    assert ratio["steps_per_s"] > 0 and ratio["build_s"] > 0
    assert set(ratio["sample_steps_per_s"]) >= {"1"}


def test_quick_profile_outputs_agree(quick_run):
    document, _ = quick_run
    diff = document["results"][0]["simulators"]["native"]["max_abs_diff_vs_nengo"]
    assert diff is not None
    assert diff < 1e-8  # float64, same seed: nengo_native matches nengo


def test_quick_profile_plot(quick_run):
    _, json_path = quick_run
    png = os.path.splitext(json_path)[0] + ".png"
    assert os.path.getsize(png) > 1000
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("model", sorted(MODELS))
def test_models_build_at_every_size(model):
    """Every model makes a network with a probe at every size (no simulation)."""
    assert set(SIZES[model]) == {"small", "medium", "large"}
    net, probe = make(model, "small", "relu")
    assert probe in net.all_probes


def test_step_cost_counts_dense_weights():
    import nengo

    net, _ = make("dense", "small", "lif")
    model = nengo.builder.Model()
    model.build(net)
    cost = step_cost(model.operators, itemsize=8)
    n = SIZES["dense"]["small"]["n_neurons"]
    assert cost["weight_bytes"] >= 3 * n * n * 8  # three n x n matrices per step
    assert cost["flops"] >= 3 * 2 * n * n
