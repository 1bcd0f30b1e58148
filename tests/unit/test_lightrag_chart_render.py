"""What the lightrag role hands to helm_tenant, and what the generic chart renders from it (no cluster): the
role runs through ansible-playbook with recording stand-ins of helm_tenant and kubernetes.core; the recorded
arguments go through helm_tenant's own argument spec, validation and values rendering, then through the real
`helm template` of charts/aistack-service. The real image, PostgreSQL and the release on a cluster are in
tests/integration/test_lightrag_role.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.aistack.platform.plugins.module_utils.tenant import policy as tpolicy
from ansible_collections.aistack.platform.plugins.module_utils.tenant import values as tvalues

ROOT = Path(__file__).resolve().parents[2]
CACHE_BIN = Path.home() / ".cache" / "aistack" / "bin"
HELM = CACHE_BIN / "helm"
CHART = ROOT / "charts" / "aistack-service"
OPENAI_KEY = "sk-test-not-a-real-key-0123456789"
NAME = "platform-lightrag-dev"

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
            name = self._task.args.get("name")
            if name:
                result["resources"] = table.get(name, [])
            else:  # a listing of the namespace: every canned object, named
                result["resources"] = [dict(r, metadata=dict(r.get("metadata") or {}, name=key))
                                       for key, found in table.items() for r in found]
        else:
            result["changed"] = True
        return result
'''

SECRETS = {
    "db-postgresql-lightrag": ["POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DATABASE", "DATABASE_URL"],
    "db-qdrant": ["QDRANT_URL", "QDRANT_GRPC_URL", "QDRANT_API_KEY"],
    "db-neo4j": ["NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD"],
    "lightrag-llm": ["OPENAI_API_KEY", "OPENAI_API_BASE"],
    "lightrag-api": ["LIGHTRAG_API_KEY"],
}
PG = {k: ("db-postgresql-lightrag", k) for k in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD",
                                                 "POSTGRES_DATABASE")}
LLM = {"OPENAI_API_KEY": ("lightrag-llm", "OPENAI_API_KEY"), "OPENAI_API_BASE": ("lightrag-llm", "OPENAI_API_BASE"),
       "LLM_BINDING_API_KEY": ("lightrag-llm", "OPENAI_API_KEY"), "LLM_BINDING_HOST": ("lightrag-llm", "OPENAI_API_BASE"),
       "EMBEDDING_BINDING_API_KEY": ("lightrag-llm", "OPENAI_API_KEY"),
       "EMBEDDING_BINDING_HOST": ("lightrag-llm", "OPENAI_API_BASE")}


def collection_farm(tmp_path):
    """The collection as symlinks, its helm_tenant action replaced by the recorder."""
    base = tmp_path / "collections" / "ansible_collections"
    coll = base / "aistack" / "platform"
    coll.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name not in ("plugins", "build", ".git", ".venv"):
            (coll / entry.name).symlink_to(entry)
    (coll / "plugins").mkdir()
    for entry in (ROOT / "plugins").iterdir():
        if entry.name != "action":
            (coll / "plugins" / entry.name).symlink_to(entry)
    (coll / "plugins" / "action").mkdir()
    (coll / "plugins" / "action" / "helm_tenant.py").write_text(RECORDER)
    action_dir = base / "kubernetes" / "core" / "plugins" / "action"
    action_dir.mkdir(parents=True)
    for name in ("k8s", "k8s_info"):
        (action_dir / (name + ".py")).write_text(RECORDER)
    return tmp_path / "collections"


def tool_env(tmp_path, collections):
    real = ROOT / "build" / "collections"
    return dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(collections), str(real)]),
                ANSIBLE_PYTHON_INTERPRETER=sys.executable, RECORD_LOG=str(tmp_path / "record.jsonl"),
                RECORD_INFO=str(tmp_path / "info.json"), HELM_CACHE_HOME=str(tmp_path / "helm-cache"),
                HELM_CONFIG_HOME=str(tmp_path / "helm-config"), HELM_DATA_HOME=str(tmp_path / "helm-data"),
                PATH=os.pathsep.join([str(Path(sys.executable).parent), str(CACHE_BIN), os.environ.get("PATH", "")]))


def run_role(tmp_path, extra, secrets=None):
    """Run the lightrag role with recording modules; return (proc, helm_tenant args, k8s args, k8s_info args)."""
    collections = collection_farm(tmp_path)
    table = secrets if secrets is not None else SECRETS
    info = {name: [{"data": {key: "eA==" for key in keys}}] for name, keys in table.items()}
    (tmp_path / "info.json").write_text(json.dumps(info))
    playbook = tmp_path / "run.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.lightrag\n")
    proc = subprocess.run(["ansible-playbook", str(playbook), "-i", "localhost,", "-c", "local", "-e", json.dumps(extra)],
                          env=tool_env(tmp_path, collections), capture_output=True, text=True, check=False, timeout=300)
    log = tmp_path / "record.jsonl"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def pick(suffix):
        return [c["args"] for c in calls if c["action"].endswith(suffix)]
    return proc, pick("helm_tenant"), pick(".k8s"), pick("k8s_info")


def module_values(args):
    """What helm_tenant would render from the role's arguments (its argument spec, validation, values)."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible_collections.aistack.platform.plugins.modules.helm_tenant import argument_spec
    result = ArgumentSpecValidator(argument_spec()).validate(args)
    assert not result.error_messages, result.error_messages
    params = result.validated_parameters
    return params, tvalues.build_values(params, tpolicy.validate(params))


def helm_template(tmp_path, values):
    if not HELM.exists():
        pytest.skip("the helm binary is missing at %s (tests/cluster/cluster.sh build fetches it)" % HELM)
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    proc = subprocess.run([str(HELM), "template", NAME, str(CHART), "--namespace", "aistack-system", "-f", str(values_file)],
                          capture_output=True, text=True, check=False, timeout=120,
                          env=dict(os.environ, HELM_CACHE_HOME=str(tmp_path / "hc"), HELM_CONFIG_HOME=str(tmp_path / "hg"),
                                   HELM_DATA_HOME=str(tmp_path / "hd")))
    objs = [o for o in yaml.safe_load_all(proc.stdout) if o] if proc.returncode == 0 else []
    return proc, objs


def find(objs, kind, name=None):
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("lightrag")
    proc, tenant, k8s, info = run_role(tmp_path, {"lightrag_openai_api_key": OPENAI_KEY})
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert len(tenant) == 1
    params, values = module_values(tenant[0])
    return {"tmp": tmp_path, "args": tenant[0], "params": params, "values": values, "k8s": k8s, "info": info,
            "stdout": proc.stdout}


@pytest.fixture(scope="module")
def rendered(recorded):
    proc, objs = helm_template(recorded["tmp"], recorded["values"])
    assert proc.returncode == 0, proc.stderr
    return objs


def container(objs):
    deploys = find(objs, "Deployment", NAME)
    assert len(deploys) == 1
    return deploys[0]["spec"]["template"]["spec"]["containers"][0], deploys[0]


def test_generic_chart_and_tenant_names(recorded):
    args = recorded["args"]
    assert args["chart"]["path"].rstrip("/").endswith("charts/aistack-service")
    assert (args["team"], args["service"], args["environment"], args["namespace"]) == \
        ("platform", "lightrag", "dev", "aistack-system")
    assert recorded["values"]["fullnameOverride"] == NAME


def test_upstream_image_pinned(recorded):
    defaults = yaml.safe_load((ROOT / "roles" / "lightrag" / "defaults" / "main.yml").read_text())
    assert defaults["lightrag_image_repository"] == "ghcr.io/hkuds/lightrag"
    assert defaults["lightrag_image_tag"] == "v1.5.7"
    assert recorded["values"]["image"]["repository"] == "ghcr.io/hkuds/lightrag"
    assert recorded["values"]["image"]["tag"] == "v1.5.7"


def test_image_port_and_strategy(rendered):
    main, deploy = container(rendered)
    assert main["image"] == "ghcr.io/hkuds/lightrag:v1.5.7"
    assert main["ports"] == [{"name": "http", "containerPort": 9621, "protocol": "TCP"}]
    svc = find(rendered, "Service", NAME)[0]
    assert svc["spec"]["ports"][0]["port"] == 9621 and svc["spec"]["ports"][0]["targetPort"] == "http"
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}


def test_pvcs_and_mounts(rendered):
    main, deploy = container(rendered)
    pvcs = {p["metadata"]["name"]: p for p in find(rendered, "PersistentVolumeClaim")}
    assert set(pvcs) == {NAME + "-data", NAME + "-inputs"}
    assert pvcs[NAME + "-data"]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert pvcs[NAME + "-inputs"]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert all(p["spec"]["accessModes"] == ["ReadWriteOnce"] for p in pvcs.values())
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts == {"data": "/app/data/rag_storage", "claim-inputs": "/app/data/inputs", "scratch-0": "/tmp"}
    volumes = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in deploy["spec"]["template"]["spec"]["volumes"]
               if "persistentVolumeClaim" in v}
    assert volumes == {"data": NAME + "-data", "claim-inputs": NAME + "-inputs"}
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert env["WORKING_DIR"] == "/app/data/rag_storage" and env["INPUT_DIR"] == "/app/data/inputs"


def test_resources_and_probes(rendered):
    main = container(rendered)[0]
    assert main["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "2Gi"}}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert main[probe]["httpGet"] == {"path": "/health", "port": 9621}
        assert main[probe]["periodSeconds"] > 0 and main[probe]["failureThreshold"] > 0


def test_postgres_storages_and_credentials_are_secret_refs(rendered, recorded):
    main = container(rendered)[0]
    env = {e["name"]: e for e in main["env"]}
    for name, (secret, key) in dict(PG, **LLM).items():
        assert "value" not in env[name], name
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}, name
    for name, item in env.items():
        if any(word in name for word in ("PASSWORD", "API_KEY", "USERNAME")):
            assert "valueFrom" in item and "value" not in item, name
    assert env["LIGHTRAG_KV_STORAGE"]["value"] == "PGKVStorage"
    assert env["LIGHTRAG_DOC_STATUS_STORAGE"]["value"] == "PGDocStatusStorage"
    assert env["LIGHTRAG_VECTOR_STORAGE"]["value"] == "PGVectorStorage"
    assert env["LIGHTRAG_GRAPH_STORAGE"]["value"] == "NetworkXStorage"
    assert env["EMBEDDING_DIM"]["value"] == "1536" and env["LLM_BINDING"]["value"] == "openai"
    assert not any(n.startswith(("NEO4J_", "QDRANT_")) for n in env)
    # The vault key reaches the cluster only as the LLM Secret, never through the Helm values or manifests.
    assert OPENAI_KEY not in json.dumps(recorded["values"]) and OPENAI_KEY not in json.dumps(rendered)
    assert OPENAI_KEY not in recorded["stdout"]
    llm = [k["definition"] for k in recorded["k8s"] if k["definition"]["metadata"]["name"] == "lightrag-llm"]
    assert len(llm) == 1 and "stringData" not in llm[0] and OPENAI_KEY not in json.dumps(llm[0])
    # one listing of the namespace's Secrets (not a read per Secret), Helm's release records left out
    assert [(i.get("name"), i["namespace"], i["label_selectors"]) for i in recorded["info"]] == \
        [(None, "aistack-system", ["owner!=helm"])]


def test_neo4j_qdrant_and_api_key_selectable(tmp_path):
    extra = {"lightrag_graph_storage": "Neo4JStorage", "lightrag_vector_storage": "QdrantVectorDBStorage",
             "lightrag_api_key_secret": "lightrag-api", "lightrag_replicas": 2}
    proc, tenant, dummy, info = run_role(tmp_path, extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert len(info) == 1 and "name" not in info[0]  # one listing serves every backend's Secret
    refs = {e["name"]: e for e in tenant[0]["secret_env"]}
    for key in ("NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD"):
        assert refs[key] == {"name": key, "secret": "db-neo4j", "key": key}
    assert refs["QDRANT_URL"]["secret"] == "db-qdrant" and refs["QDRANT_API_KEY"]["optional"] is True
    assert refs["LIGHTRAG_API_KEY"] == {"name": "LIGHTRAG_API_KEY", "secret": "lightrag-api", "key": "LIGHTRAG_API_KEY"}
    assert tenant[0]["env"]["LIGHTRAG_GRAPH_STORAGE"] == "Neo4JStorage"
    params, values = module_values(tenant[0])
    assert values["replicaCount"] == 2


def test_latest_tag_refused_by_role(tmp_path):
    proc, tenant, k8s, info = run_role(tmp_path, {"lightrag_image_tag": "latest"})
    assert proc.returncode != 0 and "lightrag_image_tag must be a pinned version" in proc.stdout
    assert not tenant and not k8s and not info


def test_file_storages_need_one_replica(tmp_path):
    proc, tenant, k8s, dummy = run_role(tmp_path, {"lightrag_replicas": 2})
    assert proc.returncode != 0 and "lightrag_replicas is 2" in proc.stdout and "NetworkXStorage" in proc.stdout
    assert not tenant and not k8s


def test_unknown_storage_refused(tmp_path):
    proc, tenant, k8s, dummy = run_role(tmp_path, {"lightrag_graph_storage": "MemgraphStorage"})
    assert proc.returncode != 0 and "lightrag_graph_storage" in proc.stdout
    assert not tenant and not k8s


def test_missing_backend_secret_named(tmp_path):
    secrets = {k: v for k, v in SECRETS.items() if k != "db-postgresql-lightrag"}
    proc, tenant, k8s, dummy = run_role(tmp_path, {"lightrag_openai_api_key": OPENAI_KEY}, secrets=secrets)
    assert proc.returncode != 0 and not tenant and not k8s
    assert "Secret db-postgresql-lightrag (lightrag_postgres_secret, postgres) is missing" in proc.stdout


def test_secret_without_keys_named(tmp_path):
    secrets = dict(SECRETS, **{"lightrag-llm": ["OPENAI_API_KEY"]})
    proc, tenant, k8s, dummy = run_role(tmp_path, {}, secrets=secrets)
    assert proc.returncode != 0 and not tenant and not k8s
    assert "Secret lightrag-llm (lightrag_llm_secret) lacks OPENAI_API_BASE" in proc.stdout


def test_absent_reads_nothing(tmp_path):
    proc, tenant, k8s, info = run_role(tmp_path, {"lightrag_state": "absent", "lightrag_purge": True}, secrets={})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not k8s and not info
    assert tenant[0]["state"] == "absent" and tenant[0]["purge"] is True
