"""What the langgraph_worker role renders (no cluster): tracing env, the Firebase queue option (render-only: it
needs a real Firebase project), exposure, HPA and digests. The Redis path runs for real in
tests/integration/test_langgraph_worker.py."""

import pytest
import yaml

from conftest import run_role


def render(tmp_path, **extra):
    extra = dict({"langgraph_worker_render_dir": str(tmp_path), "langgraph_worker_env_secret": "worker-env",
                  "langgraph_worker_namespace": "team-a-dev"}, **extra)
    proc = run_role(tmp_path, "langgraph_worker", extra)
    objs = yaml.safe_load((tmp_path / "langgraph-worker.yml").read_text()) if proc.returncode == 0 else None
    return proc, objs


def kind(objs, name):
    return [o for o in objs if o["kind"] == name]


def test_defaults_tracing_and_firebase(tmp_path):
    (tmp_path / "a").mkdir()
    proc, objs = render(tmp_path / "a", aistack_tracing=True, langgraph_worker_phoenix_api_key_secret="phoenix-key",
                        langgraph_worker_queue_backend="firebase", langgraph_worker_credentials_secret="firebase-key",
                        langgraph_worker_firebase_database_url="https://demo.firebaseio.com")
    assert proc.returncode == 0, proc.stdout[-3000:]
    dep = kind(objs, "Deployment")[0]
    assert dep["spec"]["template"]["spec"]["enableServiceLinks"] is False
    c = dep["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"]["value"] == "http/protobuf"
    assert env["PHOENIX_COLLECTOR_ENDPOINT"]["value"] == "http://phoenix.observability.svc.cluster.local:6006"
    assert env["PHOENIX_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "phoenix-key", "key": "api-key"}
    assert env["FIREBASE_DATABASE_URL"]["value"] == "https://demo.firebaseio.com"
    assert env["FIREBASE_SERVICE_ACCOUNT_PATH"]["value"] == "/app/.auth/serviceAccountKey.json"
    assert "REDIS_HOST" not in env
    vol = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "credentials"][0]
    assert vol["secret"]["secretName"] == "firebase-key"
    assert {"name": "credentials", "mountPath": "/app/.auth", "readOnly": True} in c["volumeMounts"]
    assert c["resources"] == {"requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"cpu": "300m", "memory": "256Mi"}}
    assert c["livenessProbe"]["httpGet"]["path"] == "/ok" and c["ports"][0]["containerPort"] == 2024
    assert kind(objs, "Service")[0]["spec"]["type"] == "ClusterIP"
    assert not kind(objs, "HorizontalPodAutoscaler")


def test_expose_hpa_digest(tmp_path):
    digest = "sha256:" + "a" * 64
    proc, objs = render(tmp_path, langgraph_worker_expose=True, langgraph_worker_hpa_enabled=True,
                        langgraph_worker_image_digest=digest)
    assert proc.returncode == 0, proc.stdout[-3000:]
    dep = kind(objs, "Deployment")[0]
    assert "replicas" not in dep["spec"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "aistack/langgraph-worker@" + digest
    assert kind(objs, "Service")[0]["spec"]["type"] == "LoadBalancer"
    hpa = kind(objs, "HorizontalPodAutoscaler")[0]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)


@pytest.mark.parametrize("bad, needle", [
    ({"langgraph_worker_image_tag": "latest"}, "langgraph_worker_image_tag"),
    ({"langgraph_worker_env_secret": ""}, "langgraph_worker_env_secret"),
    ({"langgraph_worker_phoenix_endpoint": "http://phoenix:6006/v1/traces"}, "/v1/traces"),
    ({"langgraph_worker_queue_backend": "firebase"}, "langgraph_worker_firebase_database_url"),
    ({"langgraph_worker_image_digest": "sha256:short"}, "langgraph_worker_image_digest"),
    ({"langgraph_worker_hpa_min_replicas": 4}, "langgraph_worker_hpa_min_replicas"),
    ({"langgraph_worker_name": "Bad_Name"}, "DNS label"),
])
def test_bad_inputs(tmp_path, bad, needle):
    proc, _unused = render(tmp_path, **bad)
    assert proc.returncode != 0 and needle in proc.stdout, proc.stdout[-2000:]
    assert not (tmp_path / "langgraph-worker.yml").exists()
