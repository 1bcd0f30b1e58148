"""Every helm call gets the module's access: with AWX's credential (K8S_AUTH_* only) helm is given a private
kubeconfig with that server, token and CA, and no HELM_KUBE* variable of the job's environment reaches it (helm
would prefer them to the kubeconfig)."""

import json
import os
import stat

from ansible_collections.aistack.platform.plugins.module_utils.helm import runner as H
from ansible_collections.aistack.platform.plugins.module_utils.kube.auth import resolve

AWX = {"K8S_AUTH_HOST": "https://api.site:6443", "K8S_AUTH_API_KEY": "sa-token", "K8S_AUTH_VERIFY_SSL": "true",
       "K8S_AUTH_SSL_CA_CERT": "/runner/env/k8s-ca.crt"}


def test_helm_gets_the_credential_as_a_private_kubeconfig(tmp_path):
    helm = tmp_path / "helm"
    helm.write_text("#!/bin/sh\n")
    helm.chmod(0o755)
    seen = []

    def fake_run(cmd, env=None):
        path = cmd[cmd.index("--kubeconfig") + 1]
        seen.append((cmd, env, json.loads(open(path).read()), stat.S_IMODE(os.stat(path).st_mode)))
        return 0, json.dumps({"name": "r", "namespace": "n", "version": 1, "info": {"status": "deployed"}}), ""

    access = resolve({}, environ=AWX, exists=lambda path: False)
    runner = H.HelmRunner(str(helm), access=access, run_command=fake_run)
    runner.upgrade("r", "n", {"path": "/chart.tgz"}, {})
    runner.uninstall("r", "n")
    assert len(seen) == 2
    for cmd, env, doc, mode in seen:
        assert "sa-token" not in " ".join(cmd)          # never on the command line
        assert "--kube-context" not in cmd
        assert env == {}                                  # no KUBECONFIG: the private file only
        assert mode == 0o600
        assert doc["clusters"][0]["cluster"] == {"server": "https://api.site:6443",
                                                 "certificate-authority": "/runner/env/k8s-ca.crt"}
        assert doc["users"][0]["user"] == {"token": "sa-token"}


def test_helm_kube_variables_never_reach_helm(monkeypatch, tmp_path):
    captured = {}

    class FakePopen(object):
        def __init__(self, cmd, stdout=None, stderr=None, env=None):
            captured["env"] = env
            self.returncode = 0

        def communicate(self):
            return b"", b""

    monkeypatch.setattr(H.subprocess, "Popen", FakePopen)
    for name, value in (("HELM_KUBETOKEN", "other"), ("HELM_KUBEAPISERVER", "https://other:6443"),
                        ("HELM_KUBECONTEXT", "other"), ("HELM_KUBECAFILE", "/other.crt"),
                        ("HELM_KUBEINSECURE_SKIP_TLS_VERIFY", "true"), ("HELM_CACHE_HOME", str(tmp_path))):
        monkeypatch.setenv(name, value)
    H._run(["helm", "version"], {"KUBECONFIG": "/k"})
    env = captured["env"]
    assert not [key for key in env if key.startswith("HELM_KUBE")]
    assert env["KUBECONFIG"] == "/k" and env["HELM_CACHE_HOME"] == str(tmp_path)  # the rest is kept
    assert env["HELM_DRIVER"] == "secret"
