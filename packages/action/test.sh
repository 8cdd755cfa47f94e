#!/usr/bin/env bash
# Tests the GitHub Action in packages/action the way a runner drives it, without a runner: runs
# `node start.js` with INPUT_* env and temporary GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE files,
# parses those files as the runner would and asserts them, talks to the started fake with the
# exported URL and keys, then runs `node stop.js` with the STATE_* env the runner would derive
# from GITHUB_STATE and asserts the server is gone. Also: the fake's environment (no runner
# tokens or inputs, loopback in NO_PROXY, a dead HTTP_PROXY does not stop the health wait),
# stop.js on a gone server and on an empty state, a start with neither `wheel` nor `version`,
# a start that fails (bad args) leaves no server and no exported env (its state only, which
# stop.js handles), and BELVO_MOCK_FIXTURES in the job's env (no --no-fixtures then).
#
#   packages/action/test.sh WHEEL      # WHEEL: e.g. target/wheels/belvo_mock-0.1.0-*x86_64*.whl
#
# Needs node (20+), python3 (venv, pip), curl. Work files: target/packages-check/action (removed
# at the end; KEEP=1 keeps them).
# Checks run small `bash -c '…' _ ARGS` snippets: their $1… expand in the snippet, not here.
# shellcheck disable=SC2016
set -euo pipefail

[ $# = 1 ] || { echo "usage: $0 WHEEL   (one wheel that installs on this machine, e.g. target/wheels/belvo_mock-0.1.0-*x86_64*.whl; got $# arguments)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/packages/action"
work="$root/target/packages-check/action"
fail() { echo "action-check: $*" >&2; exit 1; }
wheel=$(realpath -e "$1" 2>/dev/null) || fail "no such wheel: $1"
[[ "$wheel" == *.whl ]] || fail "not a wheel: $wheel"
for tool in node python3 curl; do command -v "$tool" >/dev/null || fail "$tool is required"; done

passed=0
failed=0
check() { # check NAME COMMAND...: one assertion, counted; the script goes on after a failure.
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name"; fi
}
eq() { [ "$1" = "$2" ] || { echo "     expected: $2"; echo "     got:      $1"; return 1; }; }
contains() { grep -qF -- "$2" "$1" || { echo "     $1 does not contain: $2"; return 1; }; }
not() { ! "$@"; }
# Gone = no such process, or a zombie nobody reaped yet (it was orphaned when start.js exited).
gone() { [ ! -e "/proc/$1" ] || grep -qE '^[0-9]+ \(.*\) [ZX] ' "/proc/$1/stat" 2>/dev/null; }

# Parses a GITHUB_ENV/OUTPUT/STATE file as the runner does (NAME=value and NAME<<DELIM lines)
# into NAME<TAB>value lines (values here are single-line).
parse() {
  python3 - "$1" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
i = 0
while i < len(lines):
    line = lines[i]; i += 1
    if not line:
        continue
    if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
        name, delim = line.split("<<", 1)
        value = []
        while lines[i] != delim:
            value.append(lines[i]); i += 1
        i += 1
        print(f"{name}\t" + "\\n".join(value))
    else:
        name, value = line.split("=", 1)
        print(f"{name}\t{value}")
PY
}
get() { awk -F '\t' -v k="$2" '$1 == k { v = $2 } END { print v }' <<<"$1"; } # get PARSED NAME

tmp="$work/run"
servers=()
cleanup() {
  for pid in "${servers[@]}"; do
    if ! gone "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$tmp/runner-temp"
started=$SECONDS

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
key_id=action-check-id
key_pw=action-check-password
: >"$tmp/github_env"; : >"$tmp/github_output"; : >"$tmp/github_state"
runner_env=(PATH="$PATH" HOME="${HOME:-/root}" RUNNER_TEMP="$tmp/runner-temp"
  GITHUB_ENV="$tmp/github_env" GITHUB_OUTPUT="$tmp/github_output" GITHUB_STATE="$tmp/github_state")
# Every input the way the runner passes it (defaults from action.yml included).
inputs=("INPUT_VERSION=" "INPUT_WHEEL=$wheel" "INPUT_PORT=$port" "INPUT_SECRET-ID=$key_id"
  "INPUT_SECRET-PASSWORD=$key_pw" "INPUT_WEBHOOK-URL=http://127.0.0.1:9/belvo-webhooks"
  "INPUT_FIXTURES=" "INPUT_ARGS=--log-level 'info' --webhook-delay 0" "INPUT_PYTHON=python3")

# 1. start.js. Also in its env: runner secrets the fake must not inherit, and a proxy on a port
# where nothing listens (the health wait and the fake's loopback traffic must bypass it).
withheld=(ACTIONS_RUNTIME_TOKEN=action-check-runtime-token GITHUB_TOKEN=action-check-github-token
  STATE_leftover=action-check-state)
proxy=(HTTP_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 NO_PROXY=corp.example)
t0=$SECONDS
rc=0
(cd "$tmp" && env -i "${runner_env[@]}" "${withheld[@]}" "${proxy[@]}" "${inputs[@]}" node "$here/start.js") >"$tmp/start.out" 2>&1 || rc=$?
start_seconds=$((SECONDS - t0))
if [ $rc != 0 ]; then
  sed 's/^/     /' "$tmp/start.out"
  fail "start.js exited with $rc (its output above); nothing else can be checked"
fi
check "start.js exits 0 (${start_seconds} s, pip install included)" eq "$rc" 0
check "start.js masks the password first" eq "$(grep -m1 '^::' "$tmp/start.out")" "::add-mask::$key_pw"

envs=$(parse "$tmp/github_env")
outputs=$(parse "$tmp/github_output")
state=$(parse "$tmp/github_state")
url=$(get "$outputs" url)
pid=$(get "$outputs" pid)
log_file=$(get "$outputs" log-file)
[[ "$pid" =~ ^[0-9]+$ ]] && servers+=("$pid")
check "GITHUB_ENV: BELVO_API_URL, BELVO_SECRET_ID, BELVO_SECRET_PASSWORD" eq "$envs" \
  "$(printf 'BELVO_API_URL\thttp://127.0.0.1:%s\nBELVO_SECRET_ID\t%s\nBELVO_SECRET_PASSWORD\t%s' "$port" "$key_id" "$key_pw")"
check "GITHUB_OUTPUT: url, pid, log-file, version" eq "$(cut -f1 <<<"$outputs" | tr '\n' ' ')" 'url pid log-file version '
check "output url is http://127.0.0.1:$port" eq "$url" "http://127.0.0.1:$port"
check "output version is 0.1.0" eq "$(get "$outputs" version)" 0.1.0
check "output log-file is under RUNNER_TEMP" bash -c '[[ "$1" == "$2"/* ]] && [ -s "$1" ]' _ "$log_file" "$tmp/runner-temp"
# Written right after the spawn (so a cancelled step is still cleaned up); the wheel's script is
# the binary itself, so the ready file's pid is the spawned one and `pid` is not written again.
check "GITHUB_STATE: pid (same as the output), pgid, log_file" eq \
  "$(get "$state" pid) $(cut -f1 <<<"$state" | tr '\n' ' ')" "$pid pid pgid log_file "
check "the server (pid $pid) outlives start.js and is belvo-mock" \
  bash -c '[ -n "$1" ] && ! { [ ! -e "/proc/$1" ] || grep -qE "^[0-9]+ \(.*\) [ZX] " "/proc/$1/stat"; } && tr "\0" " " <"/proc/$1/cmdline" | grep -q belvo-mock' _ "$pid"
check "the password is not on its command line" bash -c '! tr "\0" " " <"/proc/$1/cmdline" | grep -qF -- "$2"' _ "$pid" "$key_pw"
tr '\0' '\n' <"/proc/$pid/environ" >"$tmp/server.environ" 2>/dev/null || true
check "its env has no ACTIONS_*, GITHUB_TOKEN, INPUT_*, STATE_*" bash -c \
  '[ -s "$1" ] && ! grep -qE "^(ACTIONS_|GITHUB_TOKEN=|INPUT_|STATE_)" "$1"' _ "$tmp/server.environ"
check "its env has the keys and loopback appended to NO_PROXY / no_proxy" bash -c \
  'grep -qx "BELVO_SECRET_PASSWORD=$2" "$1" && grep -qx "NO_PROXY=corp.example,127.0.0.1,localhost,::1" "$1" && grep -qx "no_proxy=127.0.0.1,localhost,::1" "$1"' \
  _ "$tmp/server.environ" "$key_pw"

# 2. A later step: only what GITHUB_ENV exported.
api=$(get "$envs" BELVO_API_URL)
id=$(get "$envs" BELVO_SECRET_ID)
pw=$(get "$envs" BELVO_SECRET_PASSWORD)
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
check "GET \$BELVO_API_URL/_mock/health → 200 (no auth)" eq "$(code "$api/_mock/health")" 200
check "GET \$BELVO_API_URL/api/links/ with the exported keys → 200" eq "$(code -u "$id:$pw" "$api/api/links/")" 200
check "GET \$BELVO_API_URL/api/links/ with other keys → 401" eq "$(code -u "$id:wrong" "$api/api/links/")" 401
check "the webhook-url input reached the fake (GET /_mock/webhook)" eq \
  "$(curl -s --max-time 10 -u "$id:$pw" "$api/_mock/webhook" | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])')" \
  http://127.0.0.1:9/belvo-webhooks
check "the args input reached the fake (--webhook-delay 0 in its banner)" contains "$log_file" 'after 0.0s'
check "no fixtures input → generated data only (--no-fixtures)" contains "$log_file" 'fixtures: none'

# 3. stop.js, with STATE_<name> derived from GITHUB_STATE as the runner does.
state_env=()
while IFS=$'\t' read -r name value; do state_env+=("STATE_$name=$value"); done <<<"$state"
rc=0
env -i "${runner_env[@]}" "${state_env[@]}" node "$here/stop.js" >"$tmp/stop.out" 2>&1 || rc=$?
check "stop.js exits 0" eq "$rc" 0
check "stop.js stopped it with SIGTERM and printed the log's tail" \
  bash -c 'grep -q "^belvo-mock stopped after" "$1" && grep -q "^::group::belvo-mock log, last" "$1" && grep -q "listening on" "$1"' _ "$tmp/stop.out"
check "the server is gone" gone "$pid"
check "it shut down gracefully (the shutdown lines in its log, no panic)" bash -c \
  'grep -q "shutdown signal received" "$1" && grep -qx "belvo-mock stopped." "$1" && ! grep -qi panic "$1"' _ "$log_file"
rc=0
env -i "${runner_env[@]}" "${state_env[@]}" node "$here/stop.js" >"$tmp/stop2.out" 2>&1 || rc=$?
check "stop.js again (already gone): exit 0, says so" bash -c '[ "$1" = 0 ] && grep -q "already gone" "$2"' _ "$rc" "$tmp/stop2.out"
rc=0
env -i "${runner_env[@]}" node "$here/stop.js" >"$tmp/stop3.out" 2>&1 || rc=$?
check "stop.js with no state (start failed early): exit 0, nothing to stop" \
  bash -c '[ "$1" = 0 ] && grep -q "nothing to stop" "$2"' _ "$rc" "$tmp/stop3.out"

# 4. Neither `wheel` nor `version` (action.yml has no default version: nothing is on PyPI yet).
: >"$tmp/github_env"; : >"$tmp/github_output"; : >"$tmp/github_state"
rc=0
(cd "$tmp" && env -i "${runner_env[@]}" "INPUT_VERSION=" "INPUT_WHEEL=" "INPUT_PORT=$(free_port)" \
  node "$here/start.js") >"$tmp/none.out" 2>&1 || rc=$?
check "no wheel and no version: exit 1, an ::error:: that says what to set, nothing written" bash -c \
  '[ "$1" = 1 ] && grep -q "^::error::belvo-mock-action: no belvo-mock to install" "$2" && grep -qF -- "$6" "$2" && [ ! -s "$3" ] && [ ! -s "$4" ] && [ ! -s "$5" ]' \
  _ "$rc" "$tmp/none.out" "$tmp/github_env" "$tmp/github_output" "$tmp/github_state" \
  'set `wheel:` to a belvo-mock wheel you built, or `version:` once belvo-mock is on PyPI'

# A start that fails: an unknown flag. Exit 1, the log printed, nothing exported, no server left.
: >"$tmp/github_env"; : >"$tmp/github_output"; : >"$tmp/github_state"
bad_port=$(free_port)
rc=0
(cd "$tmp" && env -i "${runner_env[@]}" "INPUT_WHEEL=$wheel" "INPUT_PORT=$bad_port" "INPUT_ARGS=--no-such-flag" \
  node "$here/start.js") >"$tmp/bad.out" 2>&1 || rc=$?
check "a failing start exits 1 with an ::error:: and the server's log" \
  bash -c '[ "$1" = 1 ] && grep -q "^::error::belvo-mock-action: belvo-mock stopped before it was ready" "$2" && grep -q -- "--no-such-flag" "$2"' _ "$rc" "$tmp/bad.out"
check "a failing start exports nothing" bash -c '[ ! -s "$1" ] && [ ! -s "$2" ]' _ \
  "$tmp/github_env" "$tmp/github_output"
# The state is saved right after the spawn (for a cancelled step's post step), so a failing start
# leaves pid/pgid/log_file of a server it already killed: stop.js must find it gone and exit 0.
bad_state=$(parse "$tmp/github_state")
check "a failing start saved only its state: pid, pgid, log_file" eq "$(cut -f1 <<<"$bad_state" | tr '\n' ' ')" 'pid pgid log_file '
bad_state_env=()
while IFS=$'\t' read -r name value; do [ -n "$name" ] && bad_state_env+=("STATE_$name=$value"); done <<<"$bad_state"
rc=0
env -i "${runner_env[@]}" "${bad_state_env[@]}" node "$here/stop.js" >"$tmp/bad-stop.out" 2>&1 || rc=$?
check "stop.js after the failing start: exit 0, already gone" \
  bash -c '[ "$1" = 0 ] && grep -q "already gone" "$2"' _ "$rc" "$tmp/bad-stop.out"
check "a failing start leaves nothing listening on its port" \
  bash -c '! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/_mock/health"' _ "$bad_port"

# BELVO_MOCK_FIXTURES in the job's env (an empty folder), no `fixtures` input: start.js must not
# add --no-fixtures, which clap rejects beside it.
: >"$tmp/github_env"; : >"$tmp/github_output"; : >"$tmp/github_state"
mkdir -p "$tmp/empty-fixtures"
fixtures_port=$(free_port)
rc=0
(cd "$tmp" && env -i "${runner_env[@]}" "BELVO_MOCK_FIXTURES=$tmp/empty-fixtures" "INPUT_WHEEL=$wheel" \
  "INPUT_PORT=$fixtures_port" node "$here/start.js") >"$tmp/fixtures.out" 2>&1 || rc=$?
fixtures_state=()
while IFS=$'\t' read -r name value; do
  [ -n "$name" ] && fixtures_state+=("STATE_$name=$value")
  [ "$name" = pid ] && servers+=("$value")
done <<<"$(parse "$tmp/github_state")"
check "BELVO_MOCK_FIXTURES in the job env: starts, without --no-fixtures" bash -c \
  '[ "$1" = 0 ] && grep -q "^Starting .*--ready-file" "$2" && ! grep -q -- "--no-fixtures" "$2"' _ "$rc" "$tmp/fixtures.out"
rc=0
env -i "${runner_env[@]}" "${fixtures_state[@]}" node "$here/stop.js" >"$tmp/fixtures-stop.out" 2>&1 || rc=$?
check "stop.js ends that fake" bash -c \
  '[ "$1" = 0 ] && ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$2/_mock/health"' _ "$rc" "$fixtures_port"

# 5. The README's workflow (examples/workflow.yml): its `with:` inputs are the action's own, the
# outputs it reads exist, and start.js/stop.js run with exactly those inputs (and this wheel).
example="$here/examples/workflow.yml"
example_inputs=$(python3 - "$example" "$here/action.yml" <<'PY'
import re, sys
workflow, action = (open(p, encoding="utf-8").read().split("\n") for p in sys.argv[1:3])
declared = {"inputs": set(), "outputs": set()}
section = None
for line in action:
    top = re.match(r"^(\w+):", line)
    if top:
        section = top.group(1)
    key = re.match(r"^  ([a-z-]+):", line)
    if key and section in declared:
        declared[section].add(key.group(1))
step = next(i for i, l in enumerate(workflow) if "uses: OWNER/belvo-mock/packages/action@" in l)
start = next(i for i in range(step, len(workflow)) if workflow[i].strip() == "with:")
indent = len(workflow[start]) - len(workflow[start].lstrip()) + 2
for line in workflow[start + 1:]:
    if len(line) - len(line.lstrip()) < indent or not line.strip():
        break
    name, value = line.strip().split(":", 1)
    value = value.split(" #")[0].strip().strip("'\"")
    if name not in declared["inputs"]:
        sys.exit(f"workflow.yml: {name} is not an input of action.yml")
    print(f"INPUT_{name.upper()}={value}")
for used in re.findall(r"steps\.belvo\.outputs\.([a-z-]+)", "\n".join(workflow)):
    if used not in declared["outputs"]:
        sys.exit(f"workflow.yml: outputs.{used} is not an output of action.yml")
PY
) && rc=0 || rc=$?
check "the README workflow's inputs and outputs are the action's" eq "$rc" 0
mapfile -t example_env <<<"$example_inputs"
: >"$tmp/github_env"; : >"$tmp/github_output"; : >"$tmp/github_state"
rc=0
(cd "$tmp" && env -i "${runner_env[@]}" "${example_env[@]}" "INPUT_WHEEL=$wheel" node "$here/start.js") \
  >"$tmp/example.out" 2>&1 || rc=$?
example_envs=$(parse "$tmp/github_env")
example_port=$(sed -n 's/^INPUT_PORT=//p' <<<"$example_inputs")
check "start.js with the README workflow's inputs exports its URL and keys" eq "$rc $example_envs" \
  "0 $(printf 'BELVO_API_URL\thttp://127.0.0.1:%s\nBELVO_SECRET_ID\tci-secret-id\nBELVO_SECRET_PASSWORD\tci-secret-password' "$example_port")"
example_state=()
while IFS=$'\t' read -r name value; do
  [ -n "$name" ] && example_state+=("STATE_$name=$value")
  [ "$name" = pid ] && servers+=("$value")
done <<<"$(parse "$tmp/github_state")"
check "the README workflow's fake answers with its keys" eq \
  "$(code -u ci-secret-id:ci-secret-password "http://127.0.0.1:$example_port/api/links/")" 200
rc=0
env -i "${runner_env[@]}" "${example_state[@]}" node "$here/stop.js" >"$tmp/example-stop.out" 2>&1 || rc=$?
check "stop.js ends the README workflow's fake" bash -c \
  '[ "$1" = 0 ] && ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$2/_mock/health"' _ "$rc" "$example_port"

echo "action-check: wheel $(basename "$wheel"), $((SECONDS - started)) s"
echo "action-check: $passed passed, $failed failed"
[ "$failed" = 0 ]
