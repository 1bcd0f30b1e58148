"""What the LightRAG release renders (no cluster): the lightrag role runs through ansible-playbook against a
recording stand-in of kubernetes.core, and the Helm values it hands over go through the real `helm template`
of charts/lightrag. The image cannot be pulled here, so these are render-only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "build" / "collections"
CACHE_BIN = Path.home() / ".cache" / "aistack" / "bin"
HELM = CACHE_BIN / "helm"
CHART = ROOT / "charts" / "lightrag"
OPENAI_KEY = "sk-test-not-a-real-key-0123456789"

# An action plugin that records its task's (templated) arguments and answers k8s_info from a canned table.
RECORDER = '''
import json
import os

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        with open(os.environ["RECORD_LOG"], "a") as log:
            log.write(json.dumps({"action": self._task.action, "args": self._task.args}, default=str) + "\\n")
        if self._task.action.endswith("k8s_info"):
            with open(os.environ["RECORD_INFO"]) as src:
                table = json.load(src)
            result["resources"] = table.get(self._task.args.get("name"), [])
        else:
            result["changed"] = True
        return result
'''

SECRETS = {
    "db-postgresql-lightrag": ["POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DATABASE", "DATABASE_URL"],
    "db-qdrant": ["QDRANT_URL", "QDRANT_GRPC_URL", "QDRANT_API_KEY"],
    "db-neo4j": ["NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD"],
    "lightrag-llm": ["OPENAI_API_KEY", "OPENAI_API_BASE"],
}
CREDENTIALS = {
    "POSTGRES_PASSWORD": ("db-postgresql-lightrag", "POSTGRES_PASSWORD"),
    "POSTGRES_USER": ("db-postgresql-lightrag", "POSTGRES_USER"),
    "POSTGRES_HOST": ("db-postgresql-lightrag", "POSTGRES_HOST"),
    "POSTGRES_DATABASE": ("db-postgresql-lightrag", "POSTGRES_DATABASE"),
    "NEO4J_PASSWORD": ("db-neo4j", "NEO4J_PASSWORD"),
    "NEO4J_USERNAME": ("db-neo4j", "NEO4J_USERNAME"),
    "NEO4J_URI": ("db-neo4j", "NEO4J_URI"),
    "QDRANT_API_KEY": ("db-qdrant", "QDRANT_API_KEY"),
    "QDRANT_URL": ("db-qdrant", "QDRANT_URL"),
    "OPENAI_API_KEY": ("lightrag-llm", "OPENAI_API_KEY"),
    "OPENAI_API_BASE": ("lightrag-llm", "OPENAI_API_BASE"),
    "LLM_BINDING_API_KEY": ("lightrag-llm", "OPENAI_API_KEY"),
    "EMBEDDING_BINDING_API_KEY": ("lightrag-llm", "OPENAI_API_KEY"),
}


def tool_env(tmp_path):
    return dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(tmp_path / "collections"), str(COLLECTIONS)]),
                ANSIBLE_PYTHON_INTERPRETER=sys.executable, RECORD_LOG=str(tmp_path / "record.jsonl"),
                RECORD_INFO=str(tmp_path / "info.json"), HELM_CACHE_HOME=str(tmp_path / "helm-cache"),
                HELM_CONFIG_HOME=str(tmp_path / "helm-config"), HELM_DATA_HOME=str(tmp_path / "helm-data"),
                PATH=os.pathsep.join([str(Path(sys.executable).parent), str(CACHE_BIN), os.environ.get("PATH", "")]))


def role_values(tmp_path, extra):
    """Run the lightrag role with recording kubernetes.core modules; return (proc, helm args, k8s args)."""
    action_dir = tmp_path / "collections" / "ansible_collections" / "kubernetes" / "core" / "plugins" / "action"
    action_dir.mkdir(parents=True)
    for name in ("helm", "k8s", "k8s_info"):
        (action_dir / (name + ".py")).write_text(RECORDER)
    info = {name: [{"data": {key: "eA==" for key in keys}}] for name, keys in SECRETS.items()}
    (tmp_path / "info.json").write_text(json.dumps(info))
    playbook = tmp_path / "run.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.lightrag\n")
    proc = subprocess.run(["ansible-playbook", str(playbook), "-i", "localhost,", "-c", "local", "-e", json.dumps(extra)],
                          env=tool_env(tmp_path), capture_output=True, text=True, check=False, timeout=300)
    log = tmp_path / "record.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    helm = [c["args"] for c in calls if c["action"].endswith(".helm")]
    k8s = [c["args"] for c in calls if c["action"].endswith(".k8s")]
    return proc, helm, k8s


def helm_template(tmp_path, values):
    if not HELM.exists():
        pytest.skip("the helm binary is missing at %s (run `make cluster` or tests/cluster/cluster.sh to fetch it)" % HELM)
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    proc = subprocess.run([str(HELM), "template", "lightrag", str(CHART), "--namespace", "aistack-system", "-f", str(values_file)],
                          env=tool_env(tmp_path), capture_output=True, text=True, check=False, timeout=120)
    objs = [o for o in yaml.safe_load_all(proc.stdout) if o] if proc.returncode == 0 else []
    return proc, objs


def find(objs, kind, name=None):
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("lightrag")
    proc, helm, k8s = role_values(tmp_path, {"lightrag_openai_api_key": OPENAI_KEY})
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert len(helm) == 1
    assert helm[0]["chart_ref"].rstrip("/").endswith("charts/lightrag")
    proc, objs = helm_template(tmp_path, helm[0]["values"])
    assert proc.returncode == 0, proc.stderr
    return {"helm": helm[0], "k8s": k8s, "objs": objs}


def container(rendered):
    deploys = find(rendered["objs"], "Deployment", "lightrag")
    assert len(deploys) == 1
    return deploys[0]["spec"]["template"]["spec"]["containers"][0], deploys[0]


def test_image_pinned_and_port(rendered):
    main, deploy = container(rendered)
    defaults = yaml.safe_load((ROOT / "roles" / "lightrag" / "defaults" / "main.yml").read_text())
    tag = defaults["lightrag_image_tag"]
    assert tag and tag != "latest"
    assert main["image"] == "ghcr.io/hkuds/lightrag:%s" % tag
    assert main["ports"] == [{"name": "http", "containerPort": 9621, "protocol": "TCP"}]
    svc = find(rendered["objs"], "Service", "lightrag")[0]
    assert svc["spec"]["ports"][0]["port"] == 9621 and svc["spec"]["ports"][0]["targetPort"] == "http"
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}


def test_pvcs_and_mounts(rendered):
    main, deploy = container(rendered)
    pvcs = {p["metadata"]["name"]: p for p in find(rendered["objs"], "PersistentVolumeClaim")}
    assert set(pvcs) == {"lightrag-rag-storage", "lightrag-inputs"}
    assert pvcs["lightrag-rag-storage"]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert pvcs["lightrag-inputs"]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert all(p["spec"]["accessModes"] == ["ReadWriteOnce"] for p in pvcs.values())
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts == {"rag-storage": "/app/data/rag_storage", "inputs": "/app/data/inputs"}
    volumes = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in deploy["spec"]["template"]["spec"]["volumes"]}
    assert volumes == {"rag-storage": "lightrag-rag-storage", "inputs": "lightrag-inputs"}
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["WORKING_DIR"] == "/app/data/rag_storage" and env["INPUT_DIR"] == "/app/data/inputs"


def test_resources_and_probes(rendered):
    main = container(rendered)[0]
    assert main["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "2Gi"}}
    for probe in ("readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {"path": "/health", "port": "http"}
        assert main[probe]["periodSeconds"] > 0 and main[probe]["failureThreshold"] > 0


def test_credentials_are_secret_refs(rendered):
    main = container(rendered)[0]
    env = {e["name"]: e for e in main["env"]}
    for name, (secret, key) in CREDENTIALS.items():
        assert "value" not in env[name], name
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}, name
    for name, item in env.items():
        if any(word in name for word in ("PASSWORD", "API_KEY", "USERNAME")):
            assert "valueFrom" in item and "value" not in item, name
    assert env["LIGHTRAG_KV_STORAGE"]["value"] == "PGKVStorage"
    assert env["LIGHTRAG_VECTOR_STORAGE"]["value"] == "QdrantVectorDBStorage"
    assert env["LIGHTRAG_GRAPH_STORAGE"]["value"] == "Neo4JStorage"
    # The vault key reaches the cluster only as the LLM Secret, never through the Helm values or manifests.
    assert OPENAI_KEY not in json.dumps(rendered["helm"]) and OPENAI_KEY not in json.dumps(rendered["objs"])
    llm = [k["definition"] for k in rendered["k8s"] if k["definition"]["metadata"]["name"] == "lightrag-llm"]
    assert len(llm) == 1 and "stringData" not in llm[0] and OPENAI_KEY not in json.dumps(llm[0])


def test_latest_tag_refused_by_chart(rendered, tmp_path):
    values = json.loads(json.dumps(rendered["helm"]["values"]))
    values["image"]["tag"] = "latest"
    proc, objs = helm_template(tmp_path, values)
    assert proc.returncode != 0 and not objs
    assert "'latest' is refused" in proc.stderr
    values["image"]["tag"] = ""
    proc, objs = helm_template(tmp_path, values)
    assert proc.returncode != 0 and "must be pinned" in proc.stderr


def test_latest_tag_refused_by_role(tmp_path):
    proc, helm, k8s = role_values(tmp_path, {"lightrag_image_tag": "latest"})
    assert proc.returncode != 0 and "pinned version" in proc.stdout
    assert not helm and not k8s


def test_missing_backend_secret_refused(tmp_path):
    proc, helm, k8s = role_values(tmp_path, {"lightrag_neo4j_secret": "db-neo4j-missing"})
    assert proc.returncode != 0 and "lightrag: not deployed" in proc.stdout
    assert not helm and not k8s


def test_missing_backend_secret_named(tmp_path):
    proc, helm, k8s = role_values(tmp_path, {"lightrag_neo4j_secret": "db-neo4j-missing"})
    assert proc.returncode != 0 and not helm and not k8s
    assert "Secret db-neo4j-missing (neo4j) is missing" in proc.stdout
