"""The observability role's logs in light mode on the real cluster: Loki and Promtail built from the Go module
github.com/grafana/loki/v3 (tests/cluster/go/loki), packed on the local Debian base. A pod prints a unique
marker; Promtail reads the kubelet's log file and pushes it; Loki's query_range API returns the line for a LogQL
selector on the labels the role promises (namespace, pod, container, app, tenant). Check mode, idempotency, bad
inputs refused before anything exists, and state=absent removing the cluster-scoped RBAC."""

import json
import time
import urllib.parse
import uuid

import pytest
import yaml

from conftest import CACHE, local_image_vars, targets_local_cluster, wait_until

from test_langgraph_worker import local_images

BASE_IMAGE = "aistack.local/debian:trixie"


@pytest.fixture(scope="session")
def loki_images(kubeconfig):
    """The Loki and Promtail images (one cached Go build), in the cluster. make integration builds them in the
    background, cold: ensure() waits for that build instead of repeating it."""
    local_images.ensure(["loki", "promtail"])


@pytest.fixture
def playbook(tmp_path):
    path = tmp_path / "obs.yml"
    path.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.observability\n")
    return path


def _vars(ns, tmp_path, **extra):
    # The local cluster's kubelet writes pod logs under its state directory (podLogsDir), not /var/log/pods.
    pod_logs = str(CACHE / "cluster" / "pod-logs") if targets_local_cluster() else "/var/log/pods"
    base = {**local_image_vars(), "observability_namespace": ns, "observability_environment": "dev",
            "observability_phoenix_enabled": False, "observability_prometheus_enabled": False,
            "observability_loki_enabled": True, "observability_promtail_enabled": True,
            "observability_loki_image_pull_policy": "Never", "observability_promtail_image_pull_policy": "Never",
            "observability_loki_retention": "168h", "observability_loki_storage_size": "256Mi",
            "observability_loki_resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                                             "limits": {"cpu": "1", "memory": "512Mi"}},
            "observability_promtail_resources": {"requests": {"cpu": "20m", "memory": "32Mi"},
                                                 "limits": {"cpu": "300m", "memory": "128Mi"}},
            "observability_promtail_pod_logs_path": pod_logs,
            "observability_promtail_positions_path": str(tmp_path / "promtail-positions"),
            "observability_promtail_namespaces": [ns], "observability_wait_timeout": 240}
    base.update(extra)
    return base


def _exists(kubectl, *args):
    return kubectl("get", *args, "--ignore-not-found", "-o", "name", check=False).stdout.strip() != ""


def _query(kubectl, ns, logql, since_s=15 * 60):
    now = time.time_ns()
    params = urllib.parse.urlencode({"query": logql, "start": now - since_s * 10**9, "end": now + 60 * 10**9,
                                     "limit": 20, "direction": "backward"})
    proc = kubectl("get", "--raw", "/api/v1/namespaces/%s/services/loki:3100/proxy/loki/api/v1/query_range?%s"
                   % (ns, params), check=False)
    if proc.returncode != 0:
        return None
    body = json.loads(proc.stdout)
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.mark.parametrize("bad, needle", [
    ({"observability_loki_retention": "one week"}, "observability_loki_retention"),
    ({"observability_promtail_image_tag": "latest"}, "observability_promtail_image_tag"),
    ({"observability_loki_image_tag": "LATEST"}, "observability_loki_image_tag"),
])
def test_bad_inputs_apply_nothing(run_playbook, kubectl, namespace, playbook, tmp_path, bad, needle):
    proc = run_playbook(playbook, extra_vars=_vars(namespace, tmp_path, **bad))
    assert proc.returncode != 0 and needle in proc.stdout, proc.stdout[-3000:]
    assert not _exists(kubectl, "namespace", namespace)
    assert not _exists(kubectl, "clusterrole", namespace + "-promtail")


def test_pod_logs_reach_loki_with_labels(run_playbook, kubectl, namespace, playbook, tmp_path, loki_images):
    ns = namespace
    extra = _vars(ns, tmp_path)
    try:
        check = run_playbook(playbook, extra_vars=extra, check=True)
        assert check.returncode == 0 and check.recap["changed"] > 0, check.stdout[-4000:] + check.stderr[-2000:]
        assert not _exists(kubectl, "namespace", ns), "check mode created the namespace"
        first = run_playbook(playbook, extra_vars=extra)
        assert first.returncode == 0 and first.recap["changed"] > 0, first.stdout[-4000:] + first.stderr[-2000:]
        again_check = run_playbook(playbook, extra_vars=extra, check=True)
        assert again_check.returncode == 0 and again_check.recap["changed"] == 0, again_check.stdout[-4000:]
        again = run_playbook(playbook, extra_vars=extra)
        assert again.returncode == 0 and again.recap["changed"] == 0, again.stdout[-4000:]

        kubectl("-n", ns, "rollout", "status", "daemonset/promtail", "--timeout=120s")
        # The running Loki's effective configuration carries the inventory's retention (168h prints as 1w).
        running = yaml.safe_load(kubectl("get", "--raw", "/api/v1/namespaces/%s/services/loki:3100/proxy/config" % ns).stdout)
        assert running["limits_config"]["retention_period"] in ("168h", "1w")
        assert running["compactor"]["retention_enabled"] is True
        datasources = kubectl("-n", ns, "get", "configmap", "aistack-grafana-datasources", "-o",
                              "jsonpath={.data.aistack-datasources\\.yaml}").stdout
        assert "http://loki.%s.svc.cluster.local:3100" % ns in datasources

        marker = "aistack-marker-" + uuid.uuid4().hex
        app = "logsource"
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "printer", "namespace": ns, "labels": {"app": app, "aistack.io/team": "team-logs"}},
               "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [{
                   "name": "printer", "image": BASE_IMAGE, "imagePullPolicy": "Never",
                   "command": ["sh", "-c", 'while true; do echo "$0 line"; sleep 2; done', marker],
                   "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}}}]}}
        kubectl("apply", "-f", "-", input=json.dumps(pod))

        logql = '{namespace="%s", app="%s"} |= "%s"' % (ns, app, marker)
        streams = wait_until("the marker in Loki (%s)" % logql, lambda: _query(kubectl, ns, logql), 180, interval=3)
        labels = streams[0]["stream"]
        assert labels["namespace"] == ns and labels["app"] == app
        assert labels["pod"] == "printer" and labels["container"] == "printer" and labels["tenant"] == "team-logs"
        assert any(marker in line for _ts, line in streams[0]["values"])
        # The selector is really applied: another app has no such line.
        assert _query(kubectl, ns, '{namespace="%s", app="nobody"} |= "%s"' % (ns, marker)) == []
        # Loki's own pod is labelled from app.kubernetes.io/name. Loki writes most of its lines at start; on a loaded
        # machine the four playbook runs above can take longer than the marker's 15-minute window, so look back 3 h.
        assert wait_until("Loki's own logs", lambda: _query(kubectl, ns, '{namespace="%s", app="loki"}' % ns, 3 * 3600),
                          180, interval=3)

        gone = run_playbook(playbook, extra_vars=dict(extra, observability_state="absent"))
        assert gone.returncode == 0 and gone.recap["changed"] > 0, gone.stdout[-4000:]
        for kind_name in (("clusterrole", ns + "-promtail"), ("clusterrolebinding", ns + "-promtail"),
                          ("-n", ns, "daemonset", "promtail"), ("-n", ns, "deployment", "loki"),
                          ("-n", ns, "pvc", "loki-data")):
            # the PVC goes once the Loki pod has stopped (pvc-protection finalizer)
            wait_until("%s deleted" % " ".join(kind_name), lambda: not _exists(kubectl, *kind_name), 90, interval=2)
    finally:
        kubectl("delete", "clusterrole,clusterrolebinding", ns + "-promtail", "--ignore-not-found", check=False)
