#!/usr/bin/env bash
# The hardening figures in the README's "Limits and hardening" table, against the release
# binary (BIN=path to measure another build in the same run):
#   1. a 10 s 428 flood (up to --max-unconfirmed links), then a 24 h clock advance while a
#      fresh connection opens every 5 ms: the sweep's stall on new connections, and RSS;
#   2. a 10 s flood of 201s (--mfa never), then GET /api/links/?page_size=1 unfiltered and
#      filtered, and fresh connections while four lists run at once.
# Installs wrk if missing; needs python3 and curl. About 1 minute per run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/mock-server/benches/limits"
if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
if [ -z "${BIN:-}" ]; then
  (cd "$root" && cargo build --release --quiet -p mock-server --bin belvo-mock)
  BIN="$root/target/release/belvo-mock"
fi
AUTH="Authorization: Basic c2FuZGJveC1zZWNyZXQtaWQ6c2FuZGJveC1zZWNyZXQtcGFzc3dvcmQ="
PORT=${PORT:-18429}
URL="http://127.0.0.1:$PORT"

start() {
  "$BIN" --addr "127.0.0.1:$PORT" --log-level warn "$@" > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "$URL/_mock/health" && return; sleep 0.1; done
  echo "the server did not start" >&2; exit 1
}
rss() { awk '/VmRSS/ {print $2 / 1024 " MB"}' "/proc/$pid/status"; }
flood() { wrk -H "$AUTH" -t2 -c64 -d10s -s "$here/post-links.lua" "$URL/api/links/" | awk '/Requests\/sec/ {print $2 " requests/s"}'; }

for mode in memory data-dir; do
  data=$(mktemp -d)
  if [ "$mode" = data-dir ]; then start --data-dir "$data"; else start; fi
  echo "## sweep after a 428 flood ($mode): $(flood)"
  echo "RSS after the flood: $(rss)"
  echo "fresh connections, no sweep: $(python3 "$here/probe.py" "$PORT" 3)"
  python3 "$here/probe.py" "$PORT" 4 > "$data/probe.txt" &
  probe=$!
  sleep 0.5
  curl -s -o /dev/null -H "$AUTH" -H 'Content-Type: application/json' -d '{"seconds": 86400}' "$URL/_mock/clock/advance"
  wait "$probe"
  echo "fresh connections during the sweep: $(cat "$data/probe.txt")"
  sleep 5
  echo "RSS 5 s after the advance: $(rss)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
done

start --mfa never
echo "## link lists: $(flood)"
count=$(curl -s -H "$AUTH" "$URL/api/links/?page_size=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
echo "links: $count, RSS $(rss)"
for query in "page_size=1" "page_size=1&page=1000" "page_size=1&status=valid" "page_size=100&external_id=none"; do
  times=$(for _ in 1 2 3; do curl -s -o /dev/null -w "%{time_total} " -H "$AUTH" "$URL/api/links/?$query"; done)
  echo "GET /api/links/?$query: ${times}s"
done
python3 "$here/probe.py" "$PORT" 2 > /tmp/belvo-mock-limits-probe.txt &
probe=$!
for _ in 1 2 3 4; do curl -s -o /dev/null -H "$AUTH" "$URL/api/links/?page_size=1" & done
wait "$probe"
echo "fresh connections while 4 lists run: $(cat /tmp/belvo-mock-limits-probe.txt)"
kill "$pid"; wait "$pid" 2>/dev/null || true
