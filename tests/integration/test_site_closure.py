"""The exact closure of the local site (issue 18): playbooks/closure.yml computes, from inventories/local alone and
without asking the cluster, every image the site runs; the converged site must run exactly those, nothing missing
and nothing extra.

Scope, precisely:
- cluster images: the (namespace, image) pairs of every container (init and ephemeral ones too) of every pod in the
  site's namespaces (aistack_namespaces of the inventory, and any namespace the closure deploys into), pods being
  deleted left out, against the (namespace, image) pairs of the closure's pod templates;
- host images: the Compose containers of the infra host's project (docker, by their compose labels), against the
  closure's Compose services;
- not in scope: the local test cluster's own pods (kube-system: CoreDNS and the NetworkPolicy enforcer;
  local-path-storage: the local-path provisioner). They come from tests/cluster and stand in for the k3s release, which the closure of an
  inventory with k3s servers carries as one piece (binary and its airgap images archive, not an image list); the
  local inventory has no k3s servers, so its closure has no k3s release. The integration tests' own namespaces
  are not the site's either.

The file shares the local site with test_site.py (XDIST_SHARED_GROUPS "site"): it runs after it on the same
worker and reads the site as that left it; run alone on a cluster without the site, it converges the site first.
"""

import json
import re
import subprocess
import sys
import time

import pytest
import yaml

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "images"))
import local_images  # noqa: E402  # pylint: disable=wrong-import-position

INVENTORY = str(ROOT / "inventories" / "local")
VAULT = ["--vault-password-file", str(ROOT / "inventories" / "local" / "vault-password.txt")]
PLATFORM = ROOT / "inventories" / "local" / "group_vars" / "all" / "platform.yml"
USE = re.compile(r"^(?P<kind>\S+) (?P<ns>[^/\s]*)/(?P<name>\S+) (?P<container>\S+)( \(hook [^)]*\))?$")
COMPOSE_USE = re.compile(r"^compose (?P<project>[^/\s]+)/(?P<service>\S+) on (?P<host>\S+)$")
RESULTS = {}


def _closure(run_playbook, tmp_path, name, **extra):
    out = tmp_path / ("%s.json" % name)
    start = time.time()
    proc = run_playbook(ROOT / "playbooks" / "closure.yml", inventory=INVENTORY,
                        extra_vars=dict(extra, closure_file=str(out)), extra_args=VAULT)
    RESULTS["closure %s s" % name] = round(time.time() - start)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.recap.get("changed", 0) <= 1, proc.stdout[-4000:]  # the closure file only: nothing of the site
    return json.loads(out.read_text())


def cluster_part(closure):
    """{(namespace, image)} of the closure's pod templates, and the workloads they come from."""
    pairs, workloads = set(), set()
    for image in closure["images"]:
        for use in image["used_by"]:
            match = USE.match(use)
            if match and match.group("kind") != "compose":
                pairs.add((match.group("ns"), image["ref"]))
                workloads.add((match.group("kind"), match.group("ns"), match.group("name")))
    return pairs, workloads


def compose_part(closure):
    """{(project, service, image)} of the closure's Compose services."""
    out = set()
    for image in closure["images"]:
        for use in image["used_by"]:
            match = COMPOSE_USE.match(use)
            if match:
                out.add((match.group("project"), match.group("service"), image["ref"]))
    return out


def site_namespaces(closure):
    names = {ns["name"] for ns in yaml.safe_load(PLATFORM.read_text())["aistack_namespaces"]}
    return sorted(names | {ns for ns, _image in cluster_part(closure)[0]})


def running_pairs(kubectl, namespaces):
    """{(namespace, image)} of every container of every pod of ``namespaces`` (pods being deleted left out)."""
    pairs = set()
    for ns in namespaces:
        for pod in json.loads(kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            for field in ("initContainers", "containers", "ephemeralContainers"):
                for container in pod["spec"].get(field) or []:
                    pairs.add((ns, container["image"]))
    return pairs


def running_compose(project):
    """{(project, service, image)} of the Compose project's containers on this (infra) host."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=%s" % project],
                         capture_output=True, text=True, check=True).stdout.split()
    out = set()
    for info in json.loads(subprocess.run(["docker", "inspect"] + ids, capture_output=True, text=True,
                                          check=True).stdout) if ids else []:
        labels = info["Config"]["Labels"]
        out.add((labels["com.docker.compose.project"], labels["com.docker.compose.service"], info["Config"]["Image"]))
    return out


def compare(expected, running):
    """(missing: in the closure, run by nothing; extra: run, not in the closure)."""
    return sorted(expected - running), sorted(running - expected)


@pytest.fixture(scope="module")
def local_site(run_playbook, kubeconfig, kubectl, tmp_path_factory):
    """The closure of inventories/local, and the local site converged (as test_site.py left it; converged here
    first when its workloads are missing, e.g. when this file runs alone)."""
    tmp = tmp_path_factory.mktemp("closure")
    closure = _closure(run_playbook, tmp, "local")
    _pairs, workloads = cluster_part(closure)
    absent = [w for w in sorted(workloads)
              if kubectl("get", w[0].lower(), w[2], "-n", w[1], check=False).returncode != 0]
    if absent:
        local_images.ensure()
        proc = run_playbook(ROOT / "playbooks" / "site.yml", inventory=INVENTORY,
                            extra_vars={"aistack_kubeconfig": kubeconfig}, extra_args=VAULT)
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    for kind, ns, name in sorted(w for w in workloads if w[0] in ("Deployment", "StatefulSet", "DaemonSet")):
        kubectl("rollout", "status", "%s/%s" % (kind.lower(), name), "-n", ns, "--timeout=600s", timeout=660)
    RESULTS["converged here"] = bool(absent)
    return {"closure": closure, "tmp": tmp}


def test_the_closure_is_computed_from_the_inventory_alone(local_site):
    closure = local_site["closure"]
    refs = [image["ref"] for image in closure["images"]]
    assert len(refs) == len(set(refs)) and refs, refs
    # every layer of the local site that runs workloads is in it, through its own render
    assert {"aistack.local/langflow:1.13.0", "aistack.local/lightrag:1.5.7", "aistack.local/langgraph-worker:0.1.0",
            "aistack.local/llm-standin:1.0.0", "aistack.local/traefik:v3.6.12", "aistack.local/phoenix:20.26.1",
            "aistack.local/prometheus:2.53.3", "aistack.local/loki:3.5.7", "aistack.local/promtail:3.5.7",
            "aistack.local/postgres:17", "aistack.local/redis:8"} == set(refs)
    uses = {image["ref"]: image["used_by"] for image in closure["images"]}
    assert uses["aistack.local/langflow:1.13.0"] == [
        "Deployment team-demo-dev/team-demo-langflow-dev langflow",
        "Deployment team-demo-dev/team-demo-langflow-runtime-dev langflow-runtime"]
    assert uses["aistack.local/promtail:3.5.7"] == ["DaemonSet observability/promtail promtail"]
    assert uses["aistack.local/postgres:17"] == ["compose aistack-infra/postgresql on localhost"]
    # no registry in the local site (aistack_registry_enabled: false), no k3s servers, no upstream charts
    assert not [i for i in closure["images"] if i["bootstrap"]]
    assert closure["charts"] == [] and closure["k3s"] == {} and closure["site"] == "local"


def test_the_closure_equals_what_the_converged_site_runs(local_site, kubectl):
    closure = local_site["closure"]
    expected, _workloads = cluster_part(closure)
    namespaces = site_namespaces(closure)
    assert namespaces == ["aistack-system", "langgraph", "observability", "team-demo-dev"]
    running = running_pairs(kubectl, namespaces)
    missing, extra = compare(expected, running)
    assert (missing, extra) == ([], []), "missing (in the closure, run by no pod): %s; extra (run, not in the " \
                                         "closure): %s" % (missing, extra)
    # the infra host's Compose services are the closure's host part
    compose = compose_part(closure)
    assert compose_part(closure) and compare(compose, running_compose("aistack-infra")) == ([], [])
    # out of scope: the test cluster's own pods (the stand-in for the k3s release), none of them the site's
    system = running_pairs(kubectl, ["kube-system", "local-path-storage"])
    assert system, "the local cluster runs CoreDNS in kube-system"
    assert not {ns for ns, _image in system} & set(site_namespaces(closure))
    assert not {image for _ns, image in system} & {image["ref"] for image in closure["images"]}


def test_a_closure_missing_an_image_or_holding_one_too_many_is_detected(local_site, kubectl, run_playbook):
    """Negative controls. Pure: the closure with one image removed, and with one added, compared with the same
    pods. Through the whole pipeline: the closure of the same inventory with the LangGraph worker switched off
    does not hold the worker's image, which the site runs: reported as extra."""
    closure = local_site["closure"]
    expected, _workloads = cluster_part(closure)
    running = running_pairs(kubectl, site_namespaces(closure))
    dropped = ("langgraph", "aistack.local/langgraph-worker:0.1.0")
    assert compare(expected - {dropped}, running) == ([], [dropped])
    ghost = ("aistack-system", "aistack.local/not-deployed:1.0.0")
    assert compare(expected | {ghost}, running) == ([ghost], [])
    without_worker = _closure(run_playbook, local_site["tmp"], "no-worker", langgraph_worker_enabled=False)
    refs = [image["ref"] for image in without_worker["images"]]
    assert "aistack.local/langgraph-worker:0.1.0" not in refs
    assert compare(cluster_part(without_worker)[0], running) == ([], [dropped])
    print("closure timings: %s" % RESULTS)
