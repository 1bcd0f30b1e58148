#!/bin/sh
# build-image.sh: docker build aistack.local/traefik:<TRAEFIK_VERSION> from the binary `cluster.sh traefik`
# builds once and caches (cold: about 6 minutes on 2 cores). The build context is a temporary directory
# holding only the Dockerfile and the binary. Prints the image reference.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cluster=$here/../../cluster/cluster.sh
version=$(sed -n 's/^TRAEFIK_VERSION=//p' "$here/../../cluster/versions.env")
bin=$("$cluster" traefik)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/Dockerfile" "$bin/traefik" "$tmp/"
docker build -q -t "aistack.local/traefik:$version" "$tmp" >/dev/null
echo "aistack.local/traefik:$version"
