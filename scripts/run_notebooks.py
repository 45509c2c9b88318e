"""Execute the tutorial notebooks and store their outputs (figures included) in them.

    .venv/bin/python scripts/run_notebooks.py [docs/notebooks/NAME.ipynb ...]
    .venv/bin/python scripts/run_notebooks.py --figures-only  # only docs/images

It also copies one stored figure of each notebook to docs/images/NAME.png, the figures
docs/index.md shows.

Run it after changing a notebook or anything its output depends on, and commit the
result: CI re-executes every notebook with nbval (`pytest --nbval`) and fails when a
stored text output differs from the new one. Volatile parts (timings) are masked by the
patterns in scripts/nbval-sanitize.cfg; figures are compared by presence only.
"""

import base64
import os
import runpy
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
# Figures are stored through the kernel's inline backend; a non-interactive MPLBACKEND
# (as for nbmake) would leave them out.
os.environ.pop("MPLBACKEND", None)
# The same numerics as CI's nbval run (see docs/notebooks/conftest.py).
runpy.run_path(str(ROOT / "docs" / "notebooks" / "conftest.py"))


# The figure of each notebook that docs/index.md shows: its index among the notebook's
# figures, in order.
FIGURES = {
    "coming-from-nengo": 4,
    "spiking-digits": 2,
    "batch-sweep": 0,
    "spiking-aware-training": 0,
}


def export_figure(path):
    name = path.stem
    if name not in FIGURES:
        return
    nb = nbformat.read(path, as_version=4)
    pngs = [
        out["data"]["image/png"]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    target = ROOT / "docs" / "images" / f"{name}.png"
    target.write_bytes(base64.b64decode(pngs[FIGURES[name]]))
    print(f"wrote {target.relative_to(ROOT)}")


def run(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    for cell in nb.cells:  # no execution timing or ids that change on every run
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    print(f"executed {path.relative_to(ROOT)}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--figures-only"]
    paths = [Path(p).resolve() for p in args] or sorted(
        (ROOT / "docs" / "notebooks").glob("*.ipynb")
    )
    for p in paths:
        if "--figures-only" not in sys.argv:
            run(p)
        export_figure(p)
