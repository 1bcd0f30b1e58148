#!/usr/bin/env bash
# strict-ca.sh CA_CERT CA_KEY: print a CA certificate that Python 3.13 accepts for CA_CERT.
#
# Python 3.13 (the EE's) verifies certificates with VERIFY_X509_STRICT and refuses a CA certificate without the
# keyUsage extension. CA_CERT is printed as it is when it has keyUsage; otherwise the same CA re-issued from its
# own key (CA_KEY) with keyUsage added: same subject, same key and so the same key identifier, so it verifies
# every certificate the original signed (checked with openssl before it is printed).
set -euo pipefail
cert=$1 key=$2
if openssl x509 -in "$cert" -noout -ext keyUsage 2>/dev/null | grep -q 'Certificate Sign'; then
  cat "$cert"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
subject=$(openssl x509 -in "$cert" -noout -subject -nameopt compat | sed 's/^subject=//')
openssl req -x509 -new -key "$key" -days 3650 -subj "$subject" -out "$tmp/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  -addext "subjectKeyIdentifier=hash" 2>/dev/null
[[ $(openssl x509 -in "$tmp/ca.crt" -noout -pubkey) == "$(openssl x509 -in "$cert" -noout -pubkey)" ]]
cat "$tmp/ca.crt"
