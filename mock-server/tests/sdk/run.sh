#!/usr/bin/env bash
# Against the belvo-mock binary on a free loopback port: the link flow with the official SDKs
# (belvo-python 0.39.1, belvo npm 0.28.0), unchanged (Python also receives the webhooks and
# checks the data they announce), then the contract suite over HTTP. Installs the SDKs under
# target/sdk-check (a venv and an npm prefix), so nothing outside the checkout is touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
work="$root/target/sdk-check"
mkdir -p "$work"
cd "$root"

if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
fi
"$work/venv/bin/pip" install --quiet --disable-pip-version-check 'belvo-python==0.39.1'
if [ ! -d "$work/node/node_modules/belvo" ] || [ ! -d "$work/node/node_modules/playwright-core" ]; then
  npm install --silent --no-audit --no-fund --prefix "$work/node" 'belvo@0.28.0' 'playwright-core@1' >/dev/null
fi

cargo build --quiet -p mock-server -p contract-tests
log="$work/server.out"
./target/debug/belvo-mock --addr 127.0.0.1:0 --log-level warn --webhook-delay 0.2 \
  --secret-id sdk-check-id --secret-password sdk-check-password >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
base=""
for _ in $(seq 1 100); do
  base=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -n 1 || true)
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "mock-server did not start:"; cat "$log"; exit 1; }

here="$root/mock-server/tests/sdk"
"$work/venv/bin/python" "$here/check_python.py" "$base" sdk-check-id sdk-check-password
NODE_PATH="$work/node/node_modules" node "$here/check_node.js" "$base" sdk-check-id sdk-check-password
# The contract suite against the same binary, over HTTP, with a JUnit report.
BELVO_SECRET_ID=sdk-check-id BELVO_SECRET_PASSWORD=sdk-check-password \
  ./target/debug/contract-tests --target "$base" --junit "$work/contract-junit.xml" --webhook-timeout 30
# The dashboard in headless Chromium (Debian's package; .ci/run installs it).
NODE_PATH="$work/node/node_modules" node "$root/mock-server/tests/ui/dashboard.mjs" \
  "$base" sdk-check-id sdk-check-password "$work/dashboard.png"
# The hosted widget in the same browser: connect, exit, an expired token (screenshots too).
NODE_PATH="$work/node/node_modules" node "$root/mock-server/tests/ui/widget.mjs" \
  "$base" sdk-check-id sdk-check-password "$work/widget"
# The two SDK flows, the contract run, the dashboard and the widget above are the five checks.
echo "sdk-check: 5 passed, 0 failed"
