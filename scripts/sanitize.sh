#!/usr/bin/env bash
# Build the core with AddressSanitizer + UndefinedBehaviorSanitizer and run the core
# tests against it (planner/kernel tests and the simulator API tests).
#   scripts/sanitize.sh [pytest args...]
# Needs the development environment of the README's test command (.venv); installs the
# build requirements into it (scripts/core_copy.sh). Takes about 6 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
py="$PWD/.venv/bin/python"
build=build/sanitize
. scripts/core_copy.sh
core_copy -DNENGO_NATIVE_SANITIZE=ON
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
# CPython itself leaks by design at exit; leaks are checked with valgrind instead.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
check_core_copy
# SANITIZE_TESTS chooses the test files (CI runs a subset to save time).
read -r -a tests <<< "${SANITIZE_TESTS:-tests/planner tests/test_simulator.py \
  tests/test_minibatch.py tests/test_bad_input.py tests/test_gradcheck.py \
  tests/test_training.py tests/test_parameters.py}"
"$py" -m pytest -q -p no:cacheprovider "${tests[@]}" "$@"
