#!/usr/bin/env bash
# The load benchmark in one command: installs wrk (Debian package) if missing, builds the
# release server and the bare-hyper baseline, then runs benches/load.rs, which drives wrk
# against both in the same run and prints a Markdown table.
#   LOAD_SECONDS=10 (per endpoint)  LOAD_LINKS=100000  LOAD_ARGS="--data-dir /tmp/x" (extra server flags)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
  fi
fi
cargo build --release --quiet -p mock-server --bin belvo-mock --example baseline
cargo bench --quiet -p mock-server --bench load
