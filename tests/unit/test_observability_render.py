"""What the observability role renders (no cluster): the upstream charts at pinned versions with the Grafana
datasources and dashboards, and the light mode's choices per environment (SQLite PVC in dev, PostgreSQL from a
Secret in prd). The upstream charts cannot run here (no image can be pulled), so these are render-only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "build" / "collections"


def render(tmp_path, **extra):
    playbook = tmp_path / "render.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.observability\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    extra = dict({"observability_render_dir": str(tmp_path)}, **extra)
    proc = subprocess.run(["ansible-playbook", str(playbook), "-i", "localhost,", "-c", "local", "-e", json.dumps(extra)],
                          env=env, capture_output=True, text=True, check=False, timeout=300)
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


def test_light_dev_sqlite_and_prd_postgres(tmp_path):
    (tmp_path / "dev").mkdir()
    proc, objs = render(tmp_path / "dev", observability_namespace="obs")
    assert proc.returncode == 0, proc.stdout[-3000:]
    phoenix = by_kind(objs, "Deployment", "phoenix")[0]["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "phoenix-data"}} in phoenix["volumes"]
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
])
def test_bad_inputs(tmp_path, bad, needle):
    proc, _unused = render(tmp_path, **bad)
    assert proc.returncode != 0 and needle in proc.stdout
