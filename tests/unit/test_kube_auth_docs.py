"""ansible-doc shows kubernetes.core's connection options on every module that reaches the API, with their aliases
and the K8S_AUTH_* variable AWX's Kubernetes credential sets (issue 16's acceptance)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import COLLECTIONS

from ansible_collections.aistack.platform.plugins.module_utils.kube.auth import AUTH_ARGSPEC

MODULES = ["helm_tenant", "external_service", "image_import", "site_check"]
# what AWX's "OpenShift or Kubernetes API Bearer Token" credential injects
AWX_VARIABLES = {"host": "K8S_AUTH_HOST", "api_key": "K8S_AUTH_API_KEY", "ca_cert": "K8S_AUTH_SSL_CA_CERT",
                 "validate_certs": "K8S_AUTH_VERIFY_SSL"}


@pytest.fixture(scope="module")
def docs():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    proc = subprocess.run(["ansible-doc", "--json"] + ["aistack.platform." + m for m in MODULES], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("module", MODULES)
def test_auth_options_documented(docs, module):
    options = docs["aistack.platform." + module]["doc"]["options"]
    for name, spec in AUTH_ARGSPEC.items():
        if module == "site_check" and name == "validate_certs":
            continue  # site_check's validate_certs is the ingress's; the API server's comes from K8S_AUTH_VERIFY_SSL
        assert name in options, "%s: %s is not documented" % (module, name)
        assert sorted(options[name].get("aliases") or []) == sorted(spec.get("aliases") or []), (module, name)
    for name, variable in AWX_VARIABLES.items():
        if name in options and not (module == "site_check" and name == "validate_certs"):
            assert variable in " ".join(options[name]["description"]), (module, name, variable)
