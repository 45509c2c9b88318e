#!/usr/bin/env bash
# Run a short simulation (scripts/valgrind_workload.py: every kernel family, float32
# and float64, minibatch 1 and 3, run-time data, predict, reset, pickling) under
# valgrind memcheck, with the core built with debug info, and count the errors whose
# stack passes through the core (_core*.so). Those must be 0; errors and leaks that
# lie wholly in CPython, NumPy, SciPy or OpenBLAS are only summarized (the rest of the
# interpreter is not ours to fix, and PYTHONMALLOC=malloc already removes most noise).
#   scripts/valgrind.sh            # exit status 1 if the core has any error or leak
# Needs valgrind (Debian: apt-get install valgrind) and the README's .venv. Takes a few
# minutes (the interpreter runs ~50x slower under valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind > /dev/null || { echo "valgrind is not installed" >&2; exit 2; }
py="$PWD/.venv/bin/python"
build=build/valgrind
. scripts/core_copy.sh
core_copy
check_core_copy
xml=$build/memcheck.xml
# malloc instead of CPython's small-object allocator, whose reads of unallocated
# arenas memcheck would report; two OpenMP threads so that the parallel paths run.
PYTHONMALLOC=malloc OMP_NUM_THREADS=2 valgrind --tool=memcheck --error-limit=no \
  --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --num-callers=40 --suppressions=scripts/valgrind-python.supp \
  --xml=yes --xml-file="$xml" "$py" scripts/valgrind_workload.py
"$py" - "$xml" <<'PY'
"""Count memcheck's errors by whether their stacks pass through the core."""
import collections
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
ours, others = [], collections.Counter()
for error in root.iter("error"):
    kind = error.findtext("kind")
    frames = [
        (f.findtext("obj") or "", f.findtext("fn") or "?", f.findtext("file"),
         f.findtext("line"))
        for f in error.iter("frame")
    ]
    if any("_core" in obj.rsplit("/", 1)[-1] for obj, *_ in frames):
        ours.append((kind, error.findtext("what") or error.findtext("xwhat/text"),
                     frames))
    else:
        top = next((fn for obj, fn, *_ in frames if fn != "?"), "?")
        others[(kind, top)] += 1
for kind, what, frames in ours:
    print(f"\n{kind}: {what}")
    for obj, fn, file, line in frames[:12]:
        print(f"    {fn}  ({file or obj.rsplit('/', 1)[-1]}{':' + line if line else ''})")
print(f"\nmemcheck: {len(ours)} error(s) with the core on the stack; "
      f"{sum(others.values())} elsewhere (interpreter and libraries):")
for (kind, top), n in others.most_common(15):
    print(f"    {n:5d}  {kind} in {top}")
sys.exit(1 if ours else 0)
PY
