# Sourced by sanitize.sh and valgrind.sh: build the core in $build with the extra CMake
# arguments given, and put a copy of the package with that core first on PYTHONPATH.
# Needs $py (the development environment's python) and $build.
core_copy() {
  # The README's editable install builds in an isolated environment, so .venv lacks the
  # build requirements; install them (and CMake and Ninja) into .venv once.
  local bin
  bin=$(dirname "$py")
  "$py" -c "import cmeel, pybind11" 2>/dev/null && [[ -x $bin/cmake && -x $bin/ninja ]] ||
    "$py" -m pip install -q "pybind11>=2.12" "cmeel-eigen>=3.4" cmake ninja
  PATH="$bin:$PATH" cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" \
    -DPython_EXECUTABLE="$py" -Dpybind11_DIR="$($py -m pybind11 --cmakedir)" \
    -DSKBUILD_PROJECT_NAME=nengo_native -DSKBUILD_PROJECT_VERSION=0.1.0 > /dev/null
  PATH="$bin:$PATH" cmake --build "$build" > /dev/null
  pkg=$build/site
  rm -rf "$pkg" && mkdir -p "$pkg"
  cp -r src/nengo_native "$pkg/"
  cp "$build"/_core*.so "$pkg/nengo_native/"
  # An editable install puts its own import hook first; removing it at start-up makes
  # the copy the one imported.
  cat > "$pkg/sitecustomize.py" <<'PY'
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "ScikitBuild" not in type(f).__name__]
PY
  export PYTHONPATH="$PWD/$pkg"
}

# Whether the copy is what imports (after the caller's environment is set up).
check_core_copy() {
  "$py" -c "import nengo_native; assert '$pkg' in nengo_native.__file__, nengo_native.__file__"
}
