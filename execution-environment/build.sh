#!/usr/bin/env bash
# build.sh: build the platform's execution environment image (`make ee`).
#
#   1. stage the build inputs: this directory, helm and kubectl (EE_BIN_DIR), the collection's archive
#      (ansible-galaxy collection build of this checkout), the build host's CA bundle when its egress needs one;
#   2. ansible-builder create (PyPI ansible-builder, pinned below) writes the Containerfile and its context;
#   3. docker build on EE_BASE_IMAGE.
#
# Cached: the inputs' digest is the image's label aistack.ee-key; when an image with that tag and label exists
# the build is skipped (a warm `make ee` is that check). Prints the image reference, its size and the build time.
#
# Environment:
#   EE_IMAGE       tag of the image (default aistack.local/platform-ee:<collection version>)
#   EE_BASE_IMAGE  base image (default: the local debootstrapped aistack.local/debian:trixie, which
#                  tests/cluster/cluster.sh base-image builds; a connected site uses an upstream base with apt,
#                  an airgapped one the base image its bundle carries)
#   EE_BIN_DIR     where helm and kubectl are (default $AISTACK_CACHE/bin: the binaries built from the pinned
#                  sources of tests/cluster/versions.env; a site puts the release binaries of the same versions)
#   EE_FORCE=1     rebuild even when the cached image matches
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=${AISTACK_CACHE:-$HOME/.cache/aistack}
# shellcheck source=../tests/cluster/versions.env
source "$ROOT/tests/cluster/versions.env"
VERSION=$(awk '$1 == "version:" {print $2; exit}' "$ROOT/galaxy.yml")
EE_IMAGE=${EE_IMAGE:-aistack.local/platform-ee:$VERSION}
EE_BASE_IMAGE=${EE_BASE_IMAGE:-aistack.local/debian:$BASE_SUITE}
EE_BIN_DIR=${EE_BIN_DIR:-$CACHE/bin}
WORK=${EE_WORK_DIR:-$ROOT/build/ee}
BUILDER_VENV=${EE_TOOLS_VENV:-$CACHE/ee-tools}

log() { printf '[ee %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The tools that build and run EEs, in a virtualenv of their own (not the project's .venv: ansible-runner and
# ansible-builder are not needed by the collection's tests).
"$HERE/tools.sh" >/dev/null

for b in helm kubectl; do
  [[ -x $EE_BIN_DIR/$b ]] || die "$EE_BIN_DIR/$b is missing: run tests/cluster/cluster.sh build (or set EE_BIN_DIR)"
done
docker image inspect "$EE_BASE_IMAGE" >/dev/null 2>&1 \
  || die "base image $EE_BASE_IMAGE is not in Docker: run tests/cluster/cluster.sh base-image (or set EE_BASE_IMAGE)"

rm -rf "$WORK/stage" && mkdir -p "$WORK/stage/bin" "$WORK/stage/collection"
cp "$HERE/execution-environment.yml" "$HERE/requirements.txt" "$HERE/bindep.txt" "$WORK/stage/"
cp -L "$EE_BIN_DIR/helm" "$EE_BIN_DIR/kubectl" "$WORK/stage/bin/"
# the collection as a user installs it (build_ignore applies), from the checkout's tracked and new files
coll_src=$WORK/collection-src
rm -rf "$coll_src" && mkdir -p "$coll_src"
git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
  | (cd "$ROOT" && xargs -0 -I{} cp --parents {} "$coll_src/" 2>/dev/null) || true
ansible-galaxy collection build --force --output-path "$WORK/stage/collection" "$coll_src" >/dev/null
bundle=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [[ -n $bundle && -f $bundle ]]; then cp "$bundle" "$WORK/stage/ca-bundle.pem"; else : >"$WORK/stage/ca-bundle.pem"; fi

# The cache key: every input but the collection archive's timestamps (its FILES.json lists each file's digest).
key=$( {
  cat "$WORK/stage/execution-environment.yml" "$WORK/stage/requirements.txt" "$WORK/stage/bindep.txt" "$HERE/build.sh"
  sha256sum "$WORK/stage/bin/helm" "$WORK/stage/bin/kubectl" | cut -d' ' -f1
  tar -xzOf "$WORK/stage/collection/"*.tar.gz FILES.json
  docker image inspect -f '{{.Id}}' "$EE_BASE_IMAGE"
} | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{index .Config.Labels "aistack.ee-key"}}' "$EE_IMAGE" 2>/dev/null || true)
if [[ $have == "$key" && -z ${EE_FORCE:-} ]]; then
  log "$EE_IMAGE is up to date (key $key)"
  echo "$EE_IMAGE"
  exit 0
fi

start=$SECONDS
log "ansible-builder create (base $EE_BASE_IMAGE)"
rm -rf "$WORK/context"
(cd "$WORK/stage" && "$BUILDER_VENV/bin/ansible-builder" create --file execution-environment.yml \
  --context "$WORK/context" --output-filename Containerfile >/dev/null)
cp -r "$WORK/stage/bin" "$WORK/stage/collection" "$WORK/context/_build/"
cp "$WORK/stage/ca-bundle.pem" "$WORK/context/_build/ca-bundle.pem"
log "docker build $EE_IMAGE (cold: a few minutes: apt, pip; log $WORK/build.log)"
if ! docker build --network host -f "$WORK/context/Containerfile" --build-arg "EE_BASE_IMAGE=$EE_BASE_IMAGE" \
    --label "aistack.ee-key=$key" -t "$EE_IMAGE" "$WORK/context" >"$WORK/build.log" 2>&1; then
  tail -30 "$WORK/build.log" >&2
  die "docker build failed (whole log: $WORK/build.log)"
fi
took=$((SECONDS - start))
size=$(docker image inspect -f '{{.Size}}' "$EE_IMAGE")
log "built $EE_IMAGE in $took s, $((size / 1024 / 1024)) MiB"
printf '%s build_seconds=%s size_bytes=%s key=%s\n' "$EE_IMAGE" "$took" "$size" "$key" >>"$WORK/builds.log"
echo "$EE_IMAGE"
