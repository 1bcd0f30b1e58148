"""The modules with nothing but what AWX's Kubernetes credential injects: K8S_AUTH_HOST, K8S_AUTH_API_KEY,
K8S_AUTH_SSL_CA_CERT and K8S_AUTH_VERIFY_SSL, from the token of a ServiceAccount bound to ClusterRole
aistack:deployer (playbooks/files/aistack-deployer-rbac.yml). No kubeconfig anywhere: KUBECONFIG unset, a HOME
without ~/.kube. helm_tenant (its helm upgrade and uninstall included), external_service and image_import (its
rollout restart) converge; a token whose role lacks a permission fails naming it; without the token nothing else
is found to log in with (the negative control)."""

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import ansible_json

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "build" / "collections"
CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))
RBAC = ROOT / "playbooks" / "files" / "aistack-deployer-rbac.yml"
DEMO = "aistack.local/demohttp:1.0.0"


@pytest.fixture(scope="module")
def identity(kubectl, kubeconfig):
    """A namespace with two ServiceAccounts: one bound to aistack:deployer, one to a copy of it without secrets.
    Returns the API server, its CA (PEM) and a token of each."""
    uid = uuid.uuid4().hex[:8]
    ns = "t-awx-" + uid
    role = yaml.safe_load(RBAC.read_text())
    weak = json.loads(json.dumps(role))
    weak["metadata"]["name"] = "aistack:deployer-without-secrets-" + uid
    for rule in weak["rules"]:
        rule["resources"] = [r for r in rule["resources"] if r != "secrets"]
    kubectl("apply", "-f", str(RBAC))
    kubectl("create", "namespace", ns)
    made = [("clusterrole", weak["metadata"]["name"])]
    try:
        kubectl("apply", "-f", "-", input=json.dumps(weak))
        tokens = {}
        for sa, cluster_role in (("deployer", "aistack:deployer"), ("weak", weak["metadata"]["name"])):
            binding = "%s:%s:%s" % (cluster_role, ns, sa)
            made.append(("clusterrolebinding", binding))
            kubectl("-n", ns, "create", "serviceaccount", sa)
            kubectl("create", "clusterrolebinding", binding, "--clusterrole", cluster_role,
                    "--serviceaccount", "%s:%s" % (ns, sa))
            tokens[sa] = kubectl("-n", ns, "create", "token", sa, "--duration", "15m").stdout.strip()
        cfg = yaml.safe_load(Path(kubeconfig).read_text())
        cluster = cfg["clusters"][0]["cluster"]
        yield {"namespace": ns, "host": cluster["server"],
               "ca": base64.b64decode(cluster["certificate-authority-data"]).decode(), "tokens": tokens}
    finally:
        kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
        for kind, name in made:
            kubectl("delete", kind, name, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def awx_env(identity, tmp_path_factory):
    """The environment of an AWX job with the credential: K8S_AUTH_* only, nothing else to log in with."""
    home = tmp_path_factory.mktemp("awx-home")
    ca = home / "k8s-ca.crt"
    ca.write_text(identity["ca"])
    env = {key: value for key, value in os.environ.items()
           if key != "KUBECONFIG" and not key.startswith("K8S_AUTH_") and not key.startswith("HELM_")}
    env.update(HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), str(CACHE / "bin"), os.environ["PATH"]]),
               K8S_AUTH_HOST=identity["host"], K8S_AUTH_API_KEY=identity["tokens"]["deployer"],
               K8S_AUTH_SSL_CA_CERT=str(ca), K8S_AUTH_VERIFY_SSL="true")
    assert not (home / ".kube").exists()
    return env


def module(env, name, args, check=False):
    cmd = ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", name, "-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, check=False)
    try:
        return ansible_json(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("ansible -m %s gave no JSON result (rc %d):\n%s\n%s"
                             % (name, proc.returncode, proc.stdout, proc.stderr))


def tenant(team, state="present"):
    return {"team": team, "service": "demo", "environment": "dev", "state": state,
            "chart": {"path": str(ROOT / "charts" / "aistack-service")},
            "image": {"repository": DEMO.rsplit(":", 1)[0], "tag": DEMO.rsplit(":", 1)[1]}, "port": 8080,
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
            "probes": {"liveness_initial_delay": 1, "readiness_initial_delay": 1, "period": 2, "timeout": 1},
            "timeout": 90}


def test_helm_tenant_with_the_credential_only(awx_env, kubectl):
    team = "awx" + uuid.uuid4().hex[:6]
    try:
        runs = [module(awx_env, "aistack.platform.helm_tenant", tenant(team)),
                module(awx_env, "aistack.platform.helm_tenant", tenant(team))]
        for result in runs:
            assert not result.get("failed"), result.get("msg")
        assert [r["changed"] for r in runs] == [True, False]
        assert runs[0]["status"] == "deployed" and runs[0]["revision"] == 1
        # helm itself ran with the token: the release record helm wrote is there
        secrets = kubectl("-n", team + "-dev", "get", "secrets", "-l", "owner=helm", "-o", "name").stdout.split()
        assert secrets == ["secret/sh.helm.release.v1.%s-demo-dev.v1" % team]
        gone = module(awx_env, "aistack.platform.helm_tenant", tenant(team, state="absent"))
        assert gone["changed"] and not gone.get("failed"), gone.get("msg")
        assert kubectl("-n", team + "-dev", "get", "secrets", "-l", "owner=helm", "-o", "name").stdout.strip() == ""
    finally:
        kubectl("delete", "namespace", team + "-dev", "--ignore-not-found", "--wait=false", check=False)


def test_external_service_with_the_credential_only(awx_env, identity, kubectl):
    args = {"name": "pg", "namespace": identity["namespace"], "addresses": ["192.0.2.10"],
            "ports": [{"name": "postgresql", "port": 5432}]}
    first = module(awx_env, "aistack.platform.external_service", args)
    assert first["changed"] and not first.get("failed"), first.get("msg")
    assert module(awx_env, "aistack.platform.external_service", args)["changed"] is False
    assert kubectl("-n", identity["namespace"], "get", "endpointslice", "pg-ipv4", check=False).returncode == 0
    gone = module(awx_env, "aistack.platform.external_service", dict(args, state="absent"))
    assert gone["changed"] and not gone.get("failed"), gone.get("msg")


def test_image_import_restarts_with_the_credential_only(awx_env, identity, kubectl, tmp_path):
    archives = sorted((CACHE / "images").glob("demohttp-*.tar"))
    if not archives:
        pytest.fail("no demohttp archive in %s: run tests/cluster/cluster.sh build" % (CACHE / "images"))
    ns = identity["namespace"]
    kubectl("-n", ns, "create", "deployment", "demo", "--image", DEMO, "--replicas", "0")
    args = {"src": str(archives[-1]), "target": "containerd", "containerd_images_dir": str(tmp_path / "images"),
            "restart_workloads": True, "restart_namespaces": [ns]}
    (tmp_path / "images").mkdir()
    result = module(awx_env, "aistack.platform.image_import", args)
    assert result["changed"] and not result.get("failed"), result.get("msg")
    assert [r for r in result["restarted"] if "demo" in json.dumps(r)], result["restarted"]
    annotations = json.loads(kubectl("-n", ns, "get", "deployment", "demo", "-o", "json").stdout)[
        "spec"]["template"]["metadata"].get("annotations") or {}
    assert annotations, "the Deployment was not restarted"


def test_token_lacking_a_permission_fails_naming_it(awx_env, identity, kubectl):
    env = dict(awx_env, K8S_AUTH_API_KEY=identity["tokens"]["weak"])
    team = "awxw" + uuid.uuid4().hex[:6]
    try:
        result = module(env, "aistack.platform.helm_tenant", tenant(team))
        assert result.get("failed")
        msg = result["msg"]
        assert "forbidden" in msg and '"secrets"' in msg, msg
        assert "system:serviceaccount:%s:weak" % identity["namespace"] in msg, msg
        # nothing of the release was made: helm never ran
        assert kubectl("-n", team + "-dev", "get", "deployments,secrets", "-o", "name", check=False).stdout.strip() == ""
    finally:
        kubectl("delete", "namespace", team + "-dev", "--ignore-not-found", "--wait=false", check=False)


def test_without_the_token_nothing_else_logs_in(awx_env, identity):
    env = {key: value for key, value in awx_env.items() if key != "K8S_AUTH_API_KEY"}
    result = module(env, "aistack.platform.external_service",
                    {"name": "pg2", "namespace": identity["namespace"], "external_name": "db.example.com",
                     "ports": [{"name": "postgresql", "port": 5432}]})
    assert result.get("failed") and result.get("field") == "kubeconfig", result
    assert ".kube/config' does not exist" in result["msg"]
