"""``python -m bench --end-to-end``: build, run and total per model and simulator."""

from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.__main__ import main  # noqa: E402
from bench.end_to_end import format_table, measure_model  # noqa: E402


def test_measure_model_reports_medians_per_simulator():
    out = measure_model(
        "integrator", "small", 2, ["nengo", "native", "native-nengo"], seconds=0.01
    )
    for name in ("nengo", "native", "native-nengo"):
        r = out[name]
        assert len(r["build_s_repeats"]) == len(r["run_s_repeats"]) == 2
        assert r["total_s"] > r["build_s"] > 0 and r["run_s"] > 0
    table = format_table({"integrator": out})
    assert "build÷nengo" in table and "native-nengo" in table


def test_main_end_to_end_writes_json(tmp_path, capsys):
    path = tmp_path / "e2e.json"
    doc = main(
        [
            "--end-to-end",
            "--models",
            "gated_memory",
            "--sizes",
            "small",
            "--repeats",
            "1",
            "--seconds",
            "0.01",
            "--json",
            str(path),
        ]
    )
    assert set(doc["results"]["gated_memory"]) == {"nengo", "native"}
    saved = json.loads(path.read_text())["results"]["gated_memory"]
    assert saved["native"]["total_s"] > 0
    assert "nengo÷total" in capsys.readouterr().out
