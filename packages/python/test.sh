#!/usr/bin/env bash
# The Python channel, as a user gets it: build the belvo-mock wheel from the checkout (maturin
# reuses the dist build of .ci/run), install it into a fresh venv with belvo-python, pytest and
# pytest-xdist, and run the plugin's own tests there. Prints the wheel's path on its last line
# of stdout as `wheel: PATH` for the steps after it (the action's test).
# Usage: packages/python/test.sh   (from anywhere; work under target/packages-check/python)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/packages/python"
work="$root/target/packages-check/python"
target=${BELVO_MOCK_TARGET:-x86_64-unknown-linux-musl}
mkdir -p "$work"

# maturin in a venv of its own (a build tool, not something the wheel's users install).
if [ ! -x "$work/build/bin/maturin" ]; then
  python3 -m venv "$work/build"
  "$work/build/bin/pip" install --quiet --disable-pip-version-check 'maturin==1.16.0' \
    'wheel==0.45.1' 'mypy==1.18.2' 'pytest==9.2.0'
fi
# The package is typed (py.typed): its annotations hold under mypy --strict.
(cd "$here" && MYPYPATH=python "$work/build/bin/mypy" --strict --no-incremental -p belvo_mock)
rm -rf "$work/dist"
start=$(date +%s)
(cd "$here" && "$work/build/bin/maturin" build --quiet --target "$target" --out "$work/dist" \
  --compatibility "${BELVO_MOCK_WHEEL_COMPAT:-musllinux_1_2}")
wheel=$(ls "$work"/dist/belvo_mock-*.whl)
if [ "$target" = x86_64-unknown-linux-musl ]; then
  # The binary is static (musl, nothing loaded at run time), so the same file runs on any
  # x86_64 Linux: tag the wheel for glibc (manylinux2014, glibc 2.17+) as well as musl, so
  # pip on Debian/Ubuntu/RHEL and on Alpine all take it.
  "$work/build/bin/python" -m wheel tags --remove \
    --platform-tag manylinux_2_17_x86_64.manylinux2014_x86_64.musllinux_1_2_x86_64 "$wheel" >/dev/null
  wheel=$(ls "$work"/dist/belvo_mock-*.whl)
fi
echo "built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB) in $(( $(date +%s) - start )) s"

# A fresh environment, as a user's: the wheel, the official SDK, pytest and xdist.
rm -rf "$work/venv"
python3 -m venv "$work/venv"
start=$(date +%s%N)
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel"
echo "installed the wheel in $(( ($(date +%s%N) - start) / 1000000 )) ms"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check \
  'belvo-python==0.39.1' 'pytest==9.2.0' 'pytest-xdist==3.8.0'
"$work/venv/bin/belvo-mock" --version
"$work/venv/bin/python" -c 'import belvo_mock, sys; print("belvo_mock", belvo_mock.__version__, "binary", belvo_mock.find_binary())'

# The plugin's tests, from a folder outside the checkout (so nothing is imported from it).
rm -rf "$work/run" && mkdir -p "$work/run"
cp -r "$here/tests" "$work/run/tests"
# The README's Python snippet is examples/test_quickstart.py (packages/snippets.py checks they
# are the same text): it runs here as a user's test file.
cp "$here/examples/test_quickstart.py" "$work/run/tests/test_quickstart.py"
(cd "$work/run" && "$work/venv/bin/python" -m pytest -p no:cacheprovider -q tests)
echo "wheel: $wheel"
