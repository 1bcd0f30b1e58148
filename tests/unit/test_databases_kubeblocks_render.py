"""What the databases role's kubeblocks backend asks of Kubernetes (no cluster): the real role runs through
ansible-playbook against recording stand-ins of kubernetes.core (helm, k8s, k8s_info) and of
aistack.platform.external_service, so every rendered manifest and every pinned chart can be checked. The
operator, addons and images cannot run here (no image can be pulled), so these are render-only."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "build" / "collections"
CACHE_BIN = Path.home() / ".cache" / "aistack" / "bin"

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
            key = "%s/%s" % (self._task.args.get("kind"), self._task.args.get("name"))
            result["resources"] = table.get(key, [])
        else:
            result["changed"] = True
        return result
'''

PG_ADMIN_PASSWORD = "kb-Gen3rated/pw"
REDIS_PASSWORD = "redis-Gen3rated-pw"
NEO4J_PASSWORD = "neo4j-Gen3rated-pw"
LIGHTRAG_PASSWORD = "lightrag-consumer-pw"
QDRANT_KEY = "qdrant-api-key-123"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def fake_collections(tmp_path):
    """kubernetes.core and an overlay of aistack.platform whose external_service records instead of acting."""
    base = tmp_path / "collections" / "ansible_collections"
    for plugin_dir, names in ((base / "kubernetes" / "core" / "plugins" / "action", ("helm", "k8s", "k8s_info")),
                              (base / "aistack" / "platform" / "plugins" / "action", ("external_service",))):
        plugin_dir.mkdir(parents=True)
        for name in names:
            (plugin_dir / (name + ".py")).write_text(RECORDER)
    overlay = base / "aistack" / "platform"
    for entry in ("roles", "meta", "galaxy.yml", "charts"):
        (overlay / entry).symlink_to(ROOT / entry)
    for entry in ("modules", "module_utils", "plugin_utils", "filter", "doc_fragments"):
        (overlay / "plugins" / entry).symlink_to(ROOT / "plugins" / entry)
    return tmp_path / "collections"


def run_role(tmp_path, extra):
    fakes = fake_collections(tmp_path)
    info = {
        "Cluster/" + name: [{"status": {"phase": "Running"}}] for name in ("pg", "redis", "qdrant", "neo4j")
    }
    info["Secret/pg-postgresql-account-postgres"] = [{"data": {"username": b64("postgres"), "password": b64(PG_ADMIN_PASSWORD)}}]
    info["Secret/redis-redis-account-default"] = [{"data": {"username": b64("default"), "password": b64(REDIS_PASSWORD)}}]
    info["Secret/neo4j-neo4j-account-admin"] = [{"data": {"username": b64("neo4j"), "password": b64(NEO4J_PASSWORD)}}]
    (tmp_path / "info.json").write_text(json.dumps(info))
    log = tmp_path / "record.jsonl"
    playbook = tmp_path / "run.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.databases\n")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(fakes), str(COLLECTIONS)]),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, RECORD_LOG=str(log), RECORD_INFO=str(tmp_path / "info.json"),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), str(CACHE_BIN), os.environ.get("PATH", "")]))
    extra = dict({"databases_backend": "kubeblocks"}, **extra)
    proc = subprocess.run(["ansible-playbook", str(playbook), "-i", "localhost,", "-c", "local", "-e", json.dumps(extra)],
                          env=env, capture_output=True, text=True, check=False, timeout=300)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, calls


def of(calls, action):
    return [c["args"] for c in calls if c["action"].endswith("." + action)]


def applied(calls):
    """Every object handed to kubernetes.core.k8s as a definition, flattened."""
    objs = []
    for args in of(calls, "k8s"):
        definition = args.get("definition")
        if isinstance(definition, list):
            objs.extend(definition)
        elif isinstance(definition, dict):
            objs.append(definition)
    return objs


def find(objs, kind, name=None):
    return [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def decoded(secret):
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


FULL = {
    "databases_services": ["postgresql", "redis", "qdrant", "neo4j"],
    "databases_namespace": "platform",
    "databases_secret_namespaces": ["apps"],
    "databases_qdrant_api_key": QDRANT_KEY,
    "databases_postgres_consumers": [{"name": "lightrag", "password": LIGHTRAG_PASSWORD, "namespace": "apps"}],
    "databases_kubeblocks_storage_class": "fast-ssd",
    "databases_kubeblocks_clusters": {
        "postgresql": {"service_version": "16.4.0", "replicas": 3, "cpu": "2", "memory": "4Gi", "storage": "50Gi"},
        "redis": {"service_version": "7.2.4", "replicas": 2, "cpu": "750m", "memory": "3Gi", "storage": "7Gi"},
        "qdrant": {"service_version": "1.10.0", "replicas": 1, "cpu": "1500m", "memory": "5Gi", "storage": "30Gi"},
        "neo4j": {"service_version": "5.26.5", "replicas": 1, "cpu": "3", "memory": "6Gi", "storage": "40Gi"},
    },
}


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    proc, calls = run_role(tmp_path_factory.mktemp("kb"), FULL)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return calls


def test_operator_and_addons_pinned(full):
    releases = {h["name"]: h for h in of(full, "helm")}
    assert set(releases) == {"kubeblocks", "kb-addon-postgresql", "kb-addon-redis", "kb-addon-qdrant", "kb-addon-neo4j"}
    assert releases["kubeblocks"]["chart_version"] == "1.0.1"
    assert releases["kubeblocks"]["values"] == {"autoInstalledAddons": []}
    assert releases["kb-addon-postgresql"]["chart_version"] == "1.0.1"
    assert releases["kb-addon-redis"]["chart_version"] == "1.0.1"
    assert releases["kb-addon-qdrant"]["chart_version"] == "1.0.0"
    assert releases["kb-addon-neo4j"]["chart_version"] == "1.0.0"
    for rel in releases.values():
        assert rel["chart_repo_url"] == "https://apecloud.github.io/helm-charts"
        assert rel["release_namespace"] == "kb-system"
        assert rel["chart_version"][0].isdigit() and rel["chart_version"] != "latest"


def test_one_cluster_per_service_sized_from_variables(full):
    clusters = {c["metadata"]["name"]: c for c in find(applied(full), "Cluster")}
    assert set(clusters) == {"pg", "redis", "qdrant", "neo4j"}
    for svc, name in (("postgresql", "pg"), ("redis", "redis"), ("qdrant", "qdrant"), ("neo4j", "neo4j")):
        cluster = clusters[name]
        size = FULL["databases_kubeblocks_clusters"][svc]
        assert cluster["apiVersion"] == "apps.kubeblocks.io/v1"
        assert cluster["metadata"]["namespace"] == "platform"
        assert cluster["spec"]["clusterDef"] == svc
        comps = cluster["spec"]["componentSpecs"]
        assert len(comps) == 1 and comps[0]["name"] == svc
        comp = comps[0]
        assert comp["serviceVersion"] == size["service_version"]
        assert comp["replicas"] == size["replicas"]
        assert comp["resources"]["requests"] == {"cpu": size["cpu"], "memory": size["memory"]}
        assert comp["resources"]["limits"] == {"cpu": size["cpu"], "memory": size["memory"]}
        claim = comp["volumeClaimTemplates"][0]["spec"]
        assert claim["resources"]["requests"]["storage"] == size["storage"]
        assert claim["storageClassName"] == "fast-ssd"
    assert clusters["pg"]["spec"]["topology"] == "replication"


def test_consumers_job_creates_vector_without_clear_passwords(full):
    objs = applied(full)
    jobs = find(objs, "Job")
    assert len(jobs) == 1 and jobs[0]["metadata"]["name"].startswith("aistack-pg-consumers-")
    container = jobs[0]["spec"]["template"]["spec"]["containers"][0]
    assert jobs[0]["spec"]["template"]["spec"]["enableServiceLinks"] is False
    assert container["image"] == "pgvector/pgvector:0.8.0-pg17"
    env = {e["name"]: e for e in container["env"]}
    assert env["PGHOST"]["value"] == "pg-postgresql.platform.svc.cluster.local"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "pg-postgresql-account-postgres", "key": "password"}
    assert "value" not in env["PGPASSWORD"] and "value" not in env["POSTGRES_USER"]
    assert container["envFrom"] == [{"secretRef": {"name": "aistack-postgresql-consumers"}}]
    script = find(objs, "ConfigMap", "aistack-postgresql-consumers")[0]["data"]["consumers.sh"]
    assert "consumer 'lightrag' 'lightrag' 'AISTACK_PG_PASSWORD_LIGHTRAG' 'vector'" in script
    assert 'CREATE EXTENSION IF NOT EXISTS' in script
    assert LIGHTRAG_PASSWORD not in script and PG_ADMIN_PASSWORD not in script
    secret = find(objs, "Secret", "aistack-postgresql-consumers")[0]
    assert decoded(secret) == {"AISTACK_PG_PASSWORD_LIGHTRAG": LIGHTRAG_PASSWORD}
    assert LIGHTRAG_PASSWORD not in json.dumps(jobs[0]) and PG_ADMIN_PASSWORD not in json.dumps(jobs[0])


def test_externalname_registrations(full):
    regs = {r["name"]: r for r in of(full, "external_service")}
    assert set(regs) == {"postgresql", "redis", "qdrant", "neo4j"}
    assert regs["postgresql"]["external_name"].strip() == "pg-postgresql.platform.svc.cluster.local"
    assert regs["redis"]["external_name"].strip() == "redis-redis.platform.svc.cluster.local"
    assert regs["neo4j"]["external_name"].strip() == "neo4j-neo4j.platform.svc.cluster.local"
    assert all(r["namespace"] == "platform" for r in regs.values())
    assert [p["port"] for p in regs["qdrant"]["ports"]] == [6333, 6334]
    assert [p["port"] for p in regs["neo4j"]["ports"]] == [7474, 7687]


def test_app_secrets_match_compose_names_and_keys(full):
    secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in find(applied(full), "Secret")
               if s["metadata"]["name"].startswith("db-")}
    assert set(secrets) == {
        ("platform", "db-postgresql-admin"), ("apps", "db-postgresql-lightrag"),
        ("platform", "db-redis"), ("apps", "db-redis"), ("platform", "db-qdrant"), ("apps", "db-qdrant"),
        ("platform", "db-neo4j"), ("apps", "db-neo4j"),
    }
    for secret in secrets.values():
        # Values only as base64 data, never as clear stringData.
        assert "stringData" not in secret and secret["metadata"]["labels"]["aistack.io/databases-backend"] == "kubeblocks"
    consumer = decoded(secrets[("apps", "db-postgresql-lightrag")])
    assert set(consumer) == {"POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DATABASE", "DATABASE_URL"}
    assert consumer["POSTGRES_HOST"] == "postgresql.platform.svc.cluster.local"
    assert consumer["POSTGRES_PASSWORD"] == LIGHTRAG_PASSWORD and consumer["POSTGRES_USER"] == "lightrag"
    admin = decoded(secrets[("platform", "db-postgresql-admin")])
    assert admin["POSTGRES_USER"] == "postgres" and admin["POSTGRES_PASSWORD"] == PG_ADMIN_PASSWORD
    assert admin["DATABASE_URL"] == "postgresql://postgres:kb-Gen3rated%2Fpw@postgresql.platform.svc.cluster.local:5432/postgres"
    redis = decoded(secrets[("apps", "db-redis")])
    assert set(redis) == {"REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_URL"}
    assert redis["REDIS_PASSWORD"] == REDIS_PASSWORD and redis["REDIS_HOST"] == "redis.platform.svc.cluster.local"
    qdrant = decoded(secrets[("platform", "db-qdrant")])
    assert qdrant == {"QDRANT_URL": "http://qdrant.platform.svc.cluster.local:6333",
                      "QDRANT_GRPC_URL": "http://qdrant.platform.svc.cluster.local:6334", "QDRANT_API_KEY": QDRANT_KEY}
    neo4j = decoded(secrets[("apps", "db-neo4j")])
    assert set(neo4j) == {"NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD"} and neo4j["NEO4J_PASSWORD"] == NEO4J_PASSWORD


def test_default_sizes_without_postgresql(tmp_path):
    proc, calls = run_role(tmp_path, {"databases_services": ["redis", "neo4j"]})
    assert proc.returncode == 0, proc.stdout[-4000:]
    clusters = {c["metadata"]["name"]: c for c in find(applied(calls), "Cluster")}
    assert set(clusters) == {"redis", "neo4j"}
    assert clusters["neo4j"]["spec"]["componentSpecs"][0]["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    comp = clusters["redis"]["spec"]["componentSpecs"][0]
    assert comp["replicas"] == 1 and comp["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert comp["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert "storageClassName" not in comp["volumeClaimTemplates"][0]["spec"]
    assert not find(applied(calls), "Job")
    assert {h["name"] for h in of(calls, "helm")} == {"kubeblocks", "kb-addon-redis", "kb-addon-neo4j"}


def test_default_services_without_neo4j(tmp_path):
    proc, calls = run_role(tmp_path, {})
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert {c["metadata"]["name"] for c in find(applied(calls), "Cluster")} == {"pg", "redis"}
    assert {s["metadata"]["name"] for s in find(applied(calls), "Secret")} >= {"db-postgresql-admin", "db-redis"}


def test_minio_refused(tmp_path):
    proc, calls = run_role(tmp_path, {"databases_services": ["postgresql", "minio"]})
    assert proc.returncode != 0 and "not minio" in proc.stdout
    assert not of(calls, "helm")
