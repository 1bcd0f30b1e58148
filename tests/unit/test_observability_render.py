"""What the observability role renders (no cluster): the upstream charts at pinned versions with the Grafana
datasources and dashboards, the light mode's choices per environment (SQLite PVC in dev, PostgreSQL from a
Secret in prd), and light mode's Loki and Promtail (config, RBAC per namespace, labels, switches). The upstream
charts cannot run here (no image can be pulled), so these are render-only; Loki and Promtail also run for real in
tests/integration/test_observability_loki.py."""

import json
import pytest
import yaml

from conftest import run_role


def render(tmp_path, **extra):
    extra = dict({"observability_render_dir": str(tmp_path)}, **extra)
    proc = run_role(tmp_path, "observability", extra)
    mode = extra.get("observability_mode", "light")
    objs = yaml.safe_load((tmp_path / (mode + ".yml")).read_text()) if proc.returncode == 0 else None
    return proc, objs


def by_kind(objs, kind, name=None):
    return [o for o in objs if o["kind"] == kind and (name is None or o.get("metadata", {}).get("name") == name)]


def test_upstream_charts_pinned_with_grafana_configmaps(tmp_path):
    proc, objs = render(tmp_path, observability_mode="upstream")
    assert proc.returncode == 0, proc.stdout[-3000:]
    releases = {o["spec"]["release"]: o["spec"] for o in by_kind(objs, "HelmRelease")}
    assert set(releases) == {"kube-prometheus-stack", "loki", "alloy", "phoenix"}
    assert releases["kube-prometheus-stack"]["version"] == "77.6.2"
    assert all(r["version"][0].isdigit() for r in releases.values())
    grafana = releases["kube-prometheus-stack"]["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin"
    assert grafana["sidecar"]["dashboards"]["label"] == "grafana_dashboard"
    scrape = releases["kube-prometheus-stack"]["values"]["prometheus"]["prometheusSpec"]["additionalScrapeConfigs"]
    assert scrape[0]["job_name"] == "kubernetes-pods"
    ds = by_kind(objs, "ConfigMap", "aistack-grafana-datasources")[0]
    assert ds["metadata"]["labels"]["grafana_datasource"] == "1"
    sources = yaml.safe_load(ds["data"]["aistack-datasources.yaml"])["datasources"]
    assert {s["type"] for s in sources} == {"prometheus", "loki"}
    board = by_kind(objs, "ConfigMap", "aistack-dashboard-langgraph-worker")[0]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    dash = json.loads(board["data"]["langgraph-worker.json"])
    assert any("langgraph_worker_jobs_total" in t["expr"] for p in dash["panels"] for t in p["targets"])


def test_a_dashboard_per_app_family(tmp_path):
    """langflow, lightrag, langgraph-worker: each valid JSON with unique panel ids, a namespace variable, the
    resource/restart/OOM panels scoped to the family's pods, and request rate, errors and latency for the HTTP
    families."""
    proc, objs = render(tmp_path, observability_mode="upstream")
    assert proc.returncode == 0, proc.stdout[-3000:]
    pods = {"langflow": ".*-langflow(-runtime)?-.*", "lightrag": ".*lightrag.*", "langgraph-worker": ".*langgraph-worker.*"}
    for family, pod_regex in pods.items():
        dash = json.loads(by_kind(objs, "ConfigMap", "aistack-dashboard-" + family)[0]["data"][family + ".json"])
        assert dash["uid"] == "aistack-" + family
        assert [v["name"] for v in dash["templating"]["list"]] == ["namespace"]
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), ids
        exprs = {p["title"]: p["targets"][0]["expr"] for p in dash["panels"]}
        for metric in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                       "kube_pod_container_status_restarts_total", 'reason="OOMKilled"'):
            hits = [e for e in exprs.values() if metric in e]
            assert hits and all('pod=~"%s"' % pod_regex in e for e in hits), (family, metric)
        assert any(p["type"] == "logs" for p in dash["panels"])
        http = [e for e in exprs.values() if "traefik_service_re" in e]
        if family == "langgraph-worker":
            assert not http
        else:
            assert any('code=~"5.."' in e for e in http) and any("histogram_quantile" in e for e in http), family


def test_light_dev_sqlite_and_prd_postgres(tmp_path):
    (tmp_path / "dev").mkdir()
    proc, objs = render(tmp_path / "dev", observability_namespace="obs")
    assert proc.returncode == 0, proc.stdout[-3000:]
    phoenix = by_kind(objs, "Deployment", "phoenix")[0]["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "phoenix-data"}} in phoenix["volumes"]
    for obj in objs:
        if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            assert obj["spec"]["template"]["spec"]["enableServiceLinks"] is False, obj["metadata"]["name"]
    env = {e["name"]: e for e in phoenix["containers"][0]["env"]}
    assert "PHOENIX_SQL_DATABASE_URL" not in env and env["PHOENIX_WORKING_DIR"]["value"] == "/data"
    svc = by_kind(objs, "Service", "phoenix")[0]
    assert svc["spec"]["ports"][0]["port"] == 6006 and svc["spec"]["type"] == "ClusterIP"
    cm = by_kind(objs, "ConfigMap", "prometheus-config")[0]
    conf = yaml.safe_load(cm["data"]["prometheus.yml"])
    pods = [j for j in conf["scrape_configs"] if j["job_name"] == "kubernetes-pods"][0]
    assert pods["kubernetes_sd_configs"][0]["role"] == "pod"
    assert pods["relabel_configs"][0]["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
    assert by_kind(objs, "ClusterRoleBinding", "obs-prometheus")

    (tmp_path / "prd").mkdir()
    proc, objs = render(tmp_path / "prd", observability_environment="prd", observability_phoenix_database_secret="phoenix-db",
                        observability_phoenix_auth_secret="phoenix-auth")
    assert proc.returncode == 0, proc.stdout[-3000:]
    phoenix = by_kind(objs, "Deployment", "phoenix")[0]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in phoenix["containers"][0]["env"]}
    assert env["PHOENIX_SQL_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "phoenix-db", "key": "url"}
    assert env["PHOENIX_ENABLE_AUTH"]["value"] == "true"
    assert not by_kind(objs, "PersistentVolumeClaim", "phoenix-data")
    assert by_kind(objs, "PersistentVolumeClaim", "prometheus-data")


@pytest.mark.parametrize("bad, needle", [
    ({"observability_environment": "prd"}, "observability_phoenix_database_secret"),
    ({"observability_phoenix_image_tag": "latest"}, "pinned"),
    ({"observability_mode": "heavy"}, "observability_mode"),
    ({"observability_loki_retention": "a week"}, "observability_loki_retention must be a duration"),
    ({"observability_loki_retention": "7days"}, "observability_loki_retention must be a duration"),
    ({"observability_loki_image_tag": "latest"}, "observability_loki_image_tag must be pinned"),
    ({"observability_promtail_image_tag": "Latest"}, "observability_promtail_image_tag must be pinned"),
    ({"observability_promtail_pod_logs_path": "var/log/pods"}, "observability_promtail_pod_logs_path"),
])
def test_bad_inputs(tmp_path, bad, needle):
    proc, _unused = render(tmp_path, **bad)
    assert proc.returncode != 0 and needle in proc.stdout


def test_light_loki_and_promtail(tmp_path):
    proc, objs = render(tmp_path, observability_namespace="obs", observability_loki_retention="72h",
                        observability_loki_storage_size="3Gi", observability_promtail_pod_logs_path="/srv/pod-logs",
                        observability_promtail_namespaces=["team-a-dev"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    pvc = by_kind(objs, "PersistentVolumeClaim", "loki-data")[0]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "3Gi"
    conf = yaml.safe_load(by_kind(objs, "ConfigMap", "loki-config")[0]["data"]["loki.yaml"])
    assert conf["limits_config"]["retention_period"] == "72h"
    assert conf["compactor"]["retention_enabled"] is True and conf["compactor"]["delete_request_store"] == "filesystem"
    assert conf["schema_config"]["configs"][0]["object_store"] == "filesystem" and conf["server"]["http_listen_port"] == 3100
    loki = by_kind(objs, "Deployment", "loki")[0]["spec"]["template"]
    container = loki["spec"]["containers"][0]
    assert container["image"] == "docker.io/grafana/loki:3.5.7"
    assert container["resources"]["limits"] and container["resources"]["requests"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "loki-data"}} in loki["spec"]["volumes"]
    assert loki["metadata"]["annotations"]["checksum/config"]
    svc = by_kind(objs, "Service", "loki")[0]["spec"]
    assert svc["type"] == "ClusterIP" and svc["ports"][0]["port"] == 3100

    # Promtail: RBAC named per namespace, pod logs from the node's kubelet directory, the promised labels.
    role = by_kind(objs, "ClusterRole", "obs-promtail")[0]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]}]
    binding = by_kind(objs, "ClusterRoleBinding", "obs-promtail")[0]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "promtail", "namespace": "obs"}]
    ds = by_kind(objs, "DaemonSet", "promtail")[0]["spec"]["template"]["spec"]
    assert ds["serviceAccountName"] == "promtail"
    volumes = {v["name"]: v for v in ds["volumes"]}
    assert volumes["pod-logs"]["hostPath"]["path"] == "/srv/pod-logs"
    assert volumes["positions"]["hostPath"]["path"] == "/var/lib/aistack-promtail/obs"
    mounts = {m["name"]: m for m in ds["containers"][0]["volumeMounts"]}
    assert mounts["pod-logs"] == {"name": "pod-logs", "mountPath": "/var/log/pods", "readOnly": True}
    assert ds["containers"][0]["resources"]["limits"]
    ptconf = yaml.safe_load(by_kind(objs, "ConfigMap", "promtail-config")[0]["data"]["promtail.yaml"])
    assert ptconf["clients"][0]["url"] == "http://loki.obs.svc.cluster.local:3100/loki/api/v1/push"
    job = ptconf["scrape_configs"][0]
    assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["team-a-dev"]
    targets = {}
    for rule in job["relabel_configs"]:
        targets.setdefault(rule["target_label"], []).append(rule["source_labels"])
    assert targets["namespace"] == [["__meta_kubernetes_namespace"]]
    assert targets["pod"] == [["__meta_kubernetes_pod_name"]]
    assert targets["container"] == [["__meta_kubernetes_pod_container_name"]]
    # the later rule wins: app.kubernetes.io/name over app
    assert targets["app"] == [["__meta_kubernetes_pod_label_app"], ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]]
    assert targets["tenant"] == [["__meta_kubernetes_pod_label_aistack_io_team"]]
    assert targets["__path__"] == [["__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_container_name"]]

    sources = yaml.safe_load(by_kind(objs, "ConfigMap", "aistack-grafana-datasources")[0]["data"]["aistack-datasources.yaml"])
    urls = {s["type"]: s["url"] for s in sources["datasources"]}
    assert urls == {"prometheus": "http://prometheus.obs.svc.cluster.local:9090", "loki": "http://loki.obs.svc.cluster.local:3100"}


def test_light_switches(tmp_path):
    proc, objs = render(tmp_path, observability_loki_enabled=False, observability_promtail_enabled=False,
                        observability_prometheus_enabled=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    names = {o["metadata"]["name"] for o in objs}
    assert not names & {"loki", "loki-data", "promtail", "observability-promtail", "aistack-grafana-datasources"}
    assert "phoenix" in names


def test_upstream_loki_retention_and_shipper_labels(tmp_path):
    proc, objs = render(tmp_path, observability_mode="upstream", observability_loki_retention="336h",
                        observability_loki_storage_size="20Gi")
    assert proc.returncode == 0, proc.stdout[-3000:]
    releases = {o["spec"]["release"]: o["spec"] for o in by_kind(objs, "HelmRelease")}
    loki = releases["loki"]["values"]
    assert loki["loki"]["limits_config"]["retention_period"] == "336h"
    assert loki["loki"]["compactor"]["retention_enabled"] is True
    assert loki["singleBinary"]["persistence"]["size"] == "20Gi"
    alloy = releases["alloy"]["values"]["alloy"]["configMap"]["content"]
    for label in ("namespace", "pod", "container", "app", "tenant"):
        assert 'target_label  = "%s"' % label in alloy
    proc, objs = render(tmp_path, observability_mode="upstream", observability_loki_enabled=False,
                        observability_promtail_enabled=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert {o["spec"]["release"] for o in by_kind(objs, "HelmRelease")} == {"kube-prometheus-stack", "phoenix"}
    sources = yaml.safe_load(by_kind(objs, "ConfigMap", "aistack-grafana-datasources")[0]["data"]["aistack-datasources.yaml"])
    assert [s["type"] for s in sources["datasources"]] == ["prometheus"]


def test_light_ui_ingresses_only_when_asked(tmp_path):
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    proc, objs = render(tmp_path / "off")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert by_kind(objs, "Ingress") == []
    proc, objs = render(tmp_path / "on", observability_ingress_enabled=True, observability_ingress_domain="dev.example.test",
                        observability_ingress_class="traefik", observability_ingress_tls_secret="obs-tls")
    assert proc.returncode == 0, proc.stdout[-3000:]
    ingresses = {o["metadata"]["name"]: o["spec"] for o in by_kind(objs, "Ingress")}
    assert set(ingresses) == {"phoenix", "prometheus"}
    rule = ingresses["phoenix"]["rules"][0]
    assert rule["host"] == "phoenix.dev.example.test"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "phoenix", "port": {"number": 6006}}
    assert ingresses["prometheus"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"number": 9090}
    assert ingresses["prometheus"]["ingressClassName"] == "traefik"
    assert ingresses["prometheus"]["tls"] == [{"hosts": ["prometheus.dev.example.test"], "secretName": "obs-tls"}]
