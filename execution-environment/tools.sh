#!/usr/bin/env bash
# tools.sh: the virtualenv with the tools that build and run execution environments (ansible-builder,
# ansible-runner: tools-requirements.txt, pinned), at $EE_TOOLS_VENV (default $AISTACK_CACHE/ee-tools).
# Prints its bin directory. Warm: a marker check.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${AISTACK_CACHE:-$HOME/.cache/aistack}
VENV=${EE_TOOLS_VENV:-$CACHE/ee-tools}
want=$(sha256sum "$HERE/tools-requirements.txt" | cut -c1-16)
if [[ $(cat "$VENV/.installed" 2>/dev/null || true) != "$want" ]]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$HERE/tools-requirements.txt"
  echo "$want" >"$VENV/.installed"
fi
echo "$VENV/bin"
