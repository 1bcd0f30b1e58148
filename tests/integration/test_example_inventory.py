"""The example site (inventories/example/{dev,stg,prd}): each environment's application layer rendered in check
mode against the local cluster from its inventory alone, and the differences the field rules call for asserted
on what helm_tenant would deploy (replicas and HPA bounds, limits, storage class and access mode, TLS,
database), plus the platform switches (databases backend, airgap). Check mode: nothing reaches the cluster."""

import json
import subprocess

import pytest

from conftest import ROOT, ansible_json

ENVS = ("dev", "stg", "prd")
# test credentials for the vaulted variables the inventories read (vault.yml.example shows them)
VAULT = {
    "vault_k3s_token": "example-token",
    "vault_langflow_database_passwords": dict(
        ("data-science-%s-%s" % (service, env), "Example-pw-%s-%d" % (env, index))
        for env in ENVS for index, service in enumerate(("langflow", "langflow-runtime"))),
}


def _tenant_results(node, found):
    """Every helm_tenant result in the json callback's output (they carry release_name and a diff)."""
    if isinstance(node, dict):
        if "release_name" in node and node.get("diff"):
            found[node["release_name"]] = node
        for value in node.values():
            _tenant_results(value, found)
    elif isinstance(node, list):
        for value in node:
            _tenant_results(value, found)
    return found


@pytest.fixture(scope="module")
def example(collection_env, kubeconfig, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("example")
    vault = tmp / "vault.json"
    vault.write_text(json.dumps(VAULT))
    env = dict(collection_env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    rendered = {}
    for name in ENVS:
        inventory = str(ROOT / "inventories" / "example" / name)
        proc = subprocess.run(
            ["ansible-playbook", "playbooks/apps.yml", "-i", inventory, "--check", "--diff",
             "-e", json.dumps({"aistack_kubeconfig": kubeconfig}), "-e", "@%s" % vault],
            env=env, capture_output=True, text=True, timeout=900, cwd=str(ROOT), check=False)
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        releases = _tenant_results(ansible_json(proc.stdout), {})
        hostvars = json.loads(subprocess.run(
            ["ansible-inventory", "-i", inventory, "--host", "localhost", "-e", "@%s" % vault],
            env=collection_env, capture_output=True, text=True, timeout=300, cwd=str(ROOT), check=True).stdout)
        rendered[name] = {"releases": releases, "vars": hostvars}
    return rendered


def values(example, env, service):
    release = "data-science-%s-%s" % (service, env)
    result = example[env]["releases"][release]
    assert result["changed"], "check mode against a cluster without the site must plan the release"
    diffs = result["diff"] if isinstance(result["diff"], list) else [result["diff"]]
    # beside the Secrets' diffs, the release values' diff (module_utils/tenant/values.py values_diff)
    return [diff for diff in diffs if diff.get("after_header") == "release values (desired)"][0]["after"]


def test_every_environment_plans_both_planes_and_touches_nothing(example, kubectl):
    for env in ENVS:
        assert sorted(example[env]["releases"]) == sorted(["data-science-langflow-%s" % env,
                                                          "data-science-langflow-runtime-%s" % env])
        assert kubectl("get", "namespace", "data-science-%s" % env, check=False).returncode != 0


def test_scaling_grows_from_dev_to_prd(example):
    bounds = {env: (values(example, env, "langflow-runtime")["autoscaling"]["minReplicas"],
                    values(example, env, "langflow-runtime")["autoscaling"]["maxReplicas"]) for env in ENVS}
    assert bounds == {"dev": (1, 2), "stg": (2, 6), "prd": (3, 10)}
    for env in ENVS:  # the IDE is one pod for flow developers everywhere
        assert values(example, env, "langflow")["replicaCount"] == 1


def test_limits_from_stg_on(example):
    assert "limits" not in values(example, "dev", "langflow-runtime")["resources"]
    assert values(example, "stg", "langflow-runtime")["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert values(example, "prd", "langflow-runtime")["resources"]["limits"] == {"cpu": "4", "memory": "8Gi"}


def test_storage_class_and_shared_runtime_storage_in_prd(example):
    storage = {env: values(example, env, "langflow-runtime")["persistence"] for env in ENVS}
    assert [storage[env]["storageClassName"] for env in ENVS] == ["", "standard", "fast-ssd"]
    assert [storage[env]["accessModes"] for env in ENVS] == [["ReadWriteOnce"], ["ReadWriteOnce"], ["ReadWriteMany"]]
    assert [storage[env]["size"] for env in ENVS] == ["2Gi", "10Gi", "20Gi"]


def test_tls_on_stg_and_prd_hosts(example):
    dev, stg, prd = (values(example, env, "langflow") for env in ENVS)
    assert dev["ingress"]["host"] == "langflow-data-science.dev.ai.example.com" and "tls" not in dev["ingress"]
    assert stg["ingress"]["tls"] == {"enabled": True, "secretName": "data-science-langflow-stg-tls"}
    assert stg["ingress"]["annotations"]["cert-manager.io/cluster-issuer"] == "example-internal-ca"
    assert prd["ingress"]["host"] == "langflow-data-science.ai.example.com"
    assert prd["ingress"]["tls"] == {"enabled": True, "secretName": "wildcard-ai-example-com"}


def test_sqlite_only_in_dev(example):
    assert values(example, "dev", "langflow")["env"]["LANGFLOW_DATABASE_URL"].startswith("sqlite:")
    for env in ("stg", "prd"):
        rendered = values(example, env, "langflow")
        assert "LANGFLOW_DATABASE_URL" not in rendered["env"]  # PostgreSQL: the URL comes from a Secret
        assert {"name": "LANGFLOW_DATABASE_URL", "secretName": "data-science-langflow-%s-db" % env,
                "key": "url"} in rendered["secretEnv"]


def test_platform_switches(example):
    switches = {env: (example[env]["vars"]["databases_backend"], example[env]["vars"]["aistack_airgap"]) for env in ENVS}
    assert switches == {"dev": ("compose", False), "stg": ("compose", False), "prd": ("kubeblocks", True)}
