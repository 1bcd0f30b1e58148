"""A job template run in the execution environment as AWX runs it (execution-environment/run_in_ee.py: ansible-runner,
process isolation in Docker, AWX's Kubernetes credential as K8S_AUTH_* only, the vault prompt answered), on the
local cluster: the platform layer converges a namespace of its own, and a second run changes nothing.

The EE is not built by `make test` (a cold build takes minutes: `make ee`), so this skips unless the image and the
tools that run it are already on the machine."""

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, targets_local_cluster

CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))
VERSION = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
IMAGE = os.environ.get("EE_IMAGE", "aistack.local/platform-ee:%s" % VERSION)
TOOLS = CACHE / "ee-tools" / "bin" / "python"


def _image_exists():
    try:
        return subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not (TOOLS.exists() and targets_local_cluster() and _image_exists()),
                                reason="needs the EE image %s and %s (make ee) and the local cluster" % (IMAGE, TOOLS))


def test_platform_job_template_in_the_ee(kubectl, tmp_path, collection_env):
    credential = tmp_path / "awx-credential.yml"
    proc = subprocess.run([str(ROOT / "execution-environment" / "local-credential.sh"), str(credential)],
                          env=collection_env, capture_output=True, text=True, check=False, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    inputs = yaml.safe_load(credential.read_text())
    assert sorted(inputs) == ["bearer_token", "host", "ssl_ca_cert", "verify_ssl"]
    ns = "t-ee-" + uuid.uuid4().hex[:8]
    extra = json.dumps({"aistack_namespaces": [{"name": ns, "labels": {"aistack.io/tier": "test"}}],
                        "aistack_app_secrets": []})
    try:
        summaries = []
        for run in ("first", "second"):
            data = tmp_path / run
            proc = subprocess.run([str(TOOLS), str(ROOT / "execution-environment" / "run_in_ee.py"),
                                   "--job-template", "platform", "--site", "local", "--environment", "dev",
                                   "--local-site", "--k8s-credential", str(credential), "--vault-password-file",
                                   str(ROOT / "inventories" / "local" / "vault-password.txt"), "-e", extra,
                                   "--image", IMAGE, "--data-dir", str(data)],
                                  capture_output=True, text=True, check=False, timeout=600, cwd=str(ROOT))
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
            summaries.append(json.loads((data / "summary.json").read_text()))
        assert [s["status"] for s in summaries] == ["successful", "successful"]
        assert summaries[0]["changed"] >= 1 and summaries[1]["changed"] == 0, summaries
        labels = json.loads(kubectl("get", "namespace", ns, "-o", "json").stdout)["metadata"]["labels"]
        assert labels["aistack.io/tier"] == "test"
        # the run had AWX's credential and nothing else: no kubeconfig in the job's environment
        env = (tmp_path / "first" / "env" / "envvars").read_text()
        assert "K8S_AUTH_API_KEY" in env and "KUBECONFIG" not in env
    finally:
        kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
