"""Kept for old command lines: ``python bench/run.py ARGS`` is ``python -m bench ARGS``.

The old options ``--models``, ``--sizes``, ``--steps``, ``--repeats`` and
``--json`` keep their meaning (the profile's defaults fill the others).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.__main__ import main  # noqa: E402

if __name__ == "__main__":
    main()
