"""The closure of a site, pure parts (plugins/module_utils/images/closure.py): every image of every pod template of
rendered manifests, Compose files, upstream chart entries, the closure put together, the lockfile and the pods
checked against it. The closure of the converged local site against its pods is tests/integration/test_site_closure.py;
the roles' renders and helm_tenant's render_dir are tested below and there."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.filters import airgap
from ansible_collections.aistack.platform.plugins.module_utils.helm.runner import template_command
from ansible_collections.aistack.platform.plugins.module_utils.images import closure

from conftest import ROOT

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

WORKLOADS = """
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a}
spec:
  initContainers: [{name: init, image: "busybox:1.36"}]
  containers: [{name: main, image: "app:1"}]
  ephemeralContainers: [{name: debug, image: "debug:2"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec: {template: {spec: {containers: [{name: web, image: "web:1"}, {name: sidecar, image: "proxy:3"}]}}}
---
# a comment-only document, then an empty one
---
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s, namespace: b}
spec: {template: {spec: {initContainers: [{name: chown, image: "busybox:1.36"}], containers: [{name: db, image: "pg:17"}]}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec: {template: {spec: {containers: [{name: agent, image: "agent:1"}]}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec: {template: {spec: {containers: [{name: r, image: "rs:1"}]}}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {"helm.sh/hook": "pre-install,pre-upgrade"}
spec: {template: {spec: {containers: [{name: m, image: "migrate:1"}]}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: n, image: "cron:1"}]}}}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: chart-test
  annotations: {"helm.sh/hook": test}
spec: {containers: [{name: t, image: "test-only:1"}]}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: canary}
spec: {template: {spec: {containers: [{name: c, image: "canary:1"}]}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {image: "not-an-image:1"}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
spec: {template: "no pod template here"}
"""


def test_every_container_of_every_pod_template():
    found = closure.manifest_images(WORKLOADS, namespace="default-ns")
    got = [(i["kind"], i["namespace"], i["name"], i["field"], i["container"], i["image"]) for i in found]
    assert got == [
        ("Pod", "a", "p", "initContainers", "init", "busybox:1.36"),
        ("Pod", "a", "p", "containers", "main", "app:1"),
        ("Pod", "a", "p", "ephemeralContainers", "debug", "debug:2"),
        ("Deployment", "default-ns", "d", "containers", "web", "web:1"),
        ("Deployment", "default-ns", "d", "containers", "sidecar", "proxy:3"),
        ("StatefulSet", "b", "s", "initContainers", "chown", "busybox:1.36"),
        ("StatefulSet", "b", "s", "containers", "db", "pg:17"),
        ("DaemonSet", "default-ns", "ds", "containers", "agent", "agent:1"),
        ("ReplicaSet", "default-ns", "rs", "containers", "r", "rs:1"),
        ("Job", "default-ns", "migrate", "containers", "m", "migrate:1"),
        ("CronJob", "default-ns", "nightly", "containers", "n", "cron:1"),
        ("Rollout", "default-ns", "canary", "containers", "c", "canary:1"),
    ]
    hooks = {i["name"]: i["hook"] for i in found}
    assert hooks["migrate"] == "pre-install,pre-upgrade" and hooks["d"] == ""
    assert "test-only:1" not in [i["image"] for i in found]  # chart tests run only on `helm test`


def test_lists_and_list_kind_and_parsed_objects():
    dep = {"kind": "Deployment", "metadata": {"name": "x", "namespace": "n"},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}
    as_list = yaml.safe_dump([dep])
    as_list_kind = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [dep]})
    for given in (as_list, as_list_kind, [dep], dep, json.dumps([dep])):
        assert [i["image"] for i in closure.manifest_images(given)] == ["x:1"]
    assert closure.manifest_images("") == [] and closure.manifest_images(None) == []


def test_bad_manifests_are_refused_naming_the_object():
    with pytest.raises(AistackError, match="not valid YAML"):
        closure.manifest_images("kind: [unclosed", source="x.yml")
    with pytest.raises(AistackError, match=r"Deployment n/d containers\[c\] has no image"):
        closure.manifest_images({"kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
                                 "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}})
    with pytest.raises(AistackError, match="not an object"):
        closure.manifest_images("- 1\n- 2\n")


def test_namespaced_fills_only_namespaced_objects():
    docs = closure.load_documents("kind: ClusterRole\nmetadata: {name: r}\n---\nkind: Deployment\nmetadata: {name: d}\n"
                                  "---\nkind: Service\nmetadata: {name: s, namespace: other}\n")
    out = closure.namespaced(docs, "team-dev")
    assert [o["metadata"].get("namespace") for o in out] == [None, "team-dev", "other"]
    assert "namespace" not in docs[1]["metadata"]  # the input is not changed


def test_compose_images():
    text = ("name: aistack-infra\nservices:\n  redis: {image: 'redis:8'}\n  postgresql: {image: 'pg:17', ports: ['5432']}\n"
            "volumes: {data: {}}\n")
    assert closure.compose_images(text, host="infra-1") == [
        {"image": "pg:17", "host": "infra-1", "project": "aistack-infra", "service": "postgresql"},
        {"image": "redis:8", "host": "infra-1", "project": "aistack-infra", "service": "redis"}]
    with pytest.raises(AistackError, match="service app has no image"):
        closure.compose_images("services:\n  app: {build: .}\n")


def test_helm_releases_and_their_chart_entries():
    text = yaml.safe_dump([
        {"kind": "HelmRelease", "spec": {"release": "loki", "chart": "loki", "repo": "https://grafana.github.io/helm-charts",
                                         "version": "6.30.1", "values": {"a": 1}, "namespace": "observability"}},
        {"kind": "HelmRelease", "spec": {"release": "phoenix", "chart": "oci://registry-1.docker.io/arizephoenix/phoenix-helm",
                                         "repo": "oci://registry-1.docker.io/arizephoenix", "version": 4.0}},
        {"kind": "ConfigMap", "metadata": {"name": "x"}}])
    releases = closure.helm_releases(text, namespace="fallback")
    assert [(r["release"], r["namespace"], r["version"]) for r in releases] == [
        ("loki", "observability", "6.30.1"), ("phoenix", "fallback", "4.0")]
    assert [closure.chart_entry(r) for r in releases] == [
        {"name": "loki", "version": "6.30.1", "repo": "https://grafana.github.io/helm-charts"},
        {"name": "phoenix-helm", "version": "4.0", "repo": "oci://registry-1.docker.io/arizephoenix"}]
    with pytest.raises(AistackError, match="without version"):
        closure.helm_releases([{"kind": "HelmRelease", "spec": {"release": "x", "chart": "y"}}])


def _dep(ns, name, image, container="c"):
    return {"kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}


def test_site_closure_puts_the_renders_together():
    renders = [
        {"kind": "compose", "source": "databases-compose.yml", "host": "infra-1",
         "content": "name: infra\nservices:\n  postgresql: {image: 'pg:17'}\n"},
        {"kind": "manifest", "source": "registry/registry.yml", "content": [_dep("aistack-system", "registry", "registry:2.8.3")]},
        {"kind": "manifest", "source": "team-a-langflow-dev.yml", "namespace": "team-a-dev",
         "content": [_dep(None, "ide", "langflow:1.13.0"), _dep(None, "rt", "langflow:1.13.0", "runtime")]},
        {"kind": "manifest", "source": "upstream.yml", "content": [
            {"kind": "HelmRelease", "spec": {"release": "loki", "chart": "loki", "repo": "https://charts", "version": "6.1.0",
                                             "namespace": "observability"}}]},
    ]
    out = closure.site_closure(renders, extra_images=[{"ref": "tool:1", "from": "aistack_images"}, "pg:17"],
                               bootstrap_images=["registry:2.8.3"],
                               extra_charts=[{"name": "loki", "version": "6.1.0", "repo": "https://charts"},
                                             {"name": "extra", "version": "1.0.0", "path": "/x.tgz"}])
    assert [(i["ref"], i["bootstrap"]) for i in out["images"]] == [
        ("pg:17", False), ("registry:2.8.3", True), ("langflow:1.13.0", False), ("tool:1", False)]
    uses = {i["ref"]: i["used_by"] for i in out["images"]}
    assert uses["pg:17"] == ["compose infra/postgresql on infra-1", "extra"]
    assert uses["langflow:1.13.0"] == ["Deployment team-a-dev/ide c", "Deployment team-a-dev/rt runtime"]
    assert uses["registry:2.8.3"] == ["Deployment aistack-system/registry c", "bootstrap"]
    assert uses["tool:1"] == ["aistack_images"]
    assert out["charts"] == [{"name": "loki", "version": "6.1.0", "repo": "https://charts"},
                             {"name": "extra", "version": "1.0.0", "path": "/x.tgz"}]
    assert [r["release"] for r in out["releases"]] == ["loki"]
    assert closure.site_closure([]) == {"images": [], "charts": [], "releases": []}
    with pytest.raises(AistackError, match="kind 'helm'"):
        closure.site_closure([{"kind": "helm", "content": ""}])


def test_lockfile_is_deterministic_and_checked():
    entries = [{"ref": "b:1", "digest": D2, "file": "images/b.tar"}, {"ref": "a:1", "digest": D1}]
    text = closure.lock_text(entries, site="plant-a")
    assert text == closure.lock_text(list(reversed(entries)), site="plant-a")
    doc = json.loads(text)
    assert doc == {"format": "aistack-images-lock/v1", "site": "plant-a", "images": {"a:1": D1, "b:1": D2}}
    assert list(doc["images"]) == ["a:1", "b:1"]
    assert closure.read_lock(text) == {"a:1": D1, "b:1": D2}
    with pytest.raises(AistackError, match="no manifest digest"):
        closure.lock_document([{"ref": "a:1", "digest": "sha256:abc"}])
    with pytest.raises(AistackError, match="two digests"):
        closure.lock_document([{"ref": "a:1", "digest": D1}, {"ref": "a:1", "digest": D2}])
    for bad in ("not json", json.dumps({"format": "other", "images": {}}),
                json.dumps({"format": "aistack-images-lock/v1", "images": {"a:1": "md5:x"}})):
        with pytest.raises(AistackError):
            closure.read_lock(bad)


def _pod(ns, name, containers, statuses):
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"containers": [{"name": c, "image": i} for c, i in containers]},
            "status": {"containerStatuses": statuses}}


def test_pods_against_the_lockfile():
    lock = closure.lock_text([{"ref": "app:1", "digest": D1}])
    good = _pod("a", "p1", [("c", "app:1")], [{"name": "c", "image": "docker.io/library/app:1",
                                               "imageID": "docker.io/library/app@" + D1}])
    waiting = _pod("a", "p2", [("c", "app:1")], [{"name": "c", "image": "app:1", "imageID": ""}])
    assert closure.lock_problems([good, waiting], lock) == []
    drifted = _pod("a", "p3", [("c", "app:1")], [{"name": "c", "image": "app:1", "imageID": "docker-pullable://app@" + D2}])
    problems = closure.lock_problems([drifted], lock)
    assert len(problems) == 1 and "pod a/p3 container c runs app:1 as %s" % D2 in problems[0] and D1 in problems[0]
    assert "airgap_import.yml" in problems[0]
    stranger = _pod("b", "p4", [("x", "other:2")], [{"name": "x", "image": "other:2", "imageID": "other@" + D2}])
    assert "does not list" in closure.lock_problems([stranger], lock)[0]
    assert closure.lock_problems([stranger], lock, unlocked="ignore") == []
    pinned = _pod("b", "p5", [("x", "other@" + D1)], [{"name": "x", "image": "other@" + D1, "imageID": "other@" + D1}])
    assert closure.lock_problems([pinned], lock) == []
    assert closure.image_id_digest("containerd://" + "f" * 64) == ""  # a container ID is no manifest digest


def test_sums_must_list_the_lockfile():
    manifest = {"images": [], "charts": [], "k3s": [], "lock": {"file": "images.lock.json"}}
    sums = "%s  manifest.json\n" % ("0" * 64)
    assert airgap.sums_problems(sums, manifest) == ["SHA256SUMS does not list images.lock.json (lock of the manifest)."]
    assert airgap.sums_problems(sums + "%s  images.lock.json\n" % ("1" * 64), manifest) == []
    assert airgap.sums_problems(sums, {"images": [], "lock": {}}) == []  # a bundle from before lockfiles


def test_helm_template_command():
    assert template_command("helm", "r", "ns", {"path": "/c"}, "/v.json") == [
        "helm", "template", "r", "/c", "--namespace", "ns", "--values", "/v.json", "--skip-tests"]
    assert template_command("helm", "r", "ns", {"name": "loki", "repo": "https://x", "version": "1.0"}, "/v")[-4:] == [
        "--repo", "https://x", "--version", "1.0"]


# --------------------------------------------------------------------------- helm_tenant render_dir, the roles

def _helm():
    for candidate in (Path.home() / ".cache" / "aistack" / "bin" / "helm", shutil.which("helm")):
        if candidate and os.path.exists(str(candidate)):
            return str(candidate)
    pytest.skip("no helm binary (tests/cluster/cluster.sh build fetches it)")


def test_helm_tenant_render_dir_touches_no_cluster(tmp_path, monkeypatch):
    """helm_tenant with render_dir: helm template of the generic chart with the values a real run sends, every
    namespaced object given its namespace, no connection opened (KUBECONFIG points at nothing)."""
    from conftest import run_role  # noqa: F401  (conftest puts the collection on the path)
    helm = _helm()
    playbook = tmp_path / "render.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "Render", "register": "out", "aistack.platform.helm_tenant": {
            "team": "team-a", "service": "app", "environment": "dev", "chart": {"path": str(ROOT / "charts" / "aistack-service")},
            "image": {"repository": "ghcr.io/team-a/app", "tag": "1.2.3"},
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "persistence": {"enabled": False}, "ingress": {"enabled": True, "domain": "example.com"},
            "binary_path": helm, "render_dir": str(tmp_path)}}, {
        "ansible.builtin.copy": {"content": "{{ out | to_json }}", "dest": str(tmp_path / "result.json"), "mode": "0644"},
        "name": "Keep the result"}]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"), KUBECONFIG=str(tmp_path / "none"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    import sys  # pylint: disable=import-outside-toplevel
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for check in ([], ["--check"]):
        (tmp_path / "team-a-app-dev.yml").unlink(missing_ok=True)
        proc = subprocess.run(["ansible-playbook", str(playbook), "-i", "localhost,", "-c", "local"] + check, env=env,
                              capture_output=True, text=True, check=False, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:]
        result = json.loads((tmp_path / "result.json").read_text())
        assert result["changed"] is False and result["rendered"] == str(tmp_path / "team-a-app-dev.yml")
        assert result["images"] == ["ghcr.io/team-a/app:1.2.3"]
        docs = closure.load_documents((tmp_path / "team-a-app-dev.yml").read_text())
        kinds = {d["kind"]: d["metadata"].get("namespace") for d in docs}
        assert kinds["Deployment"] == "team-a-dev" and kinds["Ingress"] == "team-a-dev"
        assert [i["image"] for i in closure.manifest_images(docs)] == ["ghcr.io/team-a/app:1.2.3"]


def test_the_roles_render_what_they_would_deploy(tmp_path):
    """registry (cluster mode), demo_app and databases (compose: the Compose file; kubeblocks: the operator and
    addon charts as HelmRelease entries) in render mode: the files the closure reads, nothing applied (no cluster
    here), nothing 'changed'."""
    from conftest import run_role
    cases = [
        ("registry", {"registry_render_dir": str(tmp_path / "r")}, "r/registry.yml"),
        ("demo_app", {"demo_app_render_dir": str(tmp_path / "d"), "demo_app_image": "ghcr.io/x/demo:1.0"},
         "d/demo-app-demohttp.yml"),
        ("databases", {"databases_render_dir": str(tmp_path / "c"), "databases_postgres_admin_password": "Secret-pw-1",
                       "databases_redis_password": "Secret-pw-2", "databases_compose_project": "infra"},
         "c/databases-compose.yml"),
        ("databases", {"databases_render_dir": str(tmp_path / "k"), "databases_backend": "kubeblocks",
                       "databases_services": ["postgresql", "redis"]}, "k/databases-kubeblocks.yml"),
    ]
    for role, extra, out in cases:
        (tmp_path / out).parent.mkdir(exist_ok=True)
        proc = run_role(tmp_path, role, extra)
        assert proc.returncode == 0 and "changed=0" in proc.stdout, proc.stdout[-3000:]
        text = (tmp_path / out).read_text()
        if out.endswith("databases-compose.yml"):
            assert [(i["service"], i["image"]) for i in closure.compose_images(text)] == [
                ("postgresql", "pgvector/pgvector:0.8.0-pg17"), ("redis", "redis:8.0.3-bookworm")]
            assert "Secret-pw" not in text
        elif out.endswith("databases-kubeblocks.yml"):
            releases = closure.helm_releases(text)
            assert [(r["release"], r["chart"], r["namespace"]) for r in releases] == [
                ("kubeblocks", "kubeblocks", "kb-system"), ("kb-addon-postgresql", "postgresql", "kb-system"),
                ("kb-addon-redis", "redis", "kb-system")]
        else:
            images = [i["image"] for i in closure.manifest_images(text)]
            assert images == (["docker.io/library/registry:2.8.3"] if role == "registry" else ["ghcr.io/x/demo:1.0"])
