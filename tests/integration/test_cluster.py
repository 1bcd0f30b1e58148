"""The cluster every other integration test runs on behaves like a real one.

Runs against the local cluster or whatever KUBECONFIG names: the API answers /readyz, a Deployment of
an image built on this machine becomes Available, a PVC of the default StorageClass binds and keeps
data, and a pod reaches another Service by its cluster DNS name.
"""

import json
import subprocess
import time

import pytest

from conftest import cache_images, targets_local_cluster


def _apply(kubectl, doc):
    kubectl("apply", "-f", "-", input=json.dumps(doc))


def _wait_pod_done(kubectl, namespace, name, timeout=120):
    deadline = time.time() + timeout
    phase = None
    while time.time() < deadline:
        phase = kubectl("-n", namespace, "get", "pod", name, "-o", "jsonpath={.status.phase}").stdout
        if phase in ("Succeeded", "Failed"):
            return phase
        time.sleep(1)
    raise AssertionError("pod %s/%s still %s after %d s" % (namespace, name, phase, timeout))


@pytest.fixture
def demo_image(images):
    return images["AISTACK_DEMOHTTP_IMAGE"]


@pytest.fixture
def ns(kubectl, namespace):
    kubectl("create", "namespace", namespace)
    return namespace


def test_api_readyz(kubectl):
    assert kubectl("get", "--raw=/readyz").stdout.strip() == "ok"


def test_node_ready(kubectl):
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert nodes, "the cluster has no node"
    ready = [c["status"] for n in nodes for c in n["status"]["conditions"] if c["type"] == "Ready"]
    assert "True" in ready


def test_local_image_deployment_available_and_reachable_by_dns(kubectl, ns, demo_image):
    labels = {"app": "web"}
    _apply(kubectl, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "web", "image": demo_image, "imagePullPolicy": "Never",
                                     "env": [{"name": "NAME", "value": "cluster-test"}],
                                     "ports": [{"containerPort": 8080}],
                                     "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080},
                                                        "periodSeconds": 1}}]}}},
    })
    _apply(kubectl, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
    })
    kubectl("-n", ns, "wait", "deploy/web", "--for=condition=Available", "--timeout=120s")
    pods = json.loads(kubectl("-n", ns, "get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running"]

    url = "http://web.%s.svc.cluster.local/hello" % ns
    # kube-proxy programs the Service a moment after the endpoints turn ready (longer on a loaded machine):
    # a first probe may be refused, so up to three probe pods are tried, each a fresh resolve + connect.
    logs = []
    for attempt in range(3):
        name = "probe-%d" % attempt
        _apply(kubectl, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": "probe", "image": demo_image, "imagePullPolicy": "Never",
                 "command": ["/demohttp", "get", url]}]},
        })
        phase = _wait_pod_done(kubectl, ns, name)
        logs.append(kubectl("-n", ns, "logs", name, check=False).stdout)
        if phase == "Succeeded":
            break
        time.sleep(3)
    assert phase == "Succeeded", logs
    body = logs[-1]
    assert "name=cluster-test" in body and "path=/hello" in body


def test_unknown_service_name_does_not_resolve(kubectl, ns, demo_image):
    """The DNS test above could pass by accident only if every name resolved: check that one does not."""
    _apply(kubectl, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nx", "namespace": ns},
        "spec": {"restartPolicy": "Never", "containers": [
            {"name": "nx", "image": demo_image, "imagePullPolicy": "Never",
             "command": ["/demohttp", "resolve", "missing.%s.svc.cluster.local" % ns]}]},
    })
    assert _wait_pod_done(kubectl, ns, "nx") == "Failed"


def test_default_storage_class_binds_and_keeps_data(kubectl, ns):
    base = cache_images().get("AISTACK_BASE_IMAGE", "aistack.local/debian:trixie")
    _apply(kubectl, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}},
    })

    def pod(name, script):
        return {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": base, "imagePullPolicy": "Never",
                                     "command": ["sh", "-c", script],
                                     "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                     "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]},
        }

    _apply(kubectl, pod("writer", "echo persisted-%s > /data/marker" % ns))
    assert _wait_pod_done(kubectl, ns, "writer") == "Succeeded"
    assert kubectl("-n", ns, "get", "pvc", "data", "-o", "jsonpath={.status.phase}").stdout == "Bound"
    kubectl("-n", ns, "delete", "pod", "writer")
    _apply(kubectl, pod("reader", "cat /data/marker"))
    assert _wait_pod_done(kubectl, ns, "reader") == "Succeeded"
    assert kubectl("-n", ns, "logs", "reader").stdout.strip() == "persisted-%s" % ns


def test_network_policy_enforcer_reads_its_queue(kubectl):
    """kube-network-policies is up and reads the queue the cluster diverts pod connections into (fail-closed)."""
    if not targets_local_cluster():
        pytest.skip("checks the local cluster's enforcer")
    ds = json.loads(kubectl("-n", "kube-system", "get", "daemonset", "kube-network-policies", "-o", "json").stdout)
    assert ds["status"].get("numberReady") == ds["status"]["desiredNumberScheduled"] >= 1
    with open("/proc/net/netfilter/nfnetlink_queue") as handle:
        queues = [line.split()[0] for line in handle]
    assert "100" in queues
    rules = subprocess.run(["iptables", "-t", "mangle", "-S", "AISTACK-NETPOL"], capture_output=True, text=True, check=True).stdout
    assert "-j NFQUEUE --queue-num 100" in rules and "--queue-bypass" not in rules
