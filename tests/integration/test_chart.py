"""The generic chart: `helm lint` clean, every feature rendered by `helm template` and accepted by the
real API server (server-side dry run), and its refusals (floating image, ingress without host)."""

import json
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = str(ROOT / "charts" / "aistack-service")

FULL_VALUES = {
    "fullnameOverride": "team-x-svc-dev",
    "labels": {"aistack.io/team": "team-x", "aistack.io/environment": "dev"},
    "image": {"repository": "aistack.local/demohttp", "tag": "1.0.0"},
    "containerPort": 8080,
    "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 4, "targetMemoryUtilizationPercentage": 75},
    "env": {"LOG_LEVEL": "info", "DB_URL": "postgresql://u:$(DB_PASSWORD)@pg:5432/db"},
    "secretEnv": [{"name": "DB_PASSWORD", "secretName": "team-x-svc-dev-db", "key": "password"},
                  {"name": "OPTIONAL_KEY", "secretName": "maybe", "key": "k", "optional": True}],
    "config": {"FEATURE_FLAG": "on", "WORKERS": 2},
    "rolloutTriggers": {"secret/team-x-svc-dev-db": "123"},
    "persistence": {"enabled": True, "size": "1Gi", "storageClassName": "local-path", "accessModes": ["ReadWriteMany"]},
    "probes": {"path": "/health", "startup": {"enabled": True}},
    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
    "ingress": {"enabled": True, "className": "traefik", "host": "svc-team-x.dev.example.test",
                "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                "tls": {"enabled": True, "secretName": "team-x-svc-dev-tls"}},
    "nodeSelector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "networkPolicy": {"extraFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}]},
}


def helm(env, *args, check=True):
    proc = subprocess.run(["helm"] + list(args), env=env, capture_output=True, text=True, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def render(env, values, tmp_path, namespace="team-x-dev"):
    path = tmp_path / ("values-%s.json" % uuid.uuid4().hex[:6])
    path.write_text(json.dumps(values))
    return helm(env, "template", "team-x-svc-dev", CHART, "--namespace", namespace, "-f", str(path))


def docs(text):
    import yaml
    return [d for d in yaml.safe_load_all(text) if d]


def test_lint_clean(collection_env, tmp_path):
    values = tmp_path / "v.json"
    values.write_text(json.dumps(FULL_VALUES))
    out = helm(collection_env, "lint", CHART, "--strict", "-f", str(values)).stdout
    assert "0 chart(s) failed" in out


def test_full_render(collection_env, tmp_path):
    objs = {(d["kind"], d["metadata"]["name"]): d for d in docs(render(collection_env, FULL_VALUES, tmp_path).stdout)}
    kinds = sorted(k for k, _unused in objs)
    assert kinds == sorted(["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy",
                            "PersistentVolumeClaim", "Service", "ServiceAccount"])
    dep = objs[("Deployment", "team-x-svc-dev")]
    pod = dep["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert "replicas" not in dep["spec"]  # the HPA owns it
    assert container["image"] == "aistack.local/demohttp:1.0.0"
    names = [e["name"] for e in container["env"]]
    assert names.index("DB_PASSWORD") < names.index("DB_URL")  # $(DB_PASSWORD) expands
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "team-x-svc-dev-db", "key": "password"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health" and "startupProbe" in container
    assert pod["spec"]["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["metadata"]["annotations"]["checksum/config"]
    assert objs[("PersistentVolumeClaim", "team-x-svc-dev-data")]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    netpol = objs[("NetworkPolicy", "team-x-svc-dev")]["spec"]
    peers = netpol["ingress"][0]["from"]
    assert peers[0]["namespaceSelector"]["matchExpressions"][0]["key"] == "kubernetes.io/metadata.name"
    assert {"podSelector": {}} in peers
    assert objs[("Ingress", "team-x-svc-dev")]["spec"]["tls"][0]["secretName"] == "team-x-svc-dev-tls"


def test_config_change_rolls_pods(collection_env, tmp_path):
    def checksums(values):
        dep = [d for d in docs(render(collection_env, values, tmp_path).stdout) if d["kind"] == "Deployment"][0]
        return dep["spec"]["template"]["metadata"]["annotations"]

    base = checksums(FULL_VALUES)
    changed = checksums(dict(FULL_VALUES, config={"FEATURE_FLAG": "off", "WORKERS": 2}))
    rotated = checksums(dict(FULL_VALUES, rolloutTriggers={"secret/team-x-svc-dev-db": "124"}))
    assert changed["checksum/config"] != base["checksum/config"]
    assert rotated["checksum/rollout-triggers"] != base["checksum/rollout-triggers"]


@pytest.mark.parametrize("bad", [
    {"image": {"repository": "x", "tag": "latest"}},
    {"image": {"repository": "x", "tag": ""}},
    {"ingress": {"enabled": True, "host": ""}},
])
def test_chart_refuses(collection_env, tmp_path, bad):
    values = dict(FULL_VALUES, **bad)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(values))
    proc = helm(collection_env, "template", "r", CHART, "-f", str(path), check=False)
    assert proc.returncode != 0


def test_server_side_dry_run(collection_env, kubectl, namespace, tmp_path):
    """The API server itself validates every rendered object (schemas, admission)."""
    kubectl("create", "namespace", namespace)
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted")
    for values in (FULL_VALUES, dict(FULL_VALUES, autoscaling={"enabled": False}, persistence={"enabled": False},
                                     ingress={"enabled": False}, config={})):
        manifest = render(collection_env, values, tmp_path, namespace=namespace).stdout
        proc = kubectl("apply", "--dry-run=server", "--server-side", "-n", namespace, "-f", "-", input=manifest,
                       check=False)
        assert proc.returncode == 0, proc.stderr
        assert "Warning" not in proc.stderr, proc.stderr  # e.g. PodSecurity 'restricted' violations


def test_module_values_render(collection_env, tmp_path):
    """What helm_tenant renders is accepted by the chart (schema included), for every feature."""
    import sys
    sys.path.insert(0, str(ROOT / "build" / "collections"))
    from ansible_collections.aistack.platform.plugins.module_utils.tenant import policy as tpolicy
    from ansible_collections.aistack.platform.plugins.module_utils.tenant import values as tvalues
    params = {
        "team": "team-x", "service": "langflow", "environment": "prd", "chart": {"path": CHART},
        "image": {"repository": "langflowai/langflow", "tag": "1.12.8"}, "port": 7860,
        "database": {"type": "postgresql", "host": "pg", "name": "db", "user": "u", "password": "pw",
                     "url_env": "LANGFLOW_DATABASE_URL"},
        "persistence": {"enabled": True, "size": "5Gi", "access_mode": "ReadWriteMany", "storage_class": "nfs",
                        "mount_path": "/app/data"},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "2Gi"}},
        "ingress": {"enabled": True, "domain": "example.test", "cert_manager_cluster_issuer": "le"},
        "tracing": {"enabled": True, "endpoint": "http://phoenix:6006", "api_key_secret": {"name": "phx", "key": "k"},
                    "env": {"LANGFLOW_TRACING": "true"}},
        "autoscaling": {"enabled": True, "min_replicas": 2, "max_replicas": 4},
        "generated_secrets": [{"key": "secret-key", "env": "LANGFLOW_SECRET_KEY"}],
        "secret_values": {"LANGFLOW_SUPERUSER_PASSWORD": "x"},
        "probes": {"path": "/health", "startup_failure_threshold": 60, "liveness_initial_delay": 30},
        "env": {"LANGFLOW_AUTO_LOGIN": False}, "node_selector": {"gpu": "true"},
        "network_policy": {"enabled": True, "ingress_namespaces": ["traefik"]},
    }
    names = tpolicy.validate(params)
    values = tvalues.build_values(params, names, chart_digest="sha256:0", rollout_triggers={"secret/a": "1"})
    objs = {d["kind"]: d for d in docs(render(collection_env, values, tmp_path, namespace="team-x-prd").stdout)}
    dep = objs["Deployment"]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert dep["metadata"]["name"] == "team-x-langflow-prd" and container["name"] == "langflow"
    assert container["image"] == "langflowai/langflow:1.12.8"
    assert container["startupProbe"]["failureThreshold"] == 60
    assert container["ports"][0]["containerPort"] == 7860
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert objs["Ingress"]["spec"]["rules"][0]["host"] == "langflow-team-x.example.test"
    assert objs["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert objs["HorizontalPodAutoscaler"]["spec"]["maxReplicas"] == 4
    assert "pw" not in json.dumps(values)


PSA_REPO = "aistack.local/chart-psa"


@pytest.fixture(scope="module")
def psa_image(kubeconfig):
    """The project's demohttp packed as aistack.local/chart-psa:1.0.0 (user 65532) and imported into containerd."""
    import os
    import tempfile
    cache = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))
    binary = cache / "bin" / "demohttp"
    if not binary.exists():
        pytest.fail("%s missing: run `tests/cluster/cluster.sh build`" % binary)
    with tempfile.TemporaryDirectory() as tmp:
        archive = os.path.join(tmp, "chart-psa.tar")
        subprocess.run(["python3", str(ROOT / "tests" / "cluster" / "mkimage.py"), "-o", archive,
                        "--tag", "%s:1.0.0" % PSA_REPO, "--file", "%s:/demohttp" % binary.resolve(),
                        "--entrypoint", "/demohttp", "--cmd", "serve", "--user", "65532", "--port", "8080"],
                       check=True, capture_output=True)
        subprocess.run([str(ROOT / "tests" / "cluster" / "cluster.sh"), "import-archive", archive],
                       check=True, capture_output=True)
    return {"repository": PSA_REPO, "tag": "1.0.0"}


def _restricted_pod(namespace, name, image, command, env=None, labels=None, service_links=None):
    spec = {"restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": image, "imagePullPolicy": "IfNotPresent", "command": command,
                            "env": [{"name": k, "value": v} for k, v in sorted((env or {}).items())],
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                          "limits": {"cpu": "100m", "memory": "32Mi"}},
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}
    if service_links is not None:
        spec["enableServiceLinks"] = service_links
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}, "spec": spec}


def _fetch(kubectl, namespace, image, url):
    """A one-shot restricted pod that GETs url; its output."""
    name = "get-" + uuid.uuid4().hex[:6]
    kubectl("apply", "-f", "-", input=json.dumps(_restricted_pod(namespace, name, image, ["/demohttp", "get", url])))
    kubectl("wait", "-n", namespace, "pod/" + name, "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s",
            check=False)
    logs = kubectl("logs", "-n", namespace, name, check=False).stdout
    kubectl("delete", "-n", namespace, "pod/" + name, "--wait=false", check=False)
    return logs


def test_installs_under_restricted_pod_security(collection_env, kubectl, namespace, tmp_path, psa_image):
    """In a namespace that enforces the `restricted` Pod Security level the chart's pods are admitted and
    become Ready, without service-link variables; the same namespace refuses a pod that is not restricted, and a
    pod with service links does get them (so both checks can fail)."""
    kubectl("create", "namespace", namespace)
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted")
    # a Service named langflow: with service links, LANGFLOW_PORT=tcp://<ip>:7860 lands in every pod
    kubectl("create", "service", "clusterip", "langflow", "--tcp=7860:7860", "-n", namespace)
    image = "%s:%s" % (psa_image["repository"], psa_image["tag"])
    values = {
        "fullnameOverride": "psa-demo-dev",
        "image": psa_image,
        "containerPort": 8080,
        # Kubernetes expands $(VAR) from the container's env and the service-link variables: the pod reports it
        "env": {"NAME": "$(LANGFLOW_PORT)"},
        "persistence": {"enabled": True, "size": "64Mi"},
        "probes": {"liveness": {"initialDelaySeconds": 2, "periodSeconds": 2},
                   "readiness": {"initialDelaySeconds": 1, "periodSeconds": 2}},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
    }
    path = tmp_path / "psa.json"
    path.write_text(json.dumps(values))
    helm(collection_env, "install", "psa-demo-dev", CHART, "-n", namespace, "-f", str(path),
         "--wait", "--timeout", "180s")
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "app.kubernetes.io/instance=psa-demo-dev",
                              "-o", "json").stdout)["items"]
    assert pods, "no pod admitted"
    for pod in pods:
        ready = [c for c in pod["status"].get("conditions", []) if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", pod["status"]
        assert pod["spec"]["enableServiceLinks"] is False
    events = kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert "violates PodSecurity" not in events
    out = _fetch(kubectl, namespace, image, "http://psa-demo-dev.%s.svc.cluster.local/" % namespace)
    assert "name=$(LANGFLOW_PORT)" in out, out  # not expanded: no service-link variable in the pod

    # negative control 1: a pod with service links gets LANGFLOW_PORT (the check above can fail)
    linked = _restricted_pod(namespace, "linked", image, ["/demohttp", "serve"], env={"NAME": "$(LANGFLOW_PORT)"},
                             service_links=True)
    linked["spec"]["restartPolicy"] = "Always"
    kubectl("apply", "-f", "-", input=json.dumps(linked))
    kubectl("wait", "-n", namespace, "pod/linked", "--for=condition=Ready", "--timeout=120s")
    ip = kubectl("get", "-n", namespace, "pod/linked", "-o", "jsonpath={.status.podIP}").stdout.strip()
    out = _fetch(kubectl, namespace, image, "http://%s:8080/" % ip)
    assert "name=tcp://" in out, out

    # negative control 2: a pod outside the restricted level is refused by the same namespace
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "not-restricted", "namespace": namespace},
           "spec": {"containers": [{"name": "c", "image": image,
                                    "securityContext": {"allowPrivilegeEscalation": True}}]}}
    proc = kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode != 0 and "PodSecurity" in proc.stderr, proc.stderr + proc.stdout
    helm(collection_env, "uninstall", "psa-demo-dev", "-n", namespace, check=False)
