#!/usr/bin/env bash
# The contract suite against an implementation of Belvo's contract that nobody here wrote:
# Stoplight Prism (pinned by package.json and package-lock.json) serving Belvo's OpenAPI
# document on loopback. Asserts the report: exit code 1; the real failures (no 401 for wrong
# keys, no 404 for unknown ids, no INSS in the catalogue) reported as breaking; the fake's own
# strictness (timestamp form, extra keys) as drift, not failures; no request to any origin but
# the target (every other origin goes through a proxy that only counts connections); the
# cleanup steps ran; all in bounded time.
#
# Usage: contract-tests/prism/check.sh CONTRACT_TESTS_BINARY [OPENAPI_JSON]
# Needs node and npm (the npm registry) and python3. Work files: target/prism-check/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$(realpath "${1:?usage: check.sh CONTRACT_TESTS_BINARY [OPENAPI_JSON]}")
spec=$(realpath "${2:-$root/../shared/reference/openapi.json}")
work=$root/target/prism-check
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
prism=$work/node_modules/.bin/prism
echo "prism: $("$prism" --version) serving $(basename "$spec")"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
trap_port=$(free_port)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# A listener that stands for every other origin: the suite's requests go through it as their
# proxy, so a request to any host but the target is counted here (and answered with nothing).
echo 0 > "$work/elsewhere.count"
python3 - "$trap_port" "$work/elsewhere.count" <<'PY' &
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
count = 0
while True:
    conn, _ = server.accept()
    count += 1
    with open(sys.argv[2], "w") as f:
        f.write(str(count))
    conn.close()
PY
pids+=($!)

"$prism" mock --host 127.0.0.1 --port "$port" "$spec" > "$work/prism.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 180); do
  grep -q 'Prism is listening' "$work/prism.log" && break
  sleep 0.5
done
grep -q 'Prism is listening' "$work/prism.log" || { tail -20 "$work/prism.log"; echo "prism did not start"; exit 1; }

proxied() {
  env HTTP_PROXY="http://127.0.0.1:$trap_port" HTTPS_PROXY="http://127.0.0.1:$trap_port" \
    ALL_PROXY="http://127.0.0.1:$trap_port" http_proxy="http://127.0.0.1:$trap_port" \
    https_proxy="http://127.0.0.1:$trap_port" all_proxy="http://127.0.0.1:$trap_port" \
    NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 "$@"
}
# The control: a request to any other host does reach the counting proxy.
proxied timeout 60 "$binary" --target http://belvo-mock-control.invalid --webhook-timeout 1 \
  > "$work/control.txt" 2>&1 < /dev/null || true
control=$(cat "$work/elsewhere.count")
echo 0 > "$work/elsewhere.count"

started=$(date +%s)
set +e
proxied timeout 300 "$binary" --target "http://127.0.0.1:$port" --webhook-timeout 10 \
  --junit "$work/junit.xml" > "$work/report.txt" 2>&1 < /dev/null
rc=$?
set -e
seconds=$(( $(date +%s) - started ))
report=$work/report.txt
junit=$work/junit.xml

passed=0
failed=0
check() {
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok   $what"
  else
    failed=$((failed + 1))
    echo "FAIL $what"
  fi
}
has() { grep -qF -- "$1" "$report"; }
lacks() { ! grep -E -- "$1" "$report" >/dev/null; }
# The lines under step $1 (up to the next step line).
under() { awk -v step="$1" '/^(ok  |FAIL) / { on = index($0, step) > 0; next } on' "$report"; }
under_has() { under "$1" | grep -qF -- "$2"; }

check "control: a request to another host reaches the counting proxy ($control connection(s))" test "$control" -gt 0
check "the run ends with exit code 1 (not 0, not the 300 s timeout: $rc after ${seconds} s)" test "$rc" -eq 1
check "the summary counts each class" grep -qE '^differences: [0-9]+ breaking, [0-9]+ additive; [0-9]+ fail the run, [0-9]+ are drift' "$report"
check "wrong keys get no 401: reported as breaking" under_has "wrong keys are refused" "! breaking: expected status 401, got 200"
check "an unknown id gets no 404: reported as breaking" under_has "an unknown link is not found" "! breaking: expected status 404, got 200"
check "INSS is not in the catalogue: reported as breaking" under_has "institutions list INSS" "! breaking: inss_br_employment is not in the catalogue"
check "another timestamp form is drift" has "~ drift, additive (other timestamp precision or offset): link.json: at /last_accessed_at"
check "extra owner keys are drift" has "~ drift, additive (added key): owners_page.json: at /results/0"
check "neither is ever a failure" lacks '^ +! .*(other timestamp precision or offset|added key)'
check "the link step passes with drift only" has "ok   register the link (201, or 428 for MFA)"
check "a next at another origin fails, named, and nothing is sent there" \
  has "! breaking: https://sandbox.belvo.com/api/{endpoint}/?link=1bd948f7-245d-4313-b604-34d1044cb908page=2 is not at the target's origin (http://127.0.0.1:$port): nothing was sent there"
check "no connection reached any other origin (the counting proxy saw $(cat "$work/elsewhere.count"))" test "$(cat "$work/elsewhere.count")" -eq 0
check "the cleanup steps still ran" has "delete the link — DELETE /api/links/{id}/ →"
check "JUnit: failures counted" grep -qE '<testsuite name="belvo-contract"[^>]* failures="[1-9][0-9]*"' "$junit"
check "JUnit: drift is a skipped case with a message, not a failure" grep -qF '<skipped message="drift, not a failure:' "$junit"
check "the run took under 120 s (${seconds} s)" test "$seconds" -lt 120

echo "report: $report (JUnit: $junit)"
if [ "$failed" -gt 0 ]; then
  cat "$report"
fi
echo "prism-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
