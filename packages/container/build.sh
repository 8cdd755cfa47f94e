#!/usr/bin/env bash
# Builds the belvo-mock container image without a Docker daemon (buildah, chroot isolation,
# Docker format so HEALTHCHECK is kept) from a static binary, and exports it twice under
# target/packages-check/container/: an OCI layout (oci/, for umoci and packages/container/test.sh)
# and a docker-archive tarball (belvo-mock-<version>.docker.tar, for `docker load`).
#
#   packages/container/build.sh BINARY [IMAGE_TAG]     # IMAGE_TAG default belvo-mock:<version>
#
# Environment: STORAGE_DRIVER (default overlay; falls back to vfs when overlay fails),
# CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt), ARCH (default amd64; arm64 for the
# aarch64 binary: no emulation is needed to build a scratch image, and the work folder and
# default tag get an -arm64 suffix), BINARY_RUNNER (e.g. qemu-aarch64, to ask a foreign
# binary its --version). buildah's storage is private to
# target/packages-check/container/storage, so nothing outside the checkout is touched.
set -euo pipefail

usage() { echo "usage: $0 BINARY [IMAGE_TAG]" >&2; exit 2; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/packages/container"
arch=${ARCH:-amd64}
work="$root/target/packages-check/container"
suffix=""
if [ "$arch" != amd64 ]; then work="$work-$arch"; suffix="-$arch"; fi
binary=$(realpath -e "$1" 2>/dev/null) || { echo "build.sh: no such binary: $1" >&2; exit 1; }
ca_bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
driver=${STORAGE_DRIVER:-overlay}

for tool in buildah file readelf jq; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is required (apt-get install -y buildah file binutils jq)" >&2; exit 1; }
done

# 1. The binary must be a static executable: a scratch image has no dynamic loader or libc.
[ -x "$binary" ] || { echo "build.sh: $binary is not executable" >&2; exit 1; }
if readelf -lW "$binary" | grep -q 'INTERP'; then
  echo "build.sh: $binary is dynamically linked (it has an INTERP program header):" >&2
  file -b "$binary" >&2
  echo "build.sh: build the static one: cargo build --profile dist -p mock-server --bin belvo-mock --target x86_64-unknown-linux-musl" >&2
  exit 1
fi
if readelf -dW "$binary" 2>/dev/null | grep -q '(NEEDED)'; then
  echo "build.sh: $binary needs shared libraries:" >&2
  readelf -dW "$binary" | grep '(NEEDED)' >&2
  exit 1
fi
version_line=$(${BINARY_RUNNER:-} "$binary" --version) || { echo "build.sh: $binary --version failed" >&2; exit 1; }
version=${version_line#belvo-mock }
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+.][0-9A-Za-z.-]+)?$ ]] \
  || { echo "build.sh: unexpected --version output: $version_line" >&2; exit 1; }
tag=${2:-belvo-mock:$version$suffix}
echo "build.sh: $binary: $(file -b "$binary" | cut -d, -f1-4), version $version"

[ -s "$ca_bundle" ] || { echo "build.sh: no CA bundle at $ca_bundle (apt-get install -y ca-certificates, or set CA_BUNDLE)" >&2; exit 1; }

# 2. The build context: the binary plus the few files a scratch rootfs needs.
mkdir -p "$work"
context="$work/context"
rm -rf "$context"
mkdir -p "$context/rootfs/etc/ssl/certs" "$context/rootfs/tmp" "$context/data"
cp "$binary" "$context/belvo-mock"
chmod 0755 "$context/belvo-mock"
cp "$here/Containerfile" "$context/Containerfile"
cp "$ca_bundle" "$context/rootfs/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$context/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n' >"$context/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$context/rootfs/etc/group"
chmod 0644 "$context/rootfs/etc/passwd" "$context/rootfs/etc/group"
chmod 1777 "$context/rootfs/tmp"
chmod 0755 "$context/data"

# 3. buildah bud into a private store. --timestamp pins the created time and every file's mtime
# (SOURCE_DATE_EPOCH, else the last commit's time): the same binary gives the same image digest.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
bud() {
  buildah --root "$work/storage" --runroot "$work/runroot" --storage-driver "$1" \
    bud --isolation chroot --format docker --layers=false --quiet --os linux --arch "$arch" \
    --timestamp "$epoch" --build-arg "VERSION=$version" -t "$tag" -f "$context/Containerfile" "$context"
}
store() { buildah --root "$work/storage" --runroot "$work/runroot" --storage-driver "$driver" "$@"; }
# A store created with another driver cannot be reopened: start from scratch each run.
rm -rf "$work/storage" "$work/runroot"
start=$(date +%s.%N)
if ! image_id=$(bud "$driver" 2>"$work/bud.err"); then
  if [ "$driver" = vfs ]; then cat "$work/bud.err" >&2; echo "build.sh: buildah bud failed" >&2; exit 1; fi
  echo "build.sh: buildah bud with the $driver driver failed; retrying with vfs:" >&2
  sed 's/^/  /' "$work/bud.err" >&2
  rm -rf "$work/storage" "$work/runroot"
  driver=vfs
  image_id=$(bud vfs 2>"$work/bud.err") || { cat "$work/bud.err" >&2; echo "build.sh: buildah bud failed" >&2; exit 1; }
fi
end=$(date +%s.%N)
image_id=$(printf '%s\n' "$image_id" | tail -n 1)
build_seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
echo "build.sh: built $tag (image ${image_id:0:12}, storage driver $driver, timestamp $epoch) in ${build_seconds} s"

# 4. Export: an OCI layout (umoci reads it; it has no HEALTHCHECK, the OCI config has no such
# field) and a docker-archive (Docker format, HEALTHCHECK included; `docker load -i`).
rm -rf "$work/oci" "$work/belvo-mock-$version.docker.tar"
store push --quiet "$tag" "oci:$work/oci:$version" >/dev/null
store push --quiet "$tag" "docker-archive:$work/belvo-mock-$version.docker.tar:$tag" >/dev/null

manifest=$(jq -r --arg v "$version" \
  '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $v) | .digest' \
  "$work/oci/index.json")
[ -n "$manifest" ] || { echo "build.sh: $version not found in $work/oci/index.json" >&2; exit 1; }
compressed=$(jq '[.layers[].size] | add' "$work/oci/blobs/sha256/${manifest#sha256:}")
# The docker-archive holds the layer uncompressed: its size is the image's size on disk.
archive=$(stat -c %s "$work/belvo-mock-$version.docker.tar")
mib() { awk -v n="$1" 'BEGIN { printf "%.1f MiB", n / 1048576 }'; }

cat >"$work/build.env" <<ENV
IMAGE_TAG=$tag
IMAGE_VERSION=$version
OCI_LAYOUT=$work/oci
DOCKER_ARCHIVE=$work/belvo-mock-$version.docker.tar
BUILD_SECONDS=$build_seconds
ENV
echo "build.sh: OCI layout     $work/oci:$version"
echo "build.sh: docker-archive $work/belvo-mock-$version.docker.tar ($(mib "$archive"); docker load -i …)"
echo "build.sh: image size: $(mib "$compressed") compressed (what a registry pull moves), $(mib "$archive") uncompressed"
