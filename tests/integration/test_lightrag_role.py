"""The lightrag role with the real LightRAG (lightrag-hku[api] 1.5.7, tests/images/lightrag) on the real
cluster, through helm_tenant and the generic chart, on a real PostgreSQL with pgvector.

PostgreSQL runs in the test's namespace (the project's Debian image of tests/images/postgres, a Deployment and
a Service), made the way the databases role makes a consumer: an admin, a login role and database
`lightrag` owned by it, `CREATE EXTENSION vector`, and the Secret db-postgresql-lightrag. LightRAG calls its
LLM and embedding endpoints only on insert and query (EMBEDDING_DIM is configured, not probed at start); for
the insert the test runs a stand-in OpenAI-compatible server in its namespace (test-only, deterministic: hashed
8-dimensional embeddings, one fixed entity-extraction answer), so a document goes through the real pipeline into
PostgreSQL (chunks, vectors, document status) and into the NetworkX graph file on the PVC.

Sequence: bad inputs (latest tag, missing Secret) fail naming the variable and leave the namespace as it
was; check -> apply -> check -> apply report changed, changed, unchanged, unchanged; /health (with the API
key) reports the PostgreSQL storages; LightRAG's tables exist in its database, both volumes are mounted and writable; state absent with purge
removes the release and its volumes. A document inserted through the API ends up processed.
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


# Test-only stand-in for an OpenAI-compatible endpoint (never deployed by the collection).
STAND_IN = r"""
import base64, hashlib, json, struct, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = ("entity<|#|>Aistack<|#|>organization<|#|>Aistack runs LightRAG on PostgreSQL.\n"
          "entity<|#|>PostgreSQL<|#|>technology<|#|>A relational database with the pgvector extension.\n"
          "relation<|#|>Aistack<|#|>PostgreSQL<|#|>storage<|#|>Aistack keeps LightRAG data in PostgreSQL.\n"
          "<|COMPLETE|>")


def vector(text, dim):
    raw = hashlib.sha256(text.encode()).digest() * (dim // 32 + 1)
    vals = [(b - 127.5) / 127.5 for b in raw[:dim]]
    norm = sum(v * v for v in vals) ** 0.5 or 1.0
    return [v / norm for v in vals]


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, json.dumps({"object": "list", "data": []}))

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path.endswith("/embeddings"):
            texts = req["input"] if isinstance(req["input"], list) else [req["input"]]
            dim = int(req.get("dimensions") or 8)
            data = []
            for i, text in enumerate(texts):
                vec = vector(str(text), dim)
                emb = (base64.b64encode(struct.pack("<%df" % dim, *vec)).decode()
                       if req.get("encoding_format") == "base64" else vec)
                data.append({"object": "embedding", "index": i, "embedding": emb})
            body = {"object": "list", "data": data, "model": req.get("model"),
                    "usage": {"prompt_tokens": 1, "total_tokens": 1}}
            return self._send(200, json.dumps(body))
        if self.path.endswith("/chat/completions"):
            base = {"id": "stand-in", "created": int(time.time()), "model": req.get("model")}
            if req.get("stream"):
                chunk = dict(base, object="chat.completion.chunk",
                             choices=[{"index": 0, "delta": {"role": "assistant", "content": ANSWER}, "finish_reason": None}])
                end = dict(base, object="chat.completion.chunk", choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
                return self._send(200, "data: %s\n\ndata: %s\n\ndata: [DONE]\n\n" % (json.dumps(chunk), json.dumps(end)),
                                  "text/event-stream")
            body = dict(base, object="chat.completion",
                        choices=[{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
                        usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})
            return self._send(200, json.dumps(body))
        self._send(404, "{}")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
"""


def _stand_in_manifests(ns):
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "openai-stand-in", "namespace": ns},
         "data": {"server.py": STAND_IN}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "openai-stand-in", "namespace": ns},
         "spec": {"selector": {"matchLabels": {"app": "openai-stand-in"}}, "template": {
             "metadata": {"labels": {"app": "openai-stand-in"}},
             "spec": {"containers": [{
                 "name": "server", "image": LIGHTRAG_IMAGE, "imagePullPolicy": "Never",
                 "command": ["python3", "/stand-in/server.py"], "ports": [{"containerPort": 8000}],
                 "volumeMounts": [{"name": "code", "mountPath": "/stand-in"}],
                 "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 2},
                 "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}}],
                 "volumes": [{"name": "code", "configMap": {"name": "openai-stand-in"}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "openai-stand-in", "namespace": ns},
         "spec": {"selector": {"app": "openai-stand-in"}, "ports": [{"port": 8000, "targetPort": 8000}]}},
    ]}


def _stand_in_url(ns):
    return "http://openai-stand-in.%s.svc.cluster.local:8000/v1" % ns


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
        # the LLM endpoint: the test's stand-in server
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "lightrag-llm", "namespace": ns},
         "stringData": {"OPENAI_API_KEY": "sk-stand-in-not-used", "OPENAI_API_BASE": _stand_in_url(ns)}},
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


def _memory(kubectl, ns):
    """(cgroup memory, lightrag-server RSS) of the pod in MiB (cgroup v1 or v2)."""
    out = _in_pod(kubectl, ns, "import os\nfor p in ('/sys/fs/cgroup/memory.current','/sys/fs/cgroup/memory/memory.usage_in_bytes'):\n"
                               "    if os.path.exists(p): print(open(p).read().strip()); break\n"
                               "print(open('/proc/1/status').read().split('VmRSS:')[1].split()[0])").split()
    return [round(int(out[0]) / 2 ** 20), round(int(out[1]) / 1024)]


def _release_objects(kubectl, ns):
    return kubectl("-n", ns, "get", "deploy,svc,pvc,netpol,sa", "-l", "app.kubernetes.io/instance=" + RELEASE,
                   "-o", "name").stdout.split()


def test_lightrag_role_on_postgres(run_playbook, kubectl, namespace, playbook, images):
    ns = namespace
    started = time.time()
    # bad inputs fail before anything is written (the namespace does not exist yet)
    proc = run_playbook(playbook, extra_vars=_vars(ns, lightrag_image_tag="latest"))
    assert proc.returncode != 0 and "lightrag_image_tag must be a pinned version" in proc.stdout, proc.stdout[-2000:]
    proc = run_playbook(playbook, extra_vars=_vars(ns, lightrag_tracing=True,
                                                   lightrag_phoenix_endpoint="http://phoenix:6006/v1/traces"))
    assert proc.returncode != 0 and "lightrag_phoenix_endpoint is 'http://phoenix:6006/v1/traces'" in proc.stdout, \
        proc.stdout[-2000:]
    assert kubectl("get", "namespace", ns, check=False).returncode != 0

    kubectl("create", "namespace", ns)
    kubectl("apply", "-f", "-", input=json.dumps(_postgres_manifests(ns)))
    kubectl("apply", "-f", "-", input=json.dumps(_stand_in_manifests(ns)))
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
    assert conf["llm_binding_host"] == _stand_in_url(ns)

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

    NUMBERS["lightrag MiB at rest (cgroup, RSS)"] = _memory(kubectl, ns)

    # a document through the real pipeline: chunks, vectors and status in PostgreSQL, the graph on the PVC
    kubectl("-n", ns, "rollout", "status", "deploy/openai-stand-in", "--timeout=120s")
    insert = ("import json,urllib.request as u;"
              "r=u.Request('http://127.0.0.1:9621/documents/text',method='POST',data=json.dumps({'text':"
              "'Aistack runs LightRAG on PostgreSQL. PostgreSQL keeps the vectors with pgvector.',"
              "'file_source':'aistack.txt'}).encode(),headers={'X-API-Key':%r,'Content-Type':'application/json'});"
              "print(u.urlopen(r,timeout=30).read().decode())" % API_KEY)
    assert json.loads(_in_pod(kubectl, ns, insert))["status"] in ("success", "duplicated"), "insert refused"

    def status():
        got = _psql(kubectl, ns, "select status from lightrag_doc_status")
        assert "failed" not in got, _psql(kubectl, ns, "select error_msg from lightrag_doc_status")
        return got == ["processed"]
    wait_until("the document processed", status, 240, interval=3)
    vdb = _psql(kubectl, ns, "select tablename from pg_tables where tablename like 'lightrag_vdb_%' order by 1")
    counts = {t: int(_psql(kubectl, ns, "select count(*) from %s" % t)[0]) for t in vdb}
    assert all(n > 0 for n in counts.values()) and len(counts) == 3, counts
    graph = _in_pod(kubectl, ns, "print(open('/app/data/rag_storage/graph_chunk_entity_relation.graphml').read())")
    assert "Aistack" in graph and "PostgreSQL" in graph

    NUMBERS["lightrag MiB after one insert (cgroup, RSS)"] = _memory(kubectl, ns)

    # absent with purge: release, volumes and nothing else of LightRAG left
    proc = run_playbook(playbook, extra_vars=_vars(ns, lightrag_state="absent", lightrag_purge=True))
    assert proc.returncode == 0 and proc.recap["changed"] >= 1, proc.stdout[-3000:]
    wait_until("the release's objects gone", lambda: _release_objects(kubectl, ns) == [], 120)
    proc = run_playbook(playbook, extra_vars=_vars(ns, lightrag_state="absent", lightrag_purge=True))
    assert proc.returncode == 0 and proc.recap["changed"] == 0, proc.stdout[-3000:]
    NUMBERS["test s"] = round(time.time() - started, 1)
    print("\nlightrag numbers: %s" % json.dumps(NUMBERS))
