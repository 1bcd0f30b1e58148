"""The langgraph_worker role and the reference worker on the real cluster.

Redis runs in the test's namespace (the Debian-based image of tests/images/redis, with requirepass);
the test writes the Secrets the role expects (db-redis as the databases role makes it, the env Secret,
a credentials file), then: bad inputs fail before anything is created; check -> apply -> check -> apply
reports changed, changed, unchanged, unchanged; a pushed job gets its result; a pod killed in the middle
of a slow job loses nothing (the next pod re-queues and finishes it).
"""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from conftest import ROOT as _ROOT, local_image_vars, wait_until

sys.path.insert(0, str(_ROOT / "tests" / "images"))
import local_images  # noqa: E402  # pylint: disable=wrong-import-position

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tests" / "images" / "langgraph-worker" / "build-image.sh"
WORKER_IMAGE = "aistack.local/langgraph-worker:0.1.0"
REDIS_IMAGE = "aistack.local/redis:8"
REDIS_PASSWORD = "rq-" + uuid.uuid4().hex[:16]


def _docker_has(ref):
    return local_images.docker_has(ref)


def ensure_image(ref, ctx):
    """Build ``ref`` from ``ctx`` when Docker lacks it; import it into the cluster unless already there."""
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.fail("no Docker engine: run tests/cluster/cluster.sh docker base-image")
    try:
        local_images.build(ref, [str(BUILD), str(ctx)])
    except RuntimeError as err:
        pytest.fail(str(err))
    local_images.import_into_cluster(ref)


@pytest.fixture(scope="session")
def worker_images(kubeconfig):
    ensure_image(WORKER_IMAGE, ROOT / "tests/images/langgraph-worker")
    ensure_image(REDIS_IMAGE, ROOT / "tests/images/redis")
    return {"worker": WORKER_IMAGE, "redis": REDIS_IMAGE}


def _redis_manifests(ns):
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-redis", "namespace": ns},
         "stringData": {"REDIS_HOST": "redis.%s.svc.cluster.local" % ns, "REDIS_PORT": "6379",
                        "REDIS_PASSWORD": REDIS_PASSWORD,
                        "REDIS_URL": "redis://:%s@redis.%s.svc.cluster.local:6379/0" % (REDIS_PASSWORD, ns)}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "worker-env", "namespace": ns},
         "stringData": {"AI_MODEL": "fake:test-model", "HEARTBEAT_TTL_SECONDS": "6", "OPENAI_API_KEY": "sk-unused"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "worker-creds", "namespace": ns},
         "stringData": {"serviceAccountKey.json": '{"type": "service_account"}'}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "redis", "namespace": ns},
         "spec": {"selector": {"matchLabels": {"app": "redis"}}, "template": {
             "metadata": {"labels": {"app": "redis"}},
             "spec": {"containers": [{
                 "name": "redis", "image": REDIS_IMAGE, "imagePullPolicy": "Never",
                 "command": ["sh", "-c", 'exec redis-server --requirepass "$REDIS_PASSWORD" --save "" --appendonly no'],
                 "env": [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-redis", "key": "REDIS_PASSWORD"}}}],
                 "ports": [{"containerPort": 6379}],
                 "readinessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 2},
                 "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "redis", "namespace": ns},
         "spec": {"selector": {"app": "redis"}, "ports": [{"port": 6379, "targetPort": 6379}]}},
    ]}


@pytest.fixture
def playbook(tmp_path):
    path = tmp_path / "worker.yml"
    path.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.langgraph_worker\n")
    return path


def _vars(ns, **extra):
    base = {**local_image_vars(), "langgraph_worker_namespace": ns, "langgraph_worker_name": "worker",
            "langgraph_worker_env_secret": "worker-env", "langgraph_worker_credentials_secret": "worker-creds",
            "langgraph_worker_image_pull_policy": "Never", "langgraph_worker_termination_grace_seconds": 2,
            "langgraph_worker_liveness_initial_delay": 5, "langgraph_worker_readiness_initial_delay": 1,
            "langgraph_worker_resources": {"requests": {"cpu": "50m", "memory": "96Mi"},
                                           "limits": {"cpu": "300m", "memory": "256Mi"}},
            "langgraph_worker_wait_timeout": 180}
    base.update(extra)
    return base


def _redis(kubectl, ns, *args):
    return kubectl("-n", ns, "exec", "deploy/redis", "--", "redis-cli", "--no-auth-warning", "-a", REDIS_PASSWORD,
                   *args).stdout.strip()


def _wait_for(what, fn, timeout):
    return wait_until(what, fn, timeout, interval=1)


def _worker_pods(kubectl, ns):
    doc = json.loads(kubectl("-n", ns, "get", "pods", "-l", "app.kubernetes.io/instance=worker", "-o", "json").stdout)
    return [p for p in doc["items"] if not p["metadata"].get("deletionTimestamp")]


def _ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def test_worker_role_and_queue(run_playbook, kubectl, namespace, playbook, worker_images):
    ns = namespace
    # bad inputs fail before anything is created (the namespace does not even exist yet)
    # (more bad inputs, refused by the same checks, in tests/unit/test_langgraph_worker_render.py)
    for bad, needle in (({"langgraph_worker_image_tag": "latest"}, "langgraph_worker_image_tag"),
                        ({"langgraph_worker_env_secret": ""}, "langgraph_worker_env_secret")):
        proc = run_playbook(playbook, extra_vars=_vars(ns, **bad))
        assert proc.returncode != 0 and needle in proc.stdout, proc.stdout[-2000:]
    kubectl("create", "namespace", ns)
    proc = run_playbook(playbook, extra_vars=_vars(ns, langgraph_worker_env_secret="no-such-secret"))
    assert proc.returncode != 0 and "no-such-secret" in proc.stdout, proc.stdout[-2000:]
    assert kubectl("-n", ns, "get", "deploy,svc,sa", "-o", "name").stdout.strip() in ("", "serviceaccount/default")

    kubectl("apply", "-f", "-", input=json.dumps(_redis_manifests(ns)))
    kubectl("-n", ns, "rollout", "status", "deploy/redis", "--timeout=120s")

    recaps = []
    for check in (True, False, True, False):
        proc = run_playbook(playbook, extra_vars=_vars(ns), check=check)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        recaps.append(proc.recap["changed"])
        assert REDIS_PASSWORD not in proc.stdout
    assert recaps[0] >= 1 and recaps[1] >= 1 and recaps[2:] == [0, 0], recaps

    dep = json.loads(kubectl("-n", ns, "get", "deploy", "worker", "-o", "json").stdout)
    pod_spec = dep["spec"]["template"]["spec"]
    c = pod_spec["containers"][0]
    assert c["image"] == WORKER_IMAGE and dep["spec"]["replicas"] == 1
    assert c["envFrom"] == [{"secretRef": {"name": "worker-env"}}]
    assert c["livenessProbe"]["httpGet"]["path"] == "/ok" and c["readinessProbe"]["httpGet"]["port"] == "http"
    assert c["ports"][0]["containerPort"] == 2024
    assert {"name": "credentials", "mountPath": "/app/.auth", "readOnly": True} in c["volumeMounts"]
    env = {e["name"]: e for e in c["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "db-redis", "key": "REDIS_PASSWORD"}
    assert "PHOENIX_COLLECTOR_ENDPOINT" not in env
    assert dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    svc = json.loads(kubectl("-n", ns, "get", "svc", "worker", "-o", "json").stdout)
    assert svc["spec"]["type"] == "ClusterIP"

    # a job in, a result out
    pods = _wait_for("a Ready worker", lambda: [p for p in _worker_pods(kubectl, ns) if _ready(p)], 120)
    first = pods[0]["metadata"]["name"]
    _redis(kubectl, ns, "RPUSH", "langgraph:jobs", json.dumps({"id": "j1", "input": "hello  graph world"}))
    raw = _wait_for("result j1", lambda: _redis(kubectl, ns, "GET", "langgraph:result:j1"), 60)
    result = json.loads(raw)
    assert result == {"id": "j1", "output": "fake:test-model says: DLROW HPARG OLLEH", "words": 3, "worker": first}

    # a slow job; kill the pod while it runs; the next pod finishes it
    _redis(kubectl, ns, "RPUSH", "langgraph:jobs", json.dumps({"id": "j2", "input": "slow job", "sleep": 15}))
    _wait_for("j2 in the processing list",
              lambda: "j2" in _redis(kubectl, ns, "LRANGE", "langgraph:jobs:processing:" + first, "0", "-1"), 30)
    kubectl("-n", ns, "delete", "pod", first, "--grace-period=0", "--force")
    raw = _wait_for("result j2 from the next pod", lambda: _redis(kubectl, ns, "GET", "langgraph:result:j2"), 150)
    result = json.loads(raw)
    assert result["output"] == "fake:test-model says: BOJ WOLS" and result["worker"] != first, result
    assert _redis(kubectl, ns, "LLEN", "langgraph:jobs") == "0"
    second = result["worker"]
    assert _redis(kubectl, ns, "LLEN", "langgraph:jobs:processing:" + second) == "0"
    metrics = kubectl("-n", ns, "exec", second, "--", "python", "-c",
                      "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:2024/metrics').read().decode())").stdout
    assert "langgraph_worker_requeued_total 1.0" in metrics and 'langgraph_worker_jobs_total{outcome="ok"} 1.0' in metrics

    # HPA instead of replicas, then tracing env, then absent
    proc = run_playbook(playbook, extra_vars=_vars(ns, langgraph_worker_hpa_enabled=True, langgraph_worker_wait=False))
    assert proc.returncode == 0, proc.stdout[-3000:]
    hpa = json.loads(kubectl("-n", ns, "get", "hpa", "worker", "-o", "json").stdout)
    assert hpa["spec"]["maxReplicas"] == 3 and hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    proc = run_playbook(playbook, extra_vars=_vars(ns, langgraph_worker_state="absent"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert kubectl("-n", ns, "get", "deploy,svc,hpa", "-l", "app.kubernetes.io/instance=worker",
                   "-o", "name").stdout.strip() == ""
