"""Summaries of measured configurations: ratios, machine fractions, table, plot."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from bench.cost import bytes_per_step, flops_per_step

SIM_ORDER = ("nengo", "native", "native_fast", "nengo_dl")
"""Simulators in table order; ``native_fast`` is nengo_native with ``exact=False``."""
"""Simulators in the order they are shown."""


def _by_sim(runs: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for r in runs:
        out.setdefault(r["simulator"], {})[int(r["minibatch"])] = r
    return out


def max_abs_diff(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Largest absolute difference of two probe outputs of one item.

    A leading minibatch axis of length one (NengoDL's layout) is dropped.

    Parameters
    ----------
    a, b : numpy.ndarray or None
        Probe data; None when a simulator failed.

    Returns
    -------
    float or None
        None when either is missing or the shapes do not match.
    """
    if a is None or b is None:
        return None
    a = a[0] if a.ndim == 3 and a.shape[0] == 1 else a
    b = b[0] if b.ndim == 3 and b.shape[0] == 1 else b
    if a.shape != b.shape:
        return None
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def summarize(
    runs: list[dict[str, Any]],
    limits: dict[str, Any],
    outputs: dict[str, np.ndarray | None],
    skipped: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """Summarize the runs of one model/size/neuron type.

    Parameters
    ----------
    runs : list of dict
        Worker results (`bench.measure.measure`) of this model, size and neuron
        type, for every simulator and minibatch size.
    limits : dict
        The machine's limits (`bench.machine.limits`).
    outputs : dict
        Probe data of the minibatch-1 run of each simulator (None if it failed).
    skipped : dict
        Per simulator, minibatch size (as str) -> why it was not measured.

    Returns
    -------
    dict
        ``simulators`` (per simulator: figures at minibatch 1, per-minibatch
        ``sample_steps_per_s`` and ``peak_rss_mb``, fractions of the machine,
        ``max_abs_diff_vs_nengo``) and ``ratios`` (per non-nengo simulator, its
        figure over nengo's: ``steps_per_s``, ``build_s``, ``sample_steps_per_s``
        per minibatch against nengo run item by item, and ``vs_nengo_dl``).
    """
    bw = limits["bandwidth_gbs"]["best"] * 1e9
    sims: dict[str, Any] = {}
    for name, by_mb in _by_sim(runs).items():
        one = by_mb.get(1, {})
        entry: dict[str, Any] = {
            "ok": bool(one.get("ok")),
            "error": one.get("error"),
            "dtype": one.get("dtype"),
            "sample_steps_per_s": {},
            "peak_rss_mb": {},
            "baseline_rss_mb": {},
            "bandwidth_fraction": {},
            "flops_fraction": {},
            "errors": {},
            "skipped": skipped.get(name, {}),
        }
        for key in (
            "build_s",
            "steps_per_s",
            "ops_before",
            "ops_after",
            "fallback_ops",
            "fallback_kinds",
        ):
            entry[key] = one.get(key)
        for mb, r in sorted(by_mb.items()):
            if not r.get("ok"):
                entry["errors"][str(mb)] = r.get("error")
                continue
            entry["sample_steps_per_s"][str(mb)] = r["sample_steps_per_s"]
            entry["peak_rss_mb"][str(mb)] = r["peak_rss_mb"]
            entry["baseline_rss_mb"][str(mb)] = r["baseline_rss_mb"]
            cost = r["cost"]
            matmul = limits["matmul_gflops"][r["dtype"]] * 1e9
            b = bytes_per_step(cost, mb)
            f = flops_per_step(cost, mb)
            entry["bandwidth_fraction"][str(mb)] = b * r["steps_per_s"] / bw
            entry["flops_fraction"][str(mb)] = f * r["steps_per_s"] / matmul
            if mb == 1:
                entry["bytes_per_step"] = b
                entry["flops_per_step"] = f
                entry["gb_per_s"] = b * r["steps_per_s"] / 1e9
                entry["gflop_per_s"] = f * r["steps_per_s"] / 1e9
        if name == "nengo" and entry["ok"]:
            # nengo.Simulator runs the items of a minibatch one after the other.
            entry["sample_steps_derived"] = True
        entry["max_abs_diff_vs_nengo"] = (
            None
            if name == "nengo"
            else max_abs_diff(outputs.get("nengo"), outputs.get(name))
        )
        sims[name] = entry

    ratios: dict[str, Any] = {}
    ref = sims.get("nengo", {})
    dl = sims.get("nengo_dl", {})
    for name, entry in sims.items():
        if name == "nengo" or not entry["ok"] or not ref.get("ok"):
            continue
        ratio: dict[str, Any] = {
            "steps_per_s": entry["steps_per_s"] / ref["steps_per_s"],
            "build_s": entry["build_s"] / ref["build_s"],
            "sample_steps_per_s": {
                mb: v / ref["steps_per_s"]
                for mb, v in entry["sample_steps_per_s"].items()
            },
        }
        if name != "nengo_dl" and dl.get("ok"):
            ratio["vs_nengo_dl"] = {
                mb: v / dl["sample_steps_per_s"][mb]
                for mb, v in entry["sample_steps_per_s"].items()
                if mb in dl["sample_steps_per_s"]
            }
        ratios[name] = ratio
    return {"simulators": sims, "ratios": ratios}


def _fmt(value: Any, spec: str, width: int) -> str:
    if value is None:
        return "-".rjust(width)
    return format(value, spec).rjust(width)


TABLE_COLUMNS = (
    ("model", 20),
    ("size", 6),
    ("neur", 4),
    ("simulator", 9),
    ("build s", 7),
    ("steps/s", 8),
    ("×nengo", 7),
    ("ss/s mb8", 9),
    ("mb32", 9),
    ("mb64", 9),
    ("peak MB", 7),
    ("ops→plan", 10),
    ("fb", 3),
    ("%bw", 5),
    ("%flop", 5),
    ("max diff", 8),
)
"""Columns of the printed table (see bench/README.md for their meaning)."""


def table_header() -> str:
    """The table's header line."""
    return " ".join(
        name.ljust(w) if i < 4 else name.rjust(w)
        for i, (name, w) in enumerate(TABLE_COLUMNS)
    )


def table_rows(row: dict[str, Any]) -> list[str]:
    """Lines of the table for one model/size/neuron type, one per simulator.

    Parameters
    ----------
    row : dict
        A result row: ``model``, ``size``, ``neuron_type`` and the keys of
        `summarize`.

    Returns
    -------
    list of str
    """
    lines = []
    sims = row["simulators"]
    for name in sorted(sims, key=lambda s: SIM_ORDER.index(s) if s in SIM_ORDER else 9):
        e = sims[name]
        head = f"{row['model']:20s} {row['size']:6s} {row['neuron_type']:4s} {name:9s}"
        if not e["ok"]:
            lines.append(f"{head} FAILED: {e['error']}")
            continue
        ratio = row["ratios"].get(name, {}).get("steps_per_s")
        ss = e["sample_steps_per_s"]
        ops = f"{e['ops_before']}→{e['ops_after']}"
        peak = max(e["peak_rss_mb"].values()) if e["peak_rss_mb"] else None
        derived = name == "nengo"
        lines.append(
            " ".join(
                [
                    head,
                    _fmt(e["build_s"], ".2f", 7),
                    _fmt(e["steps_per_s"], ".0f", 8),
                    _fmt(1.0 if name == "nengo" else ratio, ".2f", 7),
                    *(
                        _fmt(e["steps_per_s"] if derived else ss.get(mb), ".0f", 9)
                        for mb in ("8", "32", "64")
                    ),
                    _fmt(peak, ".0f", 7),
                    ops.rjust(10),
                    _fmt(e["fallback_ops"], "d", 3),
                    _fmt(100 * e["bandwidth_fraction"].get("1", np.nan), ".1f", 5),
                    _fmt(100 * e["flops_fraction"].get("1", np.nan), ".1f", 5),
                    _fmt(e["max_abs_diff_vs_nengo"], ".1e", 8),
                ]
            )
        )
    return lines


def write_json(path: str, document: dict[str, Any]) -> None:
    """Write the results document as indented JSON, creating the folder.

    Parameters
    ----------
    path : str
        Destination file.
    document : dict
        The results (see bench/README.md for its fields).
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(document, f, indent=1, default=float)


def plot(path: str, rows: list[dict[str, Any]], minibatches: list[int]) -> None:
    """Plot speed ratios and sample-steps/s against minibatch size into a PNG.

    Parameters
    ----------
    path : str
        Destination PNG file.
    rows : list of dict
        Result rows (see `table_rows`).
    minibatches : list of int
        The minibatch sizes asked for (nengo's item-by-item line spans them).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(14, 5.5))
    labels = [f"{r['model']}\n{r['size']} {r['neuron_type']}" for r in rows]
    x = np.arange(len(rows))
    others = [s for s in SIM_ORDER[1:] if any(s in r["ratios"] for r in rows)]
    width = 0.8 / max(len(others), 1)
    for i, sim in enumerate(others):
        values = [r["ratios"].get(sim, {}).get("steps_per_s", np.nan) for r in rows]
        xs = x + (i - (len(others) - 1) / 2) * width
        bars = ax0.bar(xs, values, width, label=sim)
        ax0.bar_label(bars, fmt="%.1f", fontsize=7)
    ax0.axhline(1.0, color="k", lw=0.8)
    ax0.axhline(10.0, color="k", lw=0.8, ls=":")
    ax0.set_yscale("log")
    ax0.set_xticks(x)
    ax0.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax0.set_ylabel("steps/s ÷ nengo.Simulator's (minibatch 1)")
    ax0.set_title("Speed against nengo.Simulator")
    if others:
        ax0.legend()

    styles = {"nengo": ":", "native": "-", "native_fast": "-.", "nengo_dl": "--"}
    for r, label in zip(rows, labels, strict=True):
        for sim, e in r["simulators"].items():
            if not e["ok"]:
                continue
            if sim == "nengo":
                mbs = sorted(minibatches)
                ys = [e["steps_per_s"]] * len(mbs)
            else:
                mbs = sorted(int(m) for m in e["sample_steps_per_s"])
                ys = [e["sample_steps_per_s"][str(m)] for m in mbs]
            ax1.plot(
                mbs,
                ys,
                styles.get(sim, "-"),
                marker="o",
                label=f"{label.replace(chr(10), ' ')} {sim}",
            )
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("minibatch size")
    ax1.set_ylabel("sample-steps/s")
    ax1.set_title("Throughput against minibatch (nengo: item by item)")
    ax1.legend(fontsize=6)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
