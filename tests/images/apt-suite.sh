#!/usr/bin/env bash
# apt-suite.sh SUITE: make Debian SUITE's packages installable on a stock bookworm machine without
# changing what bookworm installs.
#
# A stock machine's apt sources hold bookworm only; a few parts this project needs are in later suites
# (docker-compose v2, PostgreSQL 17 + pgvector: trixie). This adds SUITE as a deb822 source and pins it
# at priority 100, below the default 500, so `apt-get install pkg` still takes bookworm's version and
# only an explicit `pkg=<version>` or `pkg/<suite>` takes SUITE's. Idempotent: writes nothing and skips
# `apt-get update` when both files already hold this content and SUITE's lists are present.
#
# APT_ETC_DIR, APT_STATE_DIR and APT_CACHE_DIR (defaults /etc/apt, /var/lib/apt, /var/cache/apt) let the tests run it against a
# scratch apt configuration that starts from the stock bookworm sources.
set -euo pipefail

suite=${1:?usage: apt-suite.sh SUITE}
etc=${APT_ETC_DIR:-/etc/apt}
state=${APT_STATE_DIR:-/var/lib/apt}
cache=${APT_CACHE_DIR:-/var/cache/apt}
mirror=${APT_SUITE_MIRROR:-http://deb.debian.org/debian}

src="$etc/sources.list.d/aistack-$suite.sources"
pin="$etc/preferences.d/aistack-$suite.pref"
want_src="# Added by aistack.platform (tests/images/apt-suite.sh): $suite, pinned low in ${pin##*/}.
Types: deb
URIs: $mirror
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
want_pin="# Added by aistack.platform: $suite only when asked for by version or suite; bookworm stays the default.
Package: *
Pin: release n=$suite
Pin-Priority: 100"

changed=0
mkdir -p "$etc/sources.list.d" "$etc/preferences.d"
if [[ "$(cat "$src" 2>/dev/null)" != "$want_src" ]]; then printf '%s\n' "$want_src" >"$src"; changed=1; fi
if [[ "$(cat "$pin" 2>/dev/null)" != "$want_pin" ]]; then printf '%s\n' "$want_pin" >"$pin"; changed=1; fi

# The lists of SUITE are named after the mirror path and suite, e.g. deb.debian.org_debian_dists_trixie_InRelease.
if ((changed)) || ! compgen -G "$state/lists/*_dists_${suite}_InRelease" >/dev/null; then
    echo "apt: added Debian $suite (pin 100) in $src; apt-get update"
    mkdir -p "$state/lists/partial" "$cache/archives/partial"
    apt-get -qq -o Dir::Etc="$etc" -o Dir::State="$state" -o Dir::Cache="$cache" update
else
    echo "apt: Debian $suite already configured (pin 100)"
fi
