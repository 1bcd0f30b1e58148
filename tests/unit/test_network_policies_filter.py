# -*- coding: utf-8 -*-
"""The namespaces' isolation policies as the network_policies role renders them."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.filters import network_policies as np

SETTINGS = {
    "system_namespace": "aistack-system",
    "observability_namespace": "observability",
    "dns": {"namespace": "kube-system", "pod_labels": {"k8s-app": "kube-dns"}, "ports": ["53/UDP", "53/TCP"]},
    "ingress_controller": {"namespace": "aistack-system", "pod_labels": {"app.kubernetes.io/component": "ingress-controller"}},
    "tracing": {"namespace": "observability", "pod_labels": {"app.kubernetes.io/name": "phoenix"}, "ports": [6006, 4317]},
    "metrics_scraper": {"namespace": "observability", "pod_labels": {"app.kubernetes.io/name": "prometheus"}},
    "llm": [{"cidr": "198.51.100.7", "ports": [443]}],
}


def _ns(name, **labels):
    return {"metadata": {"name": name, "labels": labels}}


NAMESPACES = [_ns("team-a-dev", **{"aistack.io/team": "team-a"}), _ns("langgraph", **{"aistack.io/tier": "apps"}),
              _ns("aistack-system"), _ns("observability"), _ns("kube-system"), _ns("default")]
SLICE = {"metadata": {"name": "postgresql-abc", "namespace": "aistack-system"},
         "endpoints": [{"addresses": ["192.0.2.2"]}], "ports": [{"name": "tcp-5432", "port": 5432, "protocol": "TCP"}]}


def _by_name(policies, namespace):
    return dict((p["metadata"]["name"], p["spec"]) for p in policies if p["metadata"]["namespace"] == namespace)


def test_only_the_platforms_namespaces_get_policies():
    names = set(p["metadata"]["namespace"] for p in np.policies(NAMESPACES, SETTINGS, [SLICE]))
    assert names == {"team-a-dev", "langgraph", "aistack-system", "observability"}


def test_a_tenant_denies_everything_then_allows_each_need():
    tenant = _by_name(np.policies(NAMESPACES, SETTINGS, [SLICE]), "team-a-dev")
    assert tenant["aistack-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert sorted(tenant) == ["aistack-databases", "aistack-default-deny", "aistack-dns", "aistack-ingress-controller",
                              "aistack-llm", "aistack-metrics", "aistack-same-namespace", "aistack-tracing"]
    assert tenant["aistack-databases"]["egress"] == [{"to": [{"ipBlock": {"cidr": "192.0.2.2/32"}}],
                                                      "ports": [{"port": 5432, "protocol": "TCP"}]}]
    assert tenant["aistack-dns"]["egress"][0]["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert tenant["aistack-dns"]["egress"][0]["to"] == [{"namespaceSelector": {"matchLabels": {np.NAME_LABEL: "kube-system"}},
                                                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert tenant["aistack-llm"]["egress"] == [{"to": [{"ipBlock": {"cidr": "198.51.100.7/32"}}],
                                                "ports": [{"port": 443, "protocol": "TCP"}]}]
    assert tenant["aistack-same-namespace"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    # No rule admits another tenant: every peer names a namespace, a cidr, or the namespace itself.
    for spec in tenant.values():
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            for peer in rule.get("from", rule.get("to", [])):
                assert peer == {"podSelector": {}} or "ipBlock" in peer or np.NAME_LABEL in peer["namespaceSelector"]["matchLabels"]


def test_system_and_observability_isolate_ingress_only():
    policies = np.policies(NAMESPACES, SETTINGS, [])
    system, obs = _by_name(policies, "aistack-system"), _by_name(policies, "observability")
    assert system["aistack-default-deny-ingress"]["policyTypes"] == ["Ingress"]
    assert all(spec["policyTypes"] == ["Ingress"] for spec in list(system.values()) + list(obs.values()))
    assert "aistack-from-tenants" in system
    assert obs["aistack-tracing"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "phoenix"}}
    assert obs["aistack-tracing"]["ingress"][0]["ports"] == [{"port": 6006, "protocol": "TCP"}, {"port": 4317, "protocol": "TCP"}]


def test_optional_allowances_disappear_when_unset():
    settings = dict(SETTINGS, llm=[], metrics_scraper=None, tracing=None, ingress_controller=None)
    tenant = _by_name(np.policies(NAMESPACES, settings, []), "team-a-dev")
    assert sorted(tenant) == ["aistack-default-deny", "aistack-dns", "aistack-same-namespace"]


def test_site_additions_and_listed_namespaces():
    rule = {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": 8443}]}
    settings = dict(SETTINGS, extra_egress=[rule], tenant_namespaces=["default"])
    policies = np.policies(NAMESPACES, settings, [])
    assert _by_name(policies, "default")["aistack-site"] == {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]}


def test_policies_carry_the_set_labels_and_stale_ones_are_found():
    desired = np.policies(NAMESPACES, SETTINGS, [])
    assert all(p["metadata"]["labels"] == np.POLICY_LABELS for p in desired)
    old = {"metadata": {"namespace": "team-a-dev", "name": "aistack-old", "labels": dict(np.POLICY_LABELS)}}
    foreign = {"metadata": {"namespace": "team-a-dev", "name": "theirs", "labels": {"app": "x"}}}
    assert np.stale(desired + [old, foreign], desired) == [{"namespace": "team-a-dev", "name": "aistack-old"}]
    assert np.stale(desired + [old], desired, ["langgraph"]) == []


def test_only_namespaces_limits_the_set():
    policies = np.policies(NAMESPACES, dict(SETTINGS, only_namespaces=["langgraph"]), [])
    assert set(p["metadata"]["namespace"] for p in policies) == {"langgraph"}


@pytest.mark.parametrize("settings, field", [
    (dict(SETTINGS, llm=[{"cidr": "not-an-ip"}]), "network_policies_llm[0]"),
    (dict(SETTINGS, llm=[{"cidr": "10.0.0.0/8", "namespace": "x"}]), "network_policies_llm[0]"),
    (dict(SETTINGS, llm=[{"ports": [80]}]), "network_policies_llm[0]"),
    (dict(SETTINGS, llm=[{"namespace": "x", "colour": "red"}]), "network_policies_llm[0]"),
    (dict(SETTINGS, databases=[{"namespace": "db", "ports": ["x"]}]), "network_policies_databases[0].ports"),
    (dict(SETTINGS, databases=[{"namespace": "db", "ports": ["53/ICMP"]}]), "network_policies_databases[0].ports"),
    (dict(SETTINGS, dns=None), "network_policies_dns"),
])
def test_bad_peers_name_the_variable(settings, field):
    with pytest.raises(AistackError) as err:
        np.policies(NAMESPACES, settings, [])
    assert err.value.field == field
    assert err.value.fix
