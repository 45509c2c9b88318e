#!/usr/bin/env bash
# Build the core with AddressSanitizer + UndefinedBehaviorSanitizer and run the core
# tests against it (planner/kernel tests and the simulator API tests).
#   scripts/sanitize.sh [pytest args...]
# Needs the development environment of the README's test command (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."
py="$PWD/.venv/bin/python"
"$py" -c "import cmeel" 2>/dev/null || "$py" -m pip install -q cmeel-eigen ninja
build=build/sanitize
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNENGO_NATIVE_SANITIZE=ON -DPython_EXECUTABLE="$py" \
  -Dpybind11_DIR="$($py -m pybind11 --cmakedir)" \
  -DSKBUILD_PROJECT_NAME=nengo_native -DSKBUILD_PROJECT_VERSION=0.1.0 > /dev/null
cmake --build "$build" > /dev/null
# A copy of the package with the sanitized core in it, first on the path.
pkg=$build/site
rm -rf "$pkg" && mkdir -p "$pkg"
cp -r src/nengo_native "$pkg/"
cp "$build"/_core*.so "$pkg/nengo_native/"
# An editable install puts its own import hook first; this pytest plugin removes it so
# that the sanitized copy is the one imported.
cat > "$pkg/_sanitized_core.py" <<'PY'
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "ScikitBuild" not in type(f).__name__]
PY
export PYTHONPATH="$PWD/$pkg"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
# CPython itself leaks by design at exit; leaks are checked with valgrind instead.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$py" -c "import _sanitized_core, nengo_native; assert '$pkg' in nengo_native.__file__"
"$py" -m pytest -q -p _sanitized_core -p no:cacheprovider tests/planner tests/test_simulator.py \
  tests/test_minibatch.py tests/test_bad_input.py tests/test_gradcheck.py \
  tests/test_training.py tests/test_parameters.py "$@"
