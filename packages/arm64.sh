#!/usr/bin/env bash
# The linux/arm64 (aarch64) artifacts, cross-built on this x86_64 machine and proved by running
# them under qemu-user: the wheel (maturin --zig: ziglang from PyPI is the cross C compiler and
# linker, so sqlite and mimalloc build for aarch64 too), the npm platform package and the image.
# Each binary the channels ship is the one the wheel's build made, and each is run under
# qemu-aarch64 with the contract suite against it.
#
#   packages/arm64.sh        # after packages/python/test.sh (its build venv: maturin, wheel)
#
# Needs rustup (the aarch64-unknown-linux-musl target), qemu-user, buildah, umoci, jq, npm, and
# target/debug/contract-tests. Work files: target/packages-check/arm64.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/target/packages-check/arm64"
tools="$root/target/packages-check/python/build"
contract="$root/target/debug/contract-tests"
target=aarch64-unknown-linux-musl
fail() { echo "arm64-check: $*" >&2; exit 1; }
for tool in qemu-aarch64 buildah umoci jq npm file; do
  command -v "$tool" >/dev/null || fail "$tool is required (apt-get install -y qemu-user buildah umoci jq npm file)"
done
[ -x "$tools/bin/maturin" ] || fail "no $tools/bin/maturin: run packages/python/test.sh first"
[ -x "$contract" ] || fail "no $contract: cargo build -p contract-tests"
rustup target add "$target" >/dev/null
"$tools/bin/pip" install --quiet --disable-pip-version-check 'ziglang==0.17.0'

passed=0
check() { # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else echo "FAIL $name"; exit 1; fi
}
servers=()
cleanup() { for pid in "${servers[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
rm -rf "$work" && mkdir -p "$work"

# 1. The wheel: one aarch64 build (cargo through maturin, zig as linker), tagged like x86_64's.
start=$(date +%s)
(cd "$root/packages/python" && PATH="$tools/bin:$PATH" "$tools/bin/maturin" build --quiet --zig \
  --target "$target" --compatibility musllinux_1_2 --out "$work/dist")
"$tools/bin/python" -m wheel tags --remove \
  --platform-tag manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_2_aarch64 \
  "$work"/dist/belvo_mock-*.whl >/dev/null
wheel=$(ls "$work"/dist/belvo_mock-*.whl)
echo "arm64-check: built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB) in $(( $(date +%s) - start )) s"
check "the wheel is tagged for glibc and musl aarch64" \
  bash -c '[[ "$1" == *-py3-none-manylinux2014_aarch64.manylinux_2_17_aarch64.musllinux_1_2_aarch64.whl ]]' _ "$wheel"
binary="$work/belvo-mock"
"$tools/bin/python" - "$wheel" "$binary" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    data = wheel.read("belvo_mock-0.1.0.data/scripts/belvo-mock")
with open(sys.argv[2], "wb") as out:
    out.write(data)
PY
chmod 0755 "$binary"
check "its script is a static aarch64 executable" \
  bash -c 'file -b "$1" | grep -q "ARM aarch64" && file -b "$1" | grep -q "statically linked"' _ "$binary"
check "it runs under qemu-aarch64: belvo-mock 0.1.0" bash -c '[ "$(qemu-aarch64 "$1" --version)" = "belvo-mock 0.1.0" ]' _ "$binary"

# Starts ROOT_BINARY under qemu on a free loopback port (env from the rest of the arguments),
# runs the contract suite against it, stops it with SIGTERM and expects exit 0.
prove() {
  local name=$1 bin=$2; shift 2
  local ready="$work/$name.ready" log="$work/$name.log" url pid rc
  rm -f "$ready"
  env -i "$@" BELVO_SECRET_ID=arm64-id BELVO_SECRET_PASSWORD=arm64-password \
    qemu-aarch64 "$bin" --addr 127.0.0.1:0 --ready-file "$ready" --no-fixtures --webhook-delay 0.2 \
    >"$log" 2>&1 &
  pid=$!
  servers+=("$pid")
  for _ in $(seq 1 300); do [ -s "$ready" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  [ -s "$ready" ] || { cat "$log"; fail "$name: the fake did not start under qemu"; }
  url=$(jq -r .url "$ready")
  check "$name: healthcheck (the binary itself, under qemu)" qemu-aarch64 "$bin" healthcheck "$url"
  check "$name: the contract suite passes against it" bash -c \
    'BELVO_SECRET_ID=arm64-id BELVO_SECRET_PASSWORD=arm64-password "$1" --target "$2" --webhook-timeout 60 >"$3" 2>&1 || { cat "$3"; exit 1; }' \
    _ "$contract" "$url" "$work/$name.contract"
  kill -TERM "$pid"
  rc=0; wait "$pid" || rc=$?
  check "$name: SIGTERM stops it with exit 0" [ "$rc" = 0 ]
}
prove wheel "$binary" PATH=/usr/bin:/bin

# 2. The npm platform package, packed with the wheel's binary.
stage="$work/npm/cli-linux-arm64"
mkdir -p "$stage"
cp "$root/packages/node/cli-linux-arm64/package.json" "$root/packages/node/cli-linux-arm64/README.md" "$stage/"
install -D -m 0755 "$binary" "$stage/bin/belvo-mock"
(cd "$work/npm" && npm pack --silent "$stage" >/dev/null)
tgz="$work/npm/belvo-mock-cli-linux-arm64-0.1.0.tgz"
check "npm pack: @belvo-mock/cli-linux-arm64 with an executable bin/belvo-mock" bash -c \
  'tar -tvzf "$1" | grep -qE "^-rwx.* package/bin/belvo-mock$"' _ "$tgz"
check "its package.json: os linux, cpu arm64" bash -c \
  '[ "$(tar -xzOf "$1" package/package.json | jq -c "[.os, .cpu]")" = "[[\"linux\"],[\"arm64\"]]" ]' _ "$tgz"
check "the belvo-mock package names it in optionalDependencies" bash -c \
  'jq -e ".optionalDependencies[\"@belvo-mock/cli-linux-arm64\"] == .version" "$1" >/dev/null' _ "$root/packages/node/belvo-mock/package.json"
echo "arm64-check: $(basename "$tgz") $(stat -c %s "$tgz") bytes"

# 3. The image: the same Containerfile for linux/arm64, unpacked and its entrypoint run.
ARCH=arm64 BINARY_RUNNER=qemu-aarch64 bash "$root/packages/container/build.sh" "$binary" | grep 'image size'
. "$root/target/packages-check/container-arm64/build.env"
bundle="$work/bundle"
umoci unpack --image "$OCI_LAYOUT:$IMAGE_VERSION" "$bundle" >/dev/null
config="$bundle/config.json"
manifest=$(jq -r '.manifests[0].digest' "$OCI_LAYOUT/index.json")
image_config=$(jq -r '.config.digest' "$OCI_LAYOUT/blobs/sha256/${manifest#sha256:}")
check "the image is linux/arm64" bash -c \
  '[ "$(jq -r "[.os, .architecture] | join(\"/\")" "$1")" = linux/arm64 ]' _ "$OCI_LAYOUT/blobs/sha256/${image_config#sha256:}"
check "its /belvo-mock is the wheel's binary" cmp -s "$bundle/rootfs/belvo-mock" "$binary"
mapfile -t image_env < <(jq -r '.process.env[]' "$config")
prove image "$bundle/rootfs/belvo-mock" "${image_env[@]}" BELVO_MOCK_DATA_DIR="$bundle/rootfs/data"
check "image: its state went to the /data volume" test -s "$bundle/rootfs/data/belvo-mock.sqlite3"
rm -rf "$bundle"

echo "arm64-check: $passed passed, 0 failed"
