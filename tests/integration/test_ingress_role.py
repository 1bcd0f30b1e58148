"""The ingress role on the real cluster: Traefik built here from the Go module github.com/traefik/traefik/v3
(tests/cluster/go/traefik, `cluster.sh traefik`, cached), packed on the local Debian base as
aistack.local/traefik:<TRAEFIK_VERSION>, run on the node's network with its entrypoints on loopback ports of this
machine. Bad inputs fail naming the variable before anything exists; check -> apply -> check -> apply reports
changed, changed, unchanged, unchanged; a check run with --diff after a setting changed reports the change and
leaves the cluster as it was; an Ingress for a host routes an HTTP request with that Host header to the demohttp
backend, while an unknown host, and an Ingress of another class, get Traefik's 404; state=absent removes every
object (cluster-scoped ones included) and the listener."""

import http.client
import json
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import converge_sequence, targets_local_cluster, wait_until

from test_langgraph_worker import local_images

ROOT = Path(__file__).resolve().parents[2]
TRAEFIK_VERSION = [line.split("=", 1)[1] for line in (ROOT / "tests/cluster/versions.env").read_text().splitlines()
                   if line.startswith("TRAEFIK_VERSION=")][0]
IMAGE = "aistack.local/traefik:" + TRAEFIK_VERSION
# Loopback ports of this test (the local inventory uses 18080/18081/19100; these stay clear of it).
WEB_PORT, PING_PORT, METRICS_PORT = 28080, 28081, 29100


def port_free(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def traefik_image(kubeconfig):
    """The Traefik image (built once, the Go build cached), in the cluster."""
    if not targets_local_cluster():
        pytest.skip("the role runs Traefik on the node's loopback and the test curls it from here: local cluster only")
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.fail("no Docker engine: run tests/cluster/cluster.sh docker base-image")
    # make integration builds it in the background, cold: ensure() waits for that build instead of repeating it
    local_images.ensure(["traefik"])
    version = subprocess.run(["docker", "run", "--rm", IMAGE, "version"], capture_output=True, text=True, check=True)
    assert TRAEFIK_VERSION in version.stdout, version.stdout
    user = subprocess.run(["docker", "image", "inspect", "-f", "{{.Config.User}}", IMAGE], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert user and not user.startswith("0") and user != "root", user
    return IMAGE


@pytest.fixture
def playbook(tmp_path):
    path = tmp_path / "ingress.yml"
    path.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.ingress\n")
    return path


def _vars(ns, cls, **extra):
    base = {"ingress_namespace": ns, "ingress_name": "traefik", "ingress_class_name": cls,
            # The shared test cluster: no default class, so other tests' Ingresses are not taken over.
            "ingress_class_default": False,
            "ingress_image_repository": IMAGE.rsplit(":", 1)[0], "ingress_image_tag": TRAEFIK_VERSION,
            "ingress_image_pull_policy": "Never",
            "ingress_exposure": "host_network", "ingress_host_address": "127.0.0.1",
            "ingress_web_port": WEB_PORT, "ingress_ping_port": PING_PORT, "ingress_metrics_port": METRICS_PORT,
            "ingress_websecure_enabled": False, "ingress_wait_timeout": 180,
            "ingress_resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                  "limits": {"cpu": "500m", "memory": "256Mi"}}}
    base.update(extra)
    return base


def _get(host, port=WEB_PORT, path="/"):
    """(status, body) of GET http://<host>:<port><path> sent to 127.0.0.1 (curl --resolve host:port:127.0.0.1)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": "%s:%d" % (host, port)})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    except OSError as exc:
        return None, str(exc)
    finally:
        conn.close()


def backend_workload(ns, marker, image):
    """The demohttp Deployment and Service every Ingress of these tests routes to (test_tls_role uses it too)."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
                  "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                      "metadata": {"labels": {"app": "web"}},
                      "spec": {"containers": [{
                          "name": "web", "image": image, "imagePullPolicy": "Never",
                          "env": [{"name": "NAME", "value": marker}],
                          "ports": [{"name": "http", "containerPort": 8080}],
                          "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 2},
                          "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                        "limits": {"cpu": "100m", "memory": "64Mi"}}}]}}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
               "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    return [deployment, service]


def backend_ingress(ns, name, host, cls, tls_secret=""):
    """An Ingress of class cls routing host to the backend; with tls_secret, its spec.tls names that Secret."""
    spec = {"ingressClassName": cls, "rules": [{"host": host, "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    if tls_secret:
        spec["tls"] = [{"hosts": [host], "secretName": tls_secret}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def _backend(ns, host, cls, marker, image):
    other = "other-" + host
    return {"apiVersion": "v1", "kind": "List", "items": backend_workload(ns, marker, image) + [
        backend_ingress(ns, "web", host, cls),
        # Same backend, another class: this controller must not serve it.
        backend_ingress(ns, "web-other-class", other, cls + "-other")]}, other


def _cluster_objects(kubectl, ns, cls):
    """Which of the role's objects exist (names only)."""
    found = []
    for kind, name, namespaced in (("deployment", "traefik", True), ("serviceaccount", "traefik", True),
                                   ("clusterrole", ns + "-traefik", False),
                                   ("clusterrolebinding", ns + "-traefik", False), ("ingressclass", cls, False)):
        args = ["get", kind, name, "--ignore-not-found", "-o", "name"] + (["-n", ns] if namespaced else [])
        if kubectl(*args).stdout.strip():
            found.append(kind)
    return found


def test_bad_inputs_fail_before_anything_exists(run_playbook, playbook, namespace, kubectl):
    cls = namespace + "-traefik"
    for extra, message in (({"ingress_image_tag": "latest"}, "ingress_image_tag must be a pinned tag"),
                           ({"ingress_web_port": 70000}, "ingress_web_port must be a port number within 1-65535"),
                           ({"ingress_ping_port": WEB_PORT}, "must differ"),
                           ({"ingress_host_address": "loopback"}, "ingress_host_address must be an IPv4 address")):
        proc = run_playbook(playbook, extra_vars=_vars(namespace, cls, **extra))
        assert proc.returncode != 0, proc.stdout[-2000:]
        assert message in proc.stdout, proc.stdout[-3000:]
        assert proc.recap.get("changed", 0) == 0
    assert not kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name").stdout.strip()
    assert _cluster_objects(kubectl, namespace, cls) == []


def test_converge_route_by_host_and_absent(traefik_image, images, run_playbook, playbook, namespace, kubectl):
    for port in (WEB_PORT, PING_PORT, METRICS_PORT):
        assert port_free(port), "loopback port %d is taken on this machine; the test needs it" % port
    cls = namespace + "-traefik"
    team = "team-" + uuid.uuid4().hex[:6]
    host = "langflow-%s.dev.aistack.localhost" % team
    app_ns = namespace + "-app"
    marker = "ingress-" + uuid.uuid4().hex[:8]
    extra = _vars(namespace, cls)
    try:
        started = time.time()
        counts = converge_sequence(run_playbook, playbook, extra)
        print("converge sequence in %.0f s: changed %s" % (time.time() - started, counts))
        assert counts[0] > 0 and counts[1] > 0 and counts[2] == 0 and counts[3] == 0, counts

        # A setting changed: check mode with diff says so and leaves the Deployment as it is.
        before = kubectl("get", "deployment", "traefik", "-n", namespace, "-o", "jsonpath={.metadata.generation}").stdout
        proc = run_playbook(playbook, extra_vars=dict(extra, ingress_log_level="DEBUG"), check=True, diff=True)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert proc.recap.get("changed", 0) == 1, proc.stdout[-3000:]
        assert "--log.level=DEBUG" in proc.stdout and "--log.level=INFO" in proc.stdout, proc.stdout[-3000:]
        after = kubectl("get", "deployment", "traefik", "-n", namespace, "-o", "jsonpath={.metadata.generation}").stdout
        assert before == after

        # Traefik answers its ping endpoint on loopback (what the probes use).
        assert _get("127.0.0.1", PING_PORT, "/ping")[0] == 200
        status, body = _get("127.0.0.1", METRICS_PORT, "/metrics")
        assert status == 200 and "traefik_" in body

        kubectl("create", "namespace", app_ns)
        objects, other_host = _backend(app_ns, host, cls, marker, images["AISTACK_DEMOHTTP_IMAGE"])
        kubectl("apply", "-f", "-", input=json.dumps(objects))
        kubectl("rollout", "status", "deployment/web", "-n", app_ns, "--timeout=120s")

        def routed():
            status, body = _get(host)
            return (status, body) if status == 200 and marker in body else None

        status, body = wait_until("Traefik to route %s to the backend" % host, routed, timeout=60)
        assert "name=%s" % marker in body and "path=/" in body
        # The same with curl, the way a user checks it.
        curl = subprocess.run(["curl", "-sS", "--max-time", "5", "--resolve", "%s:%d:127.0.0.1" % (host, WEB_PORT),
                               "http://%s:%d/hello" % (host, WEB_PORT)], capture_output=True, text=True, check=False)
        assert curl.returncode == 0 and marker in curl.stdout and "path=/hello" in curl.stdout, curl.stderr
        # Negative controls: an unknown host, and a host whose Ingress names another class.
        assert _get("unknown-%s.dev.aistack.localhost" % team)[0] == 404
        assert _get(other_host)[0] == 404
        # Traefik published the address it serves on in the Ingress status.
        wait_until("the Ingress status", lambda: kubectl(
            "get", "ingress", "web", "-n", app_ns, "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}").stdout
            == "127.0.0.1", timeout=30)

        proc = run_playbook(playbook, extra_vars=dict(extra, ingress_state="absent"), check=True)
        assert proc.returncode == 0 and proc.recap.get("changed", 0) > 0, proc.stdout[-3000:]
        assert _get(host)[0] == 200  # check mode removed nothing
        proc = run_playbook(playbook, extra_vars=dict(extra, ingress_state="absent"))
        assert proc.returncode == 0 and proc.recap.get("changed", 0) > 0, proc.stdout[-3000:]
        assert _cluster_objects(kubectl, namespace, cls) == []
        wait_until("the loopback listener to close", lambda: _get(host)[0] is None, timeout=60)
        proc = run_playbook(playbook, extra_vars=dict(extra, ingress_state="absent"))
        assert proc.returncode == 0 and proc.recap.get("changed", 0) == 0, proc.stdout[-3000:]
    finally:
        run_playbook(playbook, extra_vars=dict(extra, ingress_state="absent", ingress_wait=False))
        kubectl("delete", "namespace", app_ns, "--ignore-not-found", "--wait=false", check=False)
