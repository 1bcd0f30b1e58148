#!/bin/sh
# build-images.sh [loki|promtail ...]: docker build aistack.local/loki:<v> and aistack.local/promtail:<v>
# (v = LOKI_VERSION of tests/cluster/versions.env without the v) from the binaries `cluster.sh loki` builds
# once and caches. The build context is a temporary directory holding only the Dockerfile and the binary.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cluster=$here/../cluster/cluster.sh
version=$(sed -n 's/^LOKI_VERSION=v//p' "$here/../cluster/versions.env")
bin=$("$cluster" loki)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ $# -gt 0 ] || set -- loki promtail
for n in "$@"; do
  mkdir -p "$tmp/$n"
  cp "$here/$n/Dockerfile" "$bin/$n" "$tmp/$n/"
  docker build -q -t "aistack.local/$n:$version" "$tmp/$n" >/dev/null
  echo "aistack.local/$n:$version"
done
