# -*- coding: utf-8 -*-
"""The network_policies role against the local cluster, whose kube-network-policies enforces them.

Real pods, real connections: two tenants (each a "Langflow" server and a client pod; team B also runs its own
database in its namespace), a system namespace with an ingress-controller pod, an observability namespace with
a "Phoenix" pod, and a "PostgreSQL" on the node registered with external_service, as the databases role does.
Every connection is a TCP connect from inside a pod (bash's /dev/tcp, by Service DNS name, so DNS is allowed
too). The negative control removes the policies (test-only) and shows the same connections succeed.
"""

import json
import socket
import threading
import uuid

import pytest

from conftest import ROOT, converge_sequence, wait_until

PLAYBOOK = ROOT / "playbooks" / "network_policies.yml"


def _listener(address):
    """A TCP server on the node (the stand-in for a Compose database): accepts and closes."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, 0))
    server.listen(16)

    def serve():
        while True:
            try:
                conn = server.accept()[0]
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server


def _pod(name, ns, image, labels, server):
    spec = {"containers": [{"name": "main", "image": image, "imagePullPolicy": "Never"}],
            "terminationGracePeriodSeconds": 0, "automountServiceAccountToken": False}
    if server:
        spec["containers"][0]["ports"] = [{"containerPort": 8080}]
    else:
        spec["containers"][0]["command"] = ["sleep", "infinity"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": spec}


def _service(name, ns, labels):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}


@pytest.fixture(scope="module")
def site(kubectl, run_module, images, tmp_path_factory):
    inventory = tmp_path_factory.mktemp("np") / "hosts.yml"
    inventory.write_text("all:\n  children:\n    k8s_api:\n      hosts:\n        localhost:\n"
                         "  vars:\n    ansible_connection: local\n")
    tag = uuid.uuid4().hex[:6]
    ns = {k: "np-%s-%s" % (k, tag) for k in ("a", "b", "sys", "obs")}
    node_ip = kubectl("get", "node", "-o", "jsonpath={.items[0].status.addresses[?(@.type=='InternalIP')].address}").stdout
    pg = _listener(node_ip)
    pg_port = pg.getsockname()[1]
    other = _listener(node_ip)  # a port on the node that no policy names
    demo, base = images["AISTACK_DEMOHTTP_IMAGE"], images["AISTACK_BASE_IMAGE"]
    items = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns["a"], "labels": {"aistack.io/team": "np-a"}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns["b"], "labels": {"aistack.io/team": "np-b"}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns["sys"]}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns["obs"]}},
    ]
    for team in ("a", "b"):
        items += [_pod("langflow", ns[team], demo, {"app": "langflow"}, True), _service("langflow", ns[team], {"app": "langflow"}),
                  _pod("client", ns[team], base, {"app": "client"}, False)]
    items += [_pod("db", ns["b"], demo, {"app": "db"}, True), _service("db", ns["b"], {"app": "db"}),
              _pod("traefik", ns["sys"], base, {"app.kubernetes.io/component": "ingress-controller"}, False),
              _pod("phoenix", ns["obs"], demo, {"app.kubernetes.io/name": "phoenix"}, True),
              _service("phoenix", ns["obs"], {"app.kubernetes.io/name": "phoenix"}),
              _pod("prometheus", ns["obs"], base, {"app.kubernetes.io/name": "prometheus"}, False)]
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    result = run_module("aistack.platform.external_service", dict(
        name="postgresql", namespace=ns["sys"], addresses=[node_ip], ports=[dict(name="pg", port=pg_port)], probe="none"))
    assert not result.get("failed"), result
    for key in ns:
        kubectl("-n", ns[key], "wait", "--for=condition=Ready", "pod", "--all", "--timeout=120s")
    variables = {
        "network_policies_only_namespaces": list(ns.values()),
        "network_policies_system_namespace": ns["sys"],
        "network_policies_database_namespaces": [ns["sys"]],
        "network_policies_observability_namespace": ns["obs"],
        "network_policies_ingress_controller": {
            "namespace": ns["sys"], "pod_labels": {"app.kubernetes.io/component": "ingress-controller"}},
        "network_policies_tracing": {"namespace": ns["obs"], "pod_labels": {"app.kubernetes.io/name": "phoenix"}, "ports": [8080]},
        "network_policies_metrics_scraper": {"namespace": ns["obs"], "pod_labels": {"app.kubernetes.io/name": "prometheus"}},
    }
    yield {"ns": ns, "vars": variables, "inventory": str(inventory), "node_ip": node_ip, "pg_port": pg_port, "other_port": other.getsockname()[1]}
    pg.close()
    other.close()
    kubectl("delete", "namespace", "--wait=false", "--ignore-not-found", *ns.values(), check=False)


def _connects(kubectl, ns, pod, host, port):
    return _probe(kubectl, ns, pod, {"x": (host, port)})["x"]


def _probe(kubectl, ns, pod, targets):
    """TCP connects from one pod to several targets at once: {label: (host, port)} -> {label: connected}."""
    lines = ["(timeout 4 bash -c 'echo > /dev/tcp/%s/%s' 2>/dev/null && echo 'ok %s' || echo 'no %s') &"
             % (host, port, label, label) for label, (host, port) in sorted(targets.items())]
    proc = kubectl("-n", ns, "exec", pod, "--", "bash", "-c", "\n".join(lines + ["wait"]), check=False, timeout=60)
    seen = dict((line.split(" ", 1)[1], line.split(" ", 1)[0] == "ok") for line in proc.stdout.splitlines() if " " in line)
    assert set(seen) == set(targets), proc.stdout + proc.stderr
    return seen


def _svc(name, ns):
    return "%s.%s.svc.cluster.local" % (name, ns)


def _reachability(kubectl, s):
    ns = s["ns"]
    seen = {}
    seen.update(_probe(kubectl, ns["a"], "client", {
        "a -> own langflow": (_svc("langflow", ns["a"]), 80),
        "a -> b langflow": (_svc("langflow", ns["b"]), 80),
        "a -> b database": (_svc("db", ns["b"]), 80),
        "a -> postgresql": (_svc("postgresql", ns["sys"]), s["pg_port"]),
        "a -> other node port": (s["node_ip"], s["other_port"]),
        "a -> phoenix": (_svc("phoenix", ns["obs"]), 80)}))
    seen.update(_probe(kubectl, ns["sys"], "traefik", {
        "ingress -> a langflow": (_svc("langflow", ns["a"]), 80),
        "ingress -> b langflow": (_svc("langflow", ns["b"]), 80)}))
    seen.update(_probe(kubectl, ns["b"], "client", {
        "b -> a langflow": (_svc("langflow", ns["a"]), 80),
        "b -> phoenix": (_svc("phoenix", ns["obs"]), 80)}))
    seen.update(_probe(kubectl, ns["obs"], "prometheus", {"prometheus -> b database": (_svc("db", ns["b"]), 80)}))
    return seen


ENFORCED = {
    "a -> own langflow": True, "a -> b langflow": False, "a -> b database": False, "a -> postgresql": True,
    "a -> other node port": False, "a -> phoenix": True, "ingress -> a langflow": True, "ingress -> b langflow": True,
    "b -> a langflow": False, "prometheus -> b database": True, "b -> phoenix": True,
}


def test_converge_check_apply_check_apply(site, run_playbook):
    changed = converge_sequence(run_playbook, PLAYBOOK, site["vars"], inventory=site["inventory"])
    assert changed[0] > 0 and changed[1] > 0, changed
    assert changed[2:] == [0, 0], changed


def test_tenants_are_isolated_and_their_needs_allowed(site, run_playbook, kubectl):
    proc = run_playbook(PLAYBOOK, extra_vars=site["vars"], inventory=site["inventory"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert _reachability(kubectl, site) == ENFORCED


def test_without_the_policies_the_same_connections_succeed(site, run_playbook, kubectl):
    """Negative control: the blocked connections above are blocked by the policies, nothing else."""
    for key in ("a", "b"):
        kubectl("-n", site["ns"][key], "delete", "networkpolicy", "-l", "aistack.io/policy-set=isolation")

    def all_open():
        seen = _reachability(kubectl, site)
        return seen if all(seen.values()) else None

    try:
        seen = wait_until("connections once the policies are gone", all_open, 30, 2)
        assert all(seen.values()), seen
    finally:
        proc = run_playbook(PLAYBOOK, extra_vars=site["vars"], inventory=site["inventory"])
        assert proc.returncode == 0, proc.stdout[-3000:]
    assert _reachability(kubectl, site) == ENFORCED


def test_an_allowance_the_inventory_drops_is_removed(site, run_playbook, kubectl):
    more = dict(site["vars"], network_policies_extra_egress=[{"to": [{"ipBlock": {"cidr": "%s/32" % site["node_ip"]}}],
                                                              "ports": [{"port": site["other_port"]}]}])
    assert run_playbook(PLAYBOOK, extra_vars=more, inventory=site["inventory"]).returncode == 0
    assert _connects(kubectl, site["ns"]["a"], "client", site["node_ip"], site["other_port"])
    check = run_playbook(PLAYBOOK, extra_vars=site["vars"], check=True, diff=True, inventory=site["inventory"])
    assert check.returncode == 0 and check.recap.get("changed") == 1, check.stdout[-3000:]
    assert check.stdout.count("/aistack-site)") == 2, check.stdout[-3000:]  # one per tenant
    assert run_playbook(PLAYBOOK, extra_vars=site["vars"], inventory=site["inventory"]).returncode == 0
    names = kubectl("-n", site["ns"]["a"], "get", "networkpolicy", "-o", "name").stdout.split()
    assert "networkpolicy.networking.k8s.io/aistack-site" not in names
    assert not _connects(kubectl, site["ns"]["a"], "client", site["node_ip"], site["other_port"])


@pytest.mark.parametrize("bad, field", [
    ({"network_policies_llm": [{"cidr": "10.0.0.300/32", "ports": [443]}]}, "network_policies_llm[0]"),
    ({"network_policies_databases": [{"namespace": "db", "ports": ["5432/ICMP"]}]}, "network_policies_databases[0].ports"),
])
def test_bad_inputs_fail_naming_the_variable_and_touch_nothing(site, run_playbook, kubectl, bad, field):
    before = kubectl("get", "networkpolicy", "-A", "-l", "aistack.io/policy-set=isolation", "-o", "name").stdout
    proc = run_playbook(PLAYBOOK, extra_vars=dict(site["vars"], **bad), inventory=site["inventory"])
    assert proc.returncode != 0
    assert field in proc.stdout, proc.stdout[-2000:]
    assert kubectl("get", "networkpolicy", "-A", "-l", "aistack.io/policy-set=isolation", "-o", "name").stdout == before
