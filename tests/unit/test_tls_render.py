"""TLS as the roles render it (no cluster): the ingress role's http -> https redirect flags, and what the app roles
put on their Ingresses with aistack_tls_enabled - a <release>-tls Secret the tls role fills from the site CA, or
with a cert-manager issuer its annotation (cert-manager cannot run here, so this is what is tested of it).
The tls role itself runs for real in tests/integration/test_tls_role.py."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import COLLECTIONS, ROOT, run_role

from test_ingress_render import render as render_ingress, one
from test_observability_render import render as render_observability, by_kind

ISSUERS = {"cluster": {"kind": "ClusterIssuer", "name": "site-issuer"}, "ns": {"kind": "Issuer", "name": "team-issuer"}}


def _args(objs):
    return one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]


def test_redirect_follows_the_platform_switch(tmp_path):
    proc, objs = render_ingress(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not [a for a in _args(objs) if "redirections" in a]
    proc, objs = render_ingress(tmp_path, aistack_tls_enabled=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    # behind a Service: to the Service's https port, which clients reach (not the pod's 8443)
    assert [a for a in _args(objs) if "redirections" in a] == [
        "--entryPoints.web.http.redirections.entryPoint.to=:443",
        "--entryPoints.web.http.redirections.entryPoint.scheme=https",
        "--entryPoints.web.http.redirections.entryPoint.permanent=true"]
    assert "--entryPoints.websecure.http.tls=true" in _args(objs)


def test_redirect_on_the_nodes_network_goes_to_websecure(tmp_path):
    proc, objs = render_ingress(tmp_path, ingress_http_redirect=True, ingress_exposure="host_network",
                                ingress_websecure_port=18443)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "--entryPoints.web.http.redirections.entryPoint.to=websecure" in _args(objs)
    assert "--entryPoints.websecure.address=127.0.0.1:18443" in _args(objs)


def test_redirect_without_websecure_is_refused(tmp_path):
    proc = render_ingress(tmp_path, ingress_http_redirect=True, ingress_websecure_enabled=False)[0]
    assert proc.returncode != 0
    assert "ingress_http_redirect needs ingress_websecure_enabled: true" in proc.stdout, proc.stdout[-3000:]


def _observability_ingresses(tmp_path, **extra):
    proc, objs = render_observability(tmp_path, observability_ingress_enabled=True,
                                      observability_ingress_domain="example.test", **extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return {o["metadata"]["name"]: o for o in by_kind(objs, "Ingress")}


def test_observability_ingresses_with_the_site_ca(tmp_path):
    ingresses = _observability_ingresses(tmp_path, aistack_tls_enabled=True)
    for name in ("phoenix", "prometheus"):
        assert ingresses[name]["spec"]["tls"] == [{"hosts": ["%s.example.test" % name], "secretName": name + "-tls"}]
        assert not ingresses[name]["metadata"].get("annotations")


def test_observability_ingresses_without_tls(tmp_path):
    ingresses = _observability_ingresses(tmp_path, aistack_tls_cert_manager_issuer=ISSUERS["cluster"])
    assert all("tls" not in i["spec"] and not i["metadata"].get("annotations") for i in ingresses.values())


@pytest.mark.parametrize("issuer, annotation", [("cluster", "cert-manager.io/cluster-issuer"),
                                                ("ns", "cert-manager.io/issuer")])
def test_observability_ingresses_with_a_cert_manager_issuer(tmp_path, issuer, annotation):
    ingresses = _observability_ingresses(tmp_path, aistack_tls_enabled=True,
                                         aistack_tls_cert_manager_issuer=ISSUERS[issuer])
    for name, ing in ingresses.items():
        assert ing["metadata"]["annotations"] == {annotation: ISSUERS[issuer]["name"]}
        assert ing["spec"]["tls"][0]["secretName"] == name + "-tls"


# --- langflow and lightrag: the ingress options the roles give helm_tenant ----------------------------------------

def _helm_tenant_task(path, name):
    for task in yaml.safe_load((ROOT / path).read_text()):
        if task.get("name") == name:
            return task
    raise AssertionError("no task %r in %s" % (name, path))


def _ingress_options(tmp_path, role, path, task_name, facts, **extra):
    """The ``ingress`` options the role's helm_tenant task passes, templated with the role's defaults, the task's
    vars, ``facts`` (what the loop provides) and ``extra``, by ansible itself (a debug task, JSON output)."""
    task = _helm_tenant_task(path, task_name)
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars": dict(defaults, **dict(task.get("vars") or {}, **facts)),
             "tasks": [{"name": "ingress", "ansible.builtin.set_fact": {
                 "_rendered": task["aistack.platform.helm_tenant"]["ingress"]}},
                 {"name": "show", "ansible.builtin.debug": {"var": "_rendered"}}]}]
    playbook = tmp_path / ("%s.yml" % role)
    playbook.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    proc = subprocess.run(["ansible-playbook", str(playbook), "-i", "localhost,", "-c", "local", "-e",
                           json.dumps(extra)], env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)["plays"][0]["tasks"][1]["hosts"]["localhost"]["_rendered"]
    # what the module receives: omitted options are gone
    return {k: v for k, v in result.items() if not str(v).startswith("__omit_place_holder__")}


LANGFLOW = ("langflow", "roles/langflow/tasks/tenant.yml")
LIGHTRAG = ("lightrag", "roles/lightrag/tasks/main.yml", "Converge the LightRAG release")


def _langflow(tmp_path, **extra):
    task = [t for t in yaml.safe_load((ROOT / LANGFLOW[1]).read_text()) if "aistack.platform.helm_tenant" in t][0]
    facts = {"_langflow_plane": {"release": "team-a-langflow-dev"}, "_langflow_item": ["team-a", "dev"]}
    return _ingress_options(tmp_path, LANGFLOW[0], LANGFLOW[1], task["name"], facts, **extra)


def _lightrag(tmp_path, **extra):
    return _ingress_options(tmp_path, LIGHTRAG[0], LIGHTRAG[1], LIGHTRAG[2], {}, **extra)


def test_langflow_ingress_tls_from_the_platform_switch(tmp_path):
    plain = _langflow(tmp_path)
    assert not {"tls_secret", "cert_manager_issuer", "cert_manager_cluster_issuer"} & set(plain), plain
    with_ca = _langflow(tmp_path, aistack_tls_enabled=True)
    assert with_ca["tls_secret"] == "team-a-langflow-dev-tls"
    assert not {"cert_manager_issuer", "cert_manager_cluster_issuer"} & set(with_ca), with_ca
    cluster = _langflow(tmp_path, aistack_tls_enabled=True, aistack_tls_cert_manager_issuer=ISSUERS["cluster"])
    assert cluster["cert_manager_cluster_issuer"] == "site-issuer" and "tls_secret" not in cluster, cluster
    namespaced = _langflow(tmp_path, aistack_tls_enabled=True, aistack_tls_cert_manager_issuer=ISSUERS["ns"])
    assert namespaced["cert_manager_issuer"] == "team-issuer" and "tls_secret" not in namespaced, namespaced
    # the role's own settings win: an existing Secret, or the role's ClusterIssuer
    own = _langflow(tmp_path, aistack_tls_enabled=True, langflow_ingress_tls_secret="wildcard-tls",
                    aistack_tls_cert_manager_issuer=ISSUERS["cluster"])
    assert own["tls_secret"] == "wildcard-tls" and "cert_manager_cluster_issuer" not in own, own
    own = _langflow(tmp_path, aistack_tls_enabled=True, langflow_ingress_cluster_issuer="other")
    assert own["cert_manager_cluster_issuer"] == "other" and "tls_secret" not in own, own


def test_lightrag_ingress_tls_from_the_platform_switch(tmp_path):
    plain = _lightrag(tmp_path)
    assert not {"tls_secret", "cert_manager_issuer", "cert_manager_cluster_issuer"} & set(plain), plain
    assert _lightrag(tmp_path, aistack_tls_enabled=True)["tls_secret"] == "platform-lightrag-dev-tls"
    cluster = _lightrag(tmp_path, aistack_tls_enabled=True, aistack_tls_cert_manager_issuer=ISSUERS["cluster"])
    assert cluster["cert_manager_cluster_issuer"] == "site-issuer" and "tls_secret" not in cluster, cluster
    namespaced = _lightrag(tmp_path, aistack_tls_enabled=True, aistack_tls_cert_manager_issuer=ISSUERS["ns"])
    assert namespaced["cert_manager_issuer"] == "team-issuer" and "tls_secret" not in namespaced, namespaced


def test_the_tls_role_refuses_bad_variables_before_the_cluster(tmp_path):
    proc = run_role(tmp_path, "tls", {"tls_validity_days": 30, "tls_renew_before_days": 30,
                                      "tls_ca_private_key": "-----BEGIN PRIVATE KEY-----"})
    assert proc.returncode != 0
    assert "tls_renew_before_days (30) must be less than tls_validity_days (30)" in proc.stdout, proc.stdout[-3000:]
    assert "tls_ca_certificate and tls_ca_private_key go together" in proc.stdout
    assert "BEGIN PRIVATE KEY" not in proc.stdout


def test_cert_manager_mode_issues_nothing(tmp_path):
    proc = run_role(tmp_path, "tls", {"aistack_tls_cert_manager_issuer": ISSUERS["cluster"]})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "cert-manager's ClusterIssuer site-issuer issues the ingress" in proc.stdout
    assert "changed=0" in proc.stdout
