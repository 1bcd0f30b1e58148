#!/bin/sh
# build-image.sh CONTEXT_DIR TAG [SOURCE_HASH]: docker build of one of the collection's test images with the host
# network (PyPI / Debian mirrors) and, when the host trusts an extra CA for its egress (PIP_CERT or
# SSL_CERT_FILE), that CA bundle added to the build context as ca-bundle.pem (used by pip, not kept
# in the source tree). Docker's layer cache makes a second build instant. SOURCE_HASH (a digest of the
# context's files, from tests/images/local_images.py) becomes the label aistack.source-hash, so an edited
# Dockerfile or program is rebuilt although its tag stays the same.
set -eu
ctx=$1 tag=$2 hash=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -a "$ctx"/. "$tmp"/
bundle=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [ -n "$bundle" ] && [ -f "$bundle" ]; then cp "$bundle" "$tmp/ca-bundle.pem"; else : >"$tmp/ca-bundle.pem"; fi
exec docker build --network host ${hash:+--label "aistack.source-hash=$hash"} -t "$tag" "$tmp"
