#!/usr/bin/env bash
# local-credential.sh [FILE]: AWX's Kubernetes credential for the local test cluster, as AWX would hold it: runs
# playbooks/awx_service_account.yml with the cluster's admin kubeconfig (ServiceAccount aistack-awx/awx-deployer
# bound to ClusterRole aistack:deployer, a long-lived token), writes the credential's inputs (host, bearer_token,
# verify_ssl, ssl_ca_cert) to FILE (default $AISTACK_CACHE/awx-credential.yml) and prints its path.
#
# The CA: Python 3.13 (the EE's, Debian trixie) verifies certificates strictly (VERIFY_X509_STRICT) and refuses a
# CA certificate without the keyUsage extension, which the local cluster's CA may lack (clusters made before
# tests/cluster/cluster.sh added it). The credential then carries the same CA re-issued from its own key with
# keyUsage added (strict-ca.sh): same subject, same key, so it verifies the API server's certificate as the
# original does.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=${AISTACK_CACHE:-$HOME/.cache/aistack}
OUT=${1:-$CACHE/awx-credential.yml}
PKI=$CACHE/cluster/pki
KCFG=$("$ROOT/tests/cluster/cluster.sh" kubeconfig)

ANSIBLE_COLLECTIONS_PATH=$ROOT/build/collections ANSIBLE_LOCALHOST_WARNING=False \
  ansible-playbook "$ROOT/playbooks/awx_service_account.yml" -e "aistack_kubeconfig=$KCFG" \
  -e "awx_sa_credential_file=$OUT" >"$CACHE/awx-credential.log" 2>&1 \
  || { tail -20 "$CACHE/awx-credential.log" >&2; exit 1; }

if [[ -f $PKI/ca.key ]]; then
  "$HERE/strict-ca.sh" "$PKI/ca.crt" "$PKI/ca.key" >"$OUT.ca"
  openssl verify -CAfile "$OUT.ca" "$PKI/apiserver.crt" >/dev/null
  python3 - "$OUT" "$OUT.ca" <<'PY'
import sys, yaml
path, ca = sys.argv[1], open(sys.argv[2]).read()
doc = yaml.safe_load(open(path))
doc["ssl_ca_cert"] = ca
with open(path, "w") as handle:
    yaml.safe_dump(doc, handle, default_flow_style=False)
PY
  rm -f "$OUT.ca"
fi
echo "$OUT"
