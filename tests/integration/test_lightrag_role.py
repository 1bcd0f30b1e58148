"""The lightrag role with the real LightRAG (lightrag-hku[api] 1.5.7, tests/images/lightrag) on the real
cluster, through helm_tenant and the generic chart, on a real PostgreSQL with pgvector.

PostgreSQL runs in the test's namespace (the project's Debian image of tests/images/postgres, a Deployment and
a Service), made the way the databases role makes a consumer: an admin, a login role and database
`lightrag` owned by it, `CREATE EXTENSION vector`, and the Secret db-postgresql-lightrag. LightRAG calls its
LLM and embedding endpoints only on insert and query (EMBEDDING_DIM is configured, not probed), so the LLM
Secret points at an address where nothing listens, and the test stays at start-up, /health and the tables.

Sequence: bad inputs (latest tag, missing Secret) fail naming the variable and leave the namespace as it
was; check -> apply -> check -> apply report changed, changed, unchanged, unchanged; /health (with the API
key) reports the PostgreSQL storages; LightRAG's tables exist in its database, both volumes are mounted and writable; state absent with purge
removes the release and its volumes.
"""

import json
import time
import uuid
from pathlib import Path

import pytest

from conftest import converge_sequence, wait_until
from test_langgraph_worker import _docker_has, ensure_image

ROOT = Path(__file__).resolve().parents[2]
LIGHTRAG_IMAGE = "aistack.local/lightrag:1.5.7"
PG_IMAGE = "aistack.local/postgres:17"
PG_PASSWORD = "lr-" + uuid.uuid4().hex[:16]
API_KEY = "lk-" + uuid.uuid4().hex[:20]
RELEASE = "platform-lightrag-dev"
NUMBERS = {}


@pytest.fixture(scope="module")
def images(kubeconfig):
    cold = not _docker_has(LIGHTRAG_IMAGE)
    start = time.time()
    ensure_image(LIGHTRAG_IMAGE, ROOT / "tests/images/lightrag")
    NUMBERS["lightrag image %s build+import s" % ("cold" if cold else "warm")] = round(time.time() - start, 1)
    ensure_image(PG_IMAGE, ROOT / "tests/images/postgres")


@pytest.fixture
def playbook(tmp_path):
    path = tmp_path / "lightrag.yml"
    path.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.lightrag\n")
    return path


def _vars(ns, **extra):
    base = {"lightrag_namespace": ns, "lightrag_environment": "dev",
            "lightrag_image_repository": LIGHTRAG_IMAGE.rsplit(":", 1)[0], "lightrag_image_tag": "1.5.7",
            "lightrag_image_pull_policy": "Never", "lightrag_api_key_secret": "lightrag-api",
            "lightrag_rag_storage_size": "1Gi", "lightrag_inputs_size": "1Gi",
            "lightrag_resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                   "limits": {"cpu": "1000m", "memory": "1536Mi"}},
            "lightrag_embedding_dim": 8, "lightrag_embedding_model": "stand-in-embedding",
            "lightrag_liveness_initial_delay": 10, "lightrag_wait_timeout": 420}
    base.update(extra)
    return base


def _postgres_manifests(ns):
    init = ("CREATE ROLE lightrag LOGIN PASSWORD '%s';\nCREATE DATABASE lightrag OWNER lightrag;\n"
            "\\connect lightrag\nCREATE EXTENSION IF NOT EXISTS vector;\n" % PG_PASSWORD)
    host = "postgresql.%s.svc.cluster.local" % ns
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pg-init", "namespace": ns},
         "data": {"10-lightrag.sql": init}},
        # what the databases role writes for a consumer named lightrag
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-postgresql-lightrag", "namespace": ns},
         "stringData": {"POSTGRES_HOST": host, "POSTGRES_PORT": "5432", "POSTGRES_USER": "lightrag",
                        "POSTGRES_PASSWORD": PG_PASSWORD, "POSTGRES_DATABASE": "lightrag",
                        "DATABASE_URL": "postgresql://lightrag:%s@%s:5432/lightrag" % (PG_PASSWORD, host)}},
        # stand-in LLM endpoint: nothing listens there; LightRAG only calls it on insert and query
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "lightrag-llm", "namespace": ns},
         "stringData": {"OPENAI_API_KEY": "sk-stand-in-not-used", "OPENAI_API_BASE": "http://127.0.0.1:9/v1"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "lightrag-api", "namespace": ns},
         "stringData": {"LIGHTRAG_API_KEY": API_KEY}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "postgresql", "namespace": ns},
         "spec": {"selector": {"matchLabels": {"app": "postgresql"}}, "template": {
             "metadata": {"labels": {"app": "postgresql"}},
             "spec": {"containers": [{
                 "name": "postgresql", "image": PG_IMAGE, "imagePullPolicy": "Never",
                 "env": [{"name": "POSTGRES_USER", "value": "postgres"},
                         {"name": "POSTGRES_PASSWORD", "value": "admin-" + PG_PASSWORD}],
                 "ports": [{"containerPort": 5432}],
                 "volumeMounts": [{"name": "init", "mountPath": "/docker-entrypoint-initdb.d"}],
                 "readinessProbe": {"exec": {"command": ["pg_isready", "-U", "postgres", "-h", "127.0.0.1"]},
                                    "periodSeconds": 2},
                 "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}],
                 "volumes": [{"name": "init", "configMap": {"name": "pg-init"}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "postgresql", "namespace": ns},
         "spec": {"selector": {"app": "postgresql"}, "ports": [{"port": 5432, "targetPort": 5432}]}},
    ]}


def _psql(kubectl, ns, sql):
    return kubectl("-n", ns, "exec", "deploy/postgresql", "--", "psql", "-U", "lightrag", "-d", "lightrag", "-Atc",
                   sql).stdout.split()


def _in_pod(kubectl, ns, code):
    return kubectl("-n", ns, "exec", "deploy/" + RELEASE, "--", "python3", "-c", code).stdout


HEALTH = ("import json,sys,urllib.request as u;"
          "r=u.Request('http://127.0.0.1:9621/health',headers=%s);"
          "print(u.urlopen(r,timeout=10).read().decode())")


def _release_objects(kubectl, ns):
    return kubectl("-n", ns, "get", "deploy,svc,pvc,netpol,sa", "-l", "app.kubernetes.io/instance=" + RELEASE,
                   "-o", "name").stdout.split()


def test_lightrag_role_on_postgres(run_playbook, kubectl, namespace, playbook, images):
    ns = namespace
    started = time.time()
    # bad inputs fail before anything is written (the namespace does not exist yet)
    proc = run_playbook(playbook, extra_vars=_vars(ns, lightrag_image_tag="latest"))
    assert proc.returncode != 0 and "lightrag_image_tag must be a pinned version" in proc.stdout, proc.stdout[-2000:]
    assert kubectl("get", "namespace", ns, check=False).returncode != 0

    kubectl("create", "namespace", ns)
    kubectl("apply", "-f", "-", input=json.dumps(_postgres_manifests(ns)))
    proc = run_playbook(playbook, extra_vars=_vars(ns, lightrag_postgres_secret="no-such-secret"))
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Secret no-such-secret (lightrag_postgres_secret, postgres) is missing" in proc.stdout, proc.stdout[-2000:]
    assert _release_objects(kubectl, ns) == []
    assert kubectl("-n", ns, "get", "secret", "-o", "name").stdout.split() == [
        "secret/db-postgresql-lightrag", "secret/lightrag-api", "secret/lightrag-llm"]
    kubectl("-n", ns, "rollout", "status", "deploy/postgresql", "--timeout=180s")

    # check -> apply -> check -> apply
    t0 = time.time()
    runs = converge_sequence(run_playbook, playbook, _vars(ns))
    NUMBERS["converge sequence s"] = round(time.time() - t0, 1)
    assert runs[0] >= 1 and runs[1] >= 1 and runs[2:] == [0, 0], runs

    dep = json.loads(kubectl("-n", ns, "get", "deploy", RELEASE, "-o", "json").stdout)
    pod = dep["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert main["image"] == LIGHTRAG_IMAGE and dep["spec"]["strategy"]["type"] == "Recreate"
    env = {e["name"]: e for e in main["env"]}
    pg_ref = {"name": "db-postgresql-lightrag", "key": "POSTGRES_PASSWORD"}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == pg_ref
    assert env["LIGHTRAG_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "lightrag-api"
    pvcs = json.loads(kubectl("-n", ns, "get", "pvc", "-o", "json").stdout)["items"]
    assert sorted(p["metadata"]["name"] for p in pvcs) == [RELEASE + "-data", RELEASE + "-inputs"]
    assert all(p["status"]["phase"] == "Bound" for p in pvcs)

    # /health: unauthenticated only liveness, with the API key the storages
    public = json.loads(_in_pod(kubectl, ns, HEALTH % "{}"))
    assert public["status"] == "healthy" and public["core_version"] == "1.5.7" and "configuration" not in public
    health = json.loads(_in_pod(kubectl, ns, HEALTH % ("{'X-API-Key': %r}" % API_KEY)))
    conf = health["configuration"]
    assert (conf["kv_storage"], conf["doc_status_storage"], conf["vector_storage"], conf["graph_storage"]) == \
        ("PGKVStorage", "PGDocStatusStorage", "PGVectorStorage", "NetworkXStorage"), conf
    assert health["working_directory"] == "/app/data/rag_storage" and health["input_directory"] == "/app/data/inputs"
    assert conf["llm_binding_host"] == "http://127.0.0.1:9/v1"

    # LightRAG made its tables in its own database; the graph file lives on the rag_storage volume
    tables = _psql(kubectl, ns, "select tablename from pg_tables where schemaname='public' order by 1")
    assert {"lightrag_doc_full", "lightrag_doc_status", "lightrag_doc_chunks"} <= set(tables), tables
    assert any(t.startswith("lightrag_vdb_chunks") for t in tables), tables
    assert _psql(kubectl, ns, "select extname from pg_extension where extname='vector'") == ["vector"]
    # (NetworkX writes its GraphML file on the first insert; until then: both volumes mounted and writable)
    mounts = _in_pod(kubectl, ns, "import os\nfor d in ('/app/data/rag_storage','/app/data/inputs'):\n"
                                  "    print(d, os.path.ismount(d), os.access(d, os.W_OK))").split("\n")
    assert mounts[:2] == ["/app/data/rag_storage True True", "/app/data/inputs True True"], mounts
    # a diff run shows no credential and changes nothing
    proc = run_playbook(playbook, extra_vars=_vars(ns), check=True, diff=True)
    assert proc.returncode == 0 and proc.recap["changed"] == 0, proc.stdout[-3000:]
    assert PG_PASSWORD not in proc.stdout and API_KEY not in proc.stdout

    # memory at rest (the container's cgroup, v1 or v2)
    mem = _in_pod(kubectl, ns, "import os\nfor p in ('/sys/fs/cgroup/memory.current','/sys/fs/cgroup/memory/memory.usage_in_bytes'):\n"
                               "    if os.path.exists(p): print(open(p).read().strip()); break\n"
                               "print(open('/proc/1/status').read().split('VmRSS:')[1].split()[0])").split()
    NUMBERS["lightrag cgroup memory MiB"] = round(int(mem[0]) / 2 ** 20)
    NUMBERS["lightrag-server RSS MiB"] = round(int(mem[1]) / 1024)

    # absent with purge: release, volumes and nothing else of LightRAG left
    proc = run_playbook(playbook, extra_vars=_vars(ns, lightrag_state="absent", lightrag_purge=True))
    assert proc.returncode == 0 and proc.recap["changed"] >= 1, proc.stdout[-3000:]
    wait_until("the release's objects gone", lambda: _release_objects(kubectl, ns) == [], 120)
    proc = run_playbook(playbook, extra_vars=_vars(ns, lightrag_state="absent", lightrag_purge=True))
    assert proc.returncode == 0 and proc.recap["changed"] == 0, proc.stdout[-3000:]
    NUMBERS["test s"] = round(time.time() - started, 1)
    print("\nlightrag numbers: %s" % json.dumps(NUMBERS))
