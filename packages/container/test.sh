#!/usr/bin/env bash
# Proves the image build.sh made, without a Docker daemon: unpacks its OCI layout with umoci,
# asserts the image config (entrypoint, env, user, port, volume, labels; the HEALTHCHECK from the
# docker-archive, as the OCI config cannot hold one) and the rootfs, then runs the image's own
# entrypoint in the rootfs (chroot as 65532:65532, the image's env, but on 127.0.0.1:<free port>),
# waits with the image's own healthcheck command, runs the contract suite against it, checks the
# SQLite state in /data survives a SIGTERM (exit 0) and a restart, runs it once more with
# compose.yaml's environment, and cleans up.
#
#   packages/container/test.sh          # after packages/container/build.sh BINARY
#
# Environment: CONTRACT_TESTS (default target/debug/contract-tests), KEEP=1 keeps the unpacked
# bundle under target/packages-check/container/test for a look. Needs root (chroot) and umoci.
# Checks run small `bash -c '…' _ ARGS` snippets: their $1… expand in the snippet, not here.
# shellcheck disable=SC2016
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
work="$root/target/packages-check/container"
contract=${CONTRACT_TESTS:-$root/target/debug/contract-tests}

fail() { echo "container-check: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (chroot, and umoci unpack keeping the image's file owners)"
for tool in umoci jq curl python3 chroot timeout readelf tar; do
  command -v "$tool" >/dev/null || fail "$tool is required (apt-get install -y umoci jq curl)"
done
[ -f "$work/build.env" ] || fail "no $work/build.env: run packages/container/build.sh BINARY first"
# shellcheck disable=SC1091
. "$work/build.env"
if [ ! -d "$OCI_LAYOUT" ] || [ ! -f "$DOCKER_ARCHIVE" ]; then
  fail "build output missing ($OCI_LAYOUT, $DOCKER_ARCHIVE): rerun build.sh"
fi
[ -x "$contract" ] || fail "no contract suite at $contract (cargo build -p contract-tests, or set CONTRACT_TESTS)"

passed=0
failed=0
check() { # check NAME COMMAND...: one assertion, counted; the script goes on after a failure.
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"
  else failed=$((failed + 1)); echo "FAIL $name"; fi
}
eq() { [ "$1" = "$2" ] || { echo "     expected: $2"; echo "     got:      $1"; return 1; }; }

tmp="$work/test"
server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
rm -rf "$tmp"
mkdir -p "$tmp"
started=$(date +%s)

# 1. The image config, from the OCI layout (what umoci and any OCI runtime read) …
manifest=$(jq -r --arg v "$IMAGE_VERSION" \
  '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $v) | .digest' "$OCI_LAYOUT/index.json")
[ -n "$manifest" ] || fail "tag $IMAGE_VERSION not in $OCI_LAYOUT/index.json"
config_digest=$(jq -r .config.digest "$OCI_LAYOUT/blobs/sha256/${manifest#sha256:}")
oci_config="$OCI_LAYOUT/blobs/sha256/${config_digest#sha256:}"
cfg() { jq -c "$1" "$oci_config"; }
check "OCI config: entrypoint is [\"/belvo-mock\"], no cmd" eq "$(cfg '[.config.Entrypoint, (.config.Cmd // [])]')" '[["/belvo-mock"],[]]'
check "OCI config: user 65532:65532" eq "$(cfg .config.User)" '"65532:65532"'
check "OCI config: env BELVO_MOCK_ADDR=0.0.0.0:8000" eq "$(cfg '.config.Env | index("BELVO_MOCK_ADDR=0.0.0.0:8000") != null')" true
check "OCI config: env BELVO_MOCK_DATA_DIR=/data" eq "$(cfg '.config.Env | index("BELVO_MOCK_DATA_DIR=/data") != null')" true
check "OCI config: exposes 8000/tcp" eq "$(cfg '.config.ExposedPorts | keys')" '["8000/tcp"]'
check "OCI config: volume /data" eq "$(cfg '.config.Volumes | keys')" '["/data"]'
check "OCI config: stop signal SIGTERM" eq "$(cfg .config.StopSignal)" '"SIGTERM"'
check "OCI config: labels title, version $IMAGE_VERSION, description" eq \
  "$(cfg '.config.Labels | [."org.opencontainers.image.title", ."org.opencontainers.image.version", (."org.opencontainers.image.description" | length > 0)]')" \
  "[\"belvo-mock\",\"$IMAGE_VERSION\",true]"
check "OCI config: no source URL label (unknown)" eq "$(cfg '.config.Labels | has("org.opencontainers.image.source")')" false

# … and from the docker-archive (Docker format: the only one with HEALTHCHECK).
docker_manifest=$(tar -xOf "$DOCKER_ARCHIVE" manifest.json)
docker_config=$(tar -xOf "$DOCKER_ARCHIVE" "$(jq -r '.[0].Config' <<<"$docker_manifest")")
check "docker-archive: tagged $IMAGE_TAG" eq "$(jq -c --arg t "$IMAGE_TAG" '.[0].RepoTags | map(endswith($t)) | any' <<<"$docker_manifest")" true
check "docker-archive: HEALTHCHECK [\"CMD\",\"/belvo-mock\",\"healthcheck\"]" eq \
  "$(jq -c .config.Healthcheck.Test <<<"$docker_config")" '["CMD","/belvo-mock","healthcheck"]'
check "docker-archive: same layers as the OCI layout" eq \
  "$(jq -c .rootfs.diff_ids <<<"$docker_config")" "$(cfg .rootfs.diff_ids)"

# 2. Unpack (as root, so file owners are kept) and look at the rootfs and runtime bundle.
umoci unpack --image "$OCI_LAYOUT:$IMAGE_VERSION" "$tmp/bundle" >/dev/null 2>"$tmp/umoci.err" \
  || { cat "$tmp/umoci.err" >&2; fail "umoci unpack failed"; }
rootfs="$tmp/bundle/rootfs"
check "bundle: runtime process is /belvo-mock as uid/gid 65532" eq \
  "$(jq -c '[.process.args, .process.user.uid, .process.user.gid]' "$tmp/bundle/config.json")" '[["/belvo-mock"],65532,65532]'
check "rootfs: /belvo-mock is a static executable (no INTERP)" \
  bash -c '[ -x "$1" ] && ! readelf -lW "$1" | grep -q INTERP' _ "$rootfs/belvo-mock"
check "rootfs: /data is an empty directory owned by 65532:65532" \
  bash -c '[ "$(stat -c %u:%g "$1")" = 65532:65532 ] && [ -z "$(ls -A "$1")" ]' _ "$rootfs/data"
check "rootfs: /tmp is mode 1777" eq "$(stat -c %a "$rootfs/tmp")" 1777
check "rootfs: CA bundle, passwd names uid 65532" \
  bash -c '[ -s "$1/etc/ssl/certs/ca-certificates.crt" ] && grep -q "^nonroot:x:65532:65532:" "$1/etc/passwd"' _ "$rootfs"
check "rootfs: nothing else (no shell, no libc)" eq \
  "$(cd "$rootfs" && find . -mindepth 1 -maxdepth 1 | sort | tr '\n' ' ')" './belvo-mock ./data ./etc ./tmp '

# 3. Run the image's entrypoint with the image's env, the way a runtime would: chroot into the
# rootfs as the image's user, cwd /. Only the address changes (loopback, a free port), and the
# keys (to prove the env is read).
mapfile -t image_env < <(jq -r '.config.Env[]' "$oci_config")
mapfile -t entrypoint < <(jq -r '.config.Entrypoint[]' "$oci_config")
mapfile -t health_cmd < <(jq -r '.config.Healthcheck.Test[1:][]' <<<"$docker_config")
user=$(jq -r .config.User "$oci_config")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
key_id=container-check-id
key_pw=container-check-password
run_env=("${image_env[@]}" "BELVO_MOCK_ADDR=127.0.0.1:$port" "BELVO_SECRET_ID=$key_id"
  "BELVO_SECRET_PASSWORD=$key_pw" "BELVO_MOCK_READY_FILE=/tmp/ready.json" "BELVO_MOCK_WEBHOOK_DELAY=0.2")
in_image() { env -i "${run_env[@]}" chroot --userspec="$user" "$rootfs" "$@"; }

start_server() { # start_server LOG: the entrypoint in the background, then wait for its healthcheck
  rm -f "$rootfs/tmp/ready.json"
  # Not through in_image: $! must be the process itself (env and chroot exec it) for SIGTERM.
  env -i "${run_env[@]}" chroot --userspec="$user" "$rootfs" "${entrypoint[@]}" >"$1" 2>&1 &
  server=$!
  local deadline=$((SECONDS + 30))
  until timeout 5 env -i "${run_env[@]}" chroot --userspec="$user" "$rootfs" "${health_cmd[@]}" >/dev/null 2>&1; do
    if ! kill -0 "$server" 2>/dev/null; then cat "$1" >&2; fail "the entrypoint exited before it was healthy"; fi
    [ $SECONDS -lt $deadline ] || { cat "$1" >&2; fail "not healthy after 30 s (${health_cmd[*]})"; }
    sleep 0.2
  done
}
stop_server() { # stop_server: SIGTERM, up to 15 s; the exit code in $stop_rc
  kill -TERM "$server"
  local deadline=$((SECONDS + 15))
  while kill -0 "$server" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if kill -0 "$server" 2>/dev/null; then kill -KILL "$server"; echo "still running 15 s after SIGTERM" >&2; fi
  stop_rc=0
  wait "$server" || stop_rc=$?
  server=""
}
not() { ! "$@"; }
quiet() { "$@" >/dev/null 2>&1; }

start_server "$tmp/server.log"
check "the image's HEALTHCHECK command (${health_cmd[*]}) passes against the running entrypoint" true
check "healthcheck with an explicit URL ($base)" quiet in_image /belvo-mock healthcheck "$base" --timeout 3
check "healthcheck of a port nobody listens on fails" not quiet in_image /belvo-mock healthcheck "http://127.0.0.1:1" --timeout 1
check "ready file in /tmp names $base and the started process" eq \
  "$(jq -r '"\(.url) \(.pid)"' "$rootfs/tmp/ready.json" 2>/dev/null)" "$base $server"
check "the server runs as uid 65532" eq "$(stat -c %u "/proc/$server")" 65532
check "the keys come from the env (GET /api/links/ → 200)" eq \
  "$(curl -s -o /dev/null -w '%{http_code}' -u "$key_id:$key_pw" "$base/api/links/")" 200

contract_log="$tmp/contract.log"
contract_start=$SECONDS
contract_rc=0
BELVO_SECRET_ID=$key_id BELVO_SECRET_PASSWORD=$key_pw \
  timeout 180 "$contract" --target "$base" --webhook-timeout 30 >"$contract_log" 2>&1 || contract_rc=$?
summary=$(grep -E '^contract: [0-9]+ passed' "$contract_log" | tail -n 1 || true)
[ $contract_rc = 0 ] || sed 's/^/     /' "$contract_log"
check "contract suite against the image: ${summary:-no summary} ($((SECONDS - contract_start)) s)" \
  bash -c '[ "$1" = 0 ] && [[ "$2" =~ \ 0\ failed$ ]]' _ "$contract_rc" "$summary"

# A link that must outlive a restart: register it (428 + MFA session), confirm it.
challenge=$(curl -s -u "$key_id:$key_pw" -H 'Content-Type: application/json' "$base/api/links/" \
  -d '{"institution":"inss_br_employment","username":"529.982.247-25","password":"secret-123"}')
link=$(jq -r '.[0].link // empty' <<<"$challenge" 2>/dev/null || true)
session=$(jq -r '.[0].session // empty' <<<"$challenge" 2>/dev/null || true)
confirmed=$(curl -s -u "$key_id:$key_pw" -X PATCH -H 'Content-Type: application/json' "$base/api/links/" \
  -d "{\"link\":\"$link\",\"session\":\"$session\",\"token\":\"123456\"}" | jq -r '.status // empty' 2>/dev/null || true)
check "a link registered and confirmed (status valid)" eq "$confirmed" valid
check "/data holds the SQLite database, owned by 65532" \
  bash -c '[ -s "$1/belvo-mock.sqlite3" ] && [ "$(stat -c %u "$1/belvo-mock.sqlite3")" = 65532 ]' _ "$rootfs/data"

stop_server
check "SIGTERM → exit 0" eq "$stop_rc" 0

start_server "$tmp/server2.log"
check "after a restart on the same /data the link is still there (GET /api/links/{id}/ → 200)" eq \
  "$(curl -s -o /dev/null -w '%{http_code}' -u "$key_id:$key_pw" "$base/api/links/$link/")" 200
stop_server
check "SIGTERM after the restart → exit 0" eq "$stop_rc" 0

# 4. compose.yaml's environment, with its defaults, is one the image's entrypoint accepts (parsed
# with PyYAML when python3 has it); `docker compose config` validates the file when a CLI exists.
compose="$root/packages/container/compose.yaml"
if python3 -c 'import yaml' 2>/dev/null; then
  mapfile -t compose_env < <(python3 - "$compose" <<'PY'
import re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
service = doc["services"]["belvo-mock"]
assert service["image"] == "belvo-mock:0.1.0", service["image"]
assert "8000:8000" in service["ports"] and "belvo-mock-data:/data" in service["volumes"]
assert "belvo-mock-data" in doc["volumes"]
# ${VAR:-default} / ${VAR-default} with VAR unset: the default.
for name, value in service["environment"].items():
    print(f"{name}=" + re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", str(value)))
PY
  ) || true
  compose_value() { printf '%s\n' "${compose_env[@]}" | sed -n "s/^$1=//p"; }
  check "compose.yaml parses: image, port, volume, environment" bash -c '[ "$1" -gt 0 ]' _ "${#compose_env[@]}"
  if [ "${#compose_env[@]}" -gt 0 ]; then
    run_env=("${image_env[@]}" "${compose_env[@]}" "BELVO_MOCK_ADDR=127.0.0.1:$port" "BELVO_MOCK_READY_FILE=/tmp/ready.json")
    start_server "$tmp/server3.log"
    compose_keys="$(compose_value BELVO_SECRET_ID):$(compose_value BELVO_SECRET_PASSWORD)"
    check "the image runs with compose.yaml's environment (its keys → 200)" eq \
      "$(curl -s -o /dev/null -w '%{http_code}' -u "$compose_keys" "$base/api/links/")" 200
    check "… with its webhook URL" eq \
      "$(curl -s -u "$compose_keys" "$base/_mock/webhook" | jq -r .url)" "$(compose_value BELVO_MOCK_WEBHOOK_URL)"
    stop_server
    check "… and stops with exit 0" eq "$stop_rc" 0
  fi
else
  echo "skip compose.yaml environment run (python3 has no yaml module)"
fi
if docker compose version >/dev/null 2>&1; then
  check "docker compose config accepts compose.yaml" docker compose -f "$compose" config -q
elif command -v docker-compose >/dev/null; then
  check "docker-compose config accepts compose.yaml" docker-compose -f "$compose" config -q
else
  echo "skip docker compose config (no compose CLI here)"
fi

echo "container-check: image $IMAGE_TAG, $(du -sh "$rootfs" | cut -f1) unpacked, $(( $(date +%s) - started )) s"
echo "container-check: $passed passed, $failed failed"
[ "$failed" = 0 ]
