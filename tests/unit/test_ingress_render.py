"""What the ingress role renders (no cluster): the upstream image pinned by default, RBAC for the Kubernetes
Ingress provider, the IngressClass, probes on Traefik's ping endpoint, the metrics entrypoint, the Service of
service mode and the loopback listeners of host_network mode; bad variables refused with a message naming the
variable. The role runs for real in tests/integration/test_ingress_role.py."""

import pytest
import yaml

from conftest import ROOT, run_role


def render(tmp_path, **extra):
    extra = dict({"ingress_render_dir": str(tmp_path)}, **extra)
    proc = run_role(tmp_path, "ingress", extra)
    objs = yaml.safe_load((tmp_path / "ingress.yml").read_text()) if proc.returncode == 0 else None
    return proc, objs


def one(objs, kind):
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, [o["kind"] for o in objs]
    return found[0]


def test_defaults_pinned_upstream_image_service_mode(tmp_path):
    proc, objs = render(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    kinds = ["ClusterRole", "ClusterRoleBinding", "Deployment", "IngressClass", "Service", "ServiceAccount"]
    assert sorted(o["kind"] for o in objs) == kinds
    dep = one(objs, "Deployment")
    assert dep["metadata"]["namespace"] == "aistack-system"
    pod = dep["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    assert ctr["image"] == "docker.io/library/traefik:v3.6.12"
    assert "hostNetwork" not in pod and pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert ctr["securityContext"]["readOnlyRootFilesystem"] is True
    assert ctr["resources"]["limits"] and ctr["resources"]["requests"]
    for probe in (ctr["readinessProbe"], ctr["livenessProbe"]):
        assert probe["httpGet"]["path"] == "/ping" and probe["httpGet"]["port"] == "traefik"
        assert "host" not in probe["httpGet"]
    args = ctr["args"]
    assert "--entryPoints.web.address=:8000" in args and "--entryPoints.traefik.address=:8080" in args
    assert "--entryPoints.metrics.address=:9100" in args and "--metrics.prometheus.entryPoint=metrics" in args
    assert "--providers.kubernetesingress.ingressClass=traefik" in args
    assert "--global.checkNewVersion=false" in args and "--global.sendAnonymousUsage=false" in args
    assert "--providers.kubernetesingress.ingressEndpoint.publishedService=aistack-system/traefik" in args
    # Only web and websecure take routers without entrypoints: the metrics and ping ports serve no Ingress.
    assert "--entryPoints.web.asDefault=true" in args and "--entryPoints.websecure.asDefault=true" in args
    assert dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9100"
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    svc = one(objs, "Service")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {
        "web": (80, "web"), "websecure": (443, "websecure")}
    cls = one(objs, "IngressClass")
    assert cls["metadata"]["name"] == "traefik" and cls["spec"]["controller"] == "traefik.io/ingress-controller"
    assert cls["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] == "true"
    rules = {(g, r) for rule in one(objs, "ClusterRole")["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("networking.k8s.io", "ingresses"), ("networking.k8s.io", "ingressclasses"), ("", "services"),
            ("discovery.k8s.io", "endpointslices"), ("", "secrets"), ("", "nodes")} <= rules
    binding = one(objs, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "traefik", "namespace": "aistack-system"}]


def test_host_network_on_loopback(tmp_path):
    proc, objs = render(tmp_path, ingress_exposure="host_network", ingress_web_port=18080, ingress_ping_port=18081,
                        ingress_websecure_enabled=False, ingress_metrics_port=19100, ingress_class_default=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Service" not in [o["kind"] for o in objs]  # a loopback listener cannot be reached through a Service
    dep = one(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    ctr = pod["containers"][0]
    assert "--entryPoints.web.address=127.0.0.1:18080" in ctr["args"]
    assert "--entryPoints.traefik.address=127.0.0.1:18081" in ctr["args"]
    # metrics on every address of the node: Prometheus scrapes the pod's (the node's) IP, not loopback
    assert "--entryPoints.metrics.address=:19100" in ctr["args"]
    assert not [a for a in ctr["args"] if a.startswith("--entryPoints.websecure")]
    assert ctr["readinessProbe"]["httpGet"]["host"] == "127.0.0.1"
    assert one(objs, "IngressClass")["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] == "false"


def test_host_network_on_a_node_address_keeps_a_service(tmp_path):
    proc, objs = render(tmp_path, ingress_exposure="host_network", ingress_host_address="10.0.0.5",
                        ingress_service_type="ClusterIP")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert one(objs, "Service")["spec"]["type"] == "ClusterIP"


@pytest.mark.parametrize("tag, image", [
    ("v3.6.12", "docker.io/library/traefik:v3.6.12"),
    ("v3.6.12@sha256:" + "a" * 64, "docker.io/library/traefik:v3.6.12@sha256:" + "a" * 64),
    ("sha256:" + "b" * 64, "docker.io/library/traefik@sha256:" + "b" * 64),
])
def test_image_reference_by_tag_or_digest(tmp_path, tag, image):
    proc, objs = render(tmp_path, ingress_image_tag=tag)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_node_ports_and_namespaces(tmp_path):
    proc, objs = render(tmp_path, ingress_service_type="NodePort", ingress_service_web_node_port=30080,
                        ingress_watch_namespaces=["team-a-dev", "team-b-dev"], ingress_namespace="traefik")
    assert proc.returncode == 0, proc.stdout[-3000:]
    svc = one(objs, "Service")
    assert svc["spec"]["ports"][0]["nodePort"] == 30080 and "nodePort" not in svc["spec"]["ports"][1]
    args = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--providers.kubernetesingress.namespaces=team-a-dev,team-b-dev" in args
    assert not [a for a in args if "publishedService" in a]  # only a LoadBalancer has an address to publish
    assert one(objs, "ClusterRole")["metadata"]["name"] == "traefik-traefik"


@pytest.mark.parametrize("extra, message", [
    ({"ingress_image_tag": "latest"}, "ingress_image_tag must be a pinned tag"),
    ({"ingress_image_tag": ""}, "ingress_image_tag must be a pinned tag"),
    ({"ingress_image_repository": "traefik:v3.6.12"}, "ingress_image_repository must be an image name without tag"),
    ({"ingress_web_port": 70000}, "ingress_web_port must be a port number within 1-65535"),
    ({"ingress_web_port": 0}, "ingress_web_port must be a port number within 1-65535"),
    ({"ingress_web_port": "http"}, "ingress_web_port"),
    ({"ingress_metrics_port": 8000}, "must differ"),
    ({"ingress_service_web_node_port": 8080}, "ingress_service_web_node_port must be 0"),
    ({"ingress_host_address": "localhost"}, "ingress_host_address must be an IPv4 address"),
    ({"ingress_exposure": "hostport"}, "ingress_exposure"),
    ({"ingress_namespace": "Bad_NS"}, "ingress_namespace must be a DNS label"),
    ({"ingress_resources": {"requests": {"cpu": "10m", "memory": "64Mi"}}}, "ingress_resources must set requests and limits"),
    ({"ingress_extra_args": ["accesslog"]}, "ingress_extra_args must be Traefik flags"),
])
def test_bad_inputs_name_the_variable(tmp_path, extra, message):
    proc, objs = render(tmp_path, **extra)
    assert proc.returncode != 0 and objs is None
    assert message in proc.stdout, proc.stdout[-3000:]


def test_role_default_image_is_upstream_and_local_names_stay_in_the_local_inventory():
    defaults = yaml.safe_load((ROOT / "roles/ingress/defaults/main.yml").read_text())
    assert defaults["ingress_image_repository"] == "docker.io/library/traefik"
    assert defaults["ingress_image_tag"] == "v3.6.12"
    versions = dict(line.split("=", 1) for line in (ROOT / "tests/cluster/versions.env").read_text().splitlines()
                    if "=" in line and not line.startswith("#"))
    assert versions["TRAEFIK_VERSION"] == defaults["ingress_image_tag"]  # the image built here is the same release
    for path in (ROOT / "roles/ingress").rglob("*"):
        if path.is_file():
            assert "aistack.local/" not in path.read_text(), path
