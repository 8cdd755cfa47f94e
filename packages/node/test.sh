#!/usr/bin/env bash
# CI check of the npm packages: puts BINARY into @belvo-mock/cli-linux-x64, `npm pack`s it and
# belvo-mock, installs both tarballs (plus the official belvo SDK) into a fresh project, type-checks
# index.d.ts and runs packages/node/test under `node --test` there, i.e. what a user gets from npm.
# Usage: packages/node/test.sh BINARY      (re-runnable; everything lands in target/packages-check/node)
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BINARY   (a belvo-mock executable for linux-x64, e.g. target/debug/belvo-mock)" >&2
  exit 2
fi
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$binary" ] || { echo "$0: $1 is not an executable file" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$root/target/packages-check/node"
tarballs="$work/tarballs"
project="$work/project"
started=$(date +%s)

command -v node >/dev/null && command -v npm >/dev/null || { echo "$0: node and npm are required" >&2; exit 1; }
node -e 'if (+process.versions.node.split(".")[0] < 18) { console.error("node >= 18 is required (global fetch)"); process.exit(1) }'

# 1. The platform package gets the binary (bin/ is git-ignored); npm keeps the executable bit.
install -D -m 0755 "$binary" "$here/cli-linux-x64/bin/belvo-mock"
version=$("$here/cli-linux-x64/bin/belvo-mock" --version)
[ "$version" = "belvo-mock 0.1.0" ] || { echo "$0: $1 --version says '$version', the packages are 0.1.0" >&2; exit 1; }

# 2. Pack both (fresh tarballs every run).
rm -rf "$tarballs"
mkdir -p "$tarballs"
for pkg in cli-linux-x64 belvo-mock; do
  (cd "$here/$pkg" && npm pack --silent --pack-destination "$tarballs" >/dev/null)
done
main_tgz="$tarballs/belvo-mock-0.1.0.tgz"
cli_tgz="$tarballs/belvo-mock-cli-linux-x64-0.1.0.tgz"
echo "tarballs:"
for t in "$main_tgz" "$cli_tgz"; do
  printf '  %-40s %8s bytes packed, %s files\n' "$(basename "$t")" "$(stat -c %s "$t")" "$(tar -tzf "$t" | wc -l)"
done
# The platform tarball must hold the binary executable, and only what `files` lists.
listing=$(tar -tvzf "$cli_tgz")  # not piped into grep -q: with pipefail, tar's SIGPIPE would fail it
grep -q -- '^-rwx.* package/bin/belvo-mock$' <<<"$listing" \
  || { echo "$0: $cli_tgz lacks an executable package/bin/belvo-mock:" >&2; echo "$listing" >&2; exit 1; }

# 3. A fresh project with the two tarballs and the SDK, as a user would install them. The other
# platforms' optional dependencies are not published from here; npm skips them.
rm -rf "$project"
mkdir -p "$project"
cd "$project"
npm init -y >/dev/null
install_started=$(date +%s)
npm install --no-audit --no-fund --loglevel=error "$main_tgz" "$cli_tgz" 'belvo@0.28.0' >/dev/null
echo "npm install (2 tarballs + belvo@0.28.0): $(( $(date +%s) - install_started )) s"
mkdir -p test
cp "$here"/test/*.test.cjs "$here"/test/*.test.mjs "$here"/test/types-check.ts "$here"/test/types-check-esm.mts "$here"/test/tsconfig.json test/

# 4. index.d.ts against a small program (typescript from the registry, cached by npx).
ts_started=$(date +%s)
npx -y -p typescript@5 tsc -p test/tsconfig.json
echo "tsc --noEmit (index.d.ts): OK in $(( $(date +%s) - ts_started )) s"

# 5. The tests, with the installed platform package (no override from the caller's shell) and a
# hard bound on the whole run.
unset BELVO_MOCK_BINARY
tests_started=$(date +%s)
timeout 300 node --test test/*.test.cjs test/*.test.mjs
echo "node --test: done in $(( $(date +%s) - tests_started )) s; whole check $(( $(date +%s) - started )) s"
