#!/usr/bin/env bash
# Installs the `docker compose` v2 CLI plugin that community.docker.docker_compose_v2 drives.
#
# Source: Debian trixie's `docker-compose` package (the Go v2 plugin, statically linked, no
# dependencies; it installs /usr/libexec/docker/cli-plugins/docker-compose). bookworm only has the
# Python v1 tool (1.29) and the PyPI `docker-compose` package is that same v1, so neither works for
# docker_compose_v2 (it needs the CLI plugin, >= 2.18).
#
# Needs: root. Adds trixie to apt's sources itself (tests/images/apt-suite.sh, pinned low so bookworm
# stays the default): a stock Debian 12 machine has bookworm alone.
# Pinned: COMPOSE_DEB_VERSION (default below). Idempotent: does nothing when that version is installed.
set -euo pipefail

COMPOSE_DEB_VERSION="${COMPOSE_DEB_VERSION:-2.26.1-4}"

installed="$(dpkg-query -W -f='${Status} ${Version}' docker-compose 2>/dev/null || true)"
if [ "$installed" = "install ok installed ${COMPOSE_DEB_VERSION}" ] && docker compose version >/dev/null 2>&1; then
    echo "docker compose plugin ${COMPOSE_DEB_VERSION} already installed"
    exit 0
fi

# The versions apt knows, read whole before matching: `apt-cache madison | grep -q` under pipefail fails
# when grep exits at its first match and apt-cache, still writing, dies of SIGPIPE (seen on a cold CI run).
listed() { grep -qF " ${COMPOSE_DEB_VERSION} " <<<"$(apt-cache madison docker-compose 2>/dev/null || true)"; }
if ! listed; then
    "$(dirname "$0")/apt-suite.sh" trixie
fi
if ! listed; then
    echo "docker-compose ${COMPOSE_DEB_VERSION} is not in the configured apt sources;" >&2
    echo "trixie was added to the sources; set COMPOSE_DEB_VERSION to one 'apt-cache madison docker-compose' lists" >&2
    exit 1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "docker-compose=${COMPOSE_DEB_VERSION}"

docker compose version
