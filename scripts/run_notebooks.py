"""Execute the tutorial notebooks and store their outputs (figures included) in them.

    .venv/bin/python scripts/run_notebooks.py [docs/notebooks/NAME.ipynb ...]

Run it after changing a notebook or anything its output depends on, and commit the
result: CI re-executes every notebook with nbval (`pytest --nbval`) and fails when a
stored text output differs from the new one. Volatile parts (timings) are masked by the
patterns in scripts/nbval-sanitize.cfg; figures are compared by presence only.
"""

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
# Figures are stored through the kernel's inline backend; a non-interactive MPLBACKEND
# (as for nbmake) would leave them out.
os.environ.pop("MPLBACKEND", None)


def run(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    for cell in nb.cells:  # no execution timing or ids that change on every run
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    print(f"executed {path.relative_to(ROOT)}")


if __name__ == "__main__":
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted(
        (ROOT / "docs" / "notebooks").glob("*.ipynb")
    )
    for p in paths:
        run(p)
