# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The NetworkPolicies that isolate the platform's namespaces (field rule 9), rendered from the inventory.

Three kinds of namespace, each with its own set:

- tenant namespaces (labelled ``aistack.io/team`` by helm_tenant, or ``aistack.io/tier: apps``): nothing in
  or out by default; allowed are the namespace's own pods, the ingress controller in, DNS, the databases
  (the ``external_service`` endpoints with their ports, plus peers the site names), Phoenix's ports, the
  site's LLM endpoint, the metrics scraper in, and the site's own additions;
- the system namespace and the observability namespace: ingress only (their controllers talk to the API
  server and scrape every namespace): their own pods, the tenants (to the system services, to Phoenix's
  ports), the ingress controller, the scraper.

Every policy carries ``POLICY_LABELS``, so the role can find and remove those an inventory no longer asks for.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

POLICY_LABELS = {"app.kubernetes.io/managed-by": "aistack.platform", "aistack.io/policy-set": "isolation"}
NAME_LABEL = "kubernetes.io/metadata.name"
TEAM_LABEL = "aistack.io/team"
TIER_LABEL = "aistack.io/tier"
_PROTOCOLS = ("TCP", "UDP", "SCTP")


def _ports(ports, field):
    out = []
    for item in ports or []:
        if isinstance(item, dict):
            port, protocol = item.get("port"), str(item.get("protocol", "TCP")).upper()
        elif isinstance(item, str) and "/" in item:
            port, protocol = item.split("/", 1)
            protocol = protocol.upper()
        else:
            port, protocol = item, "TCP"
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise AistackError("port %r is not a number." % (port,), field=field, fix="give ports as 5432, '53/UDP' "
                               "or {port: 5432, protocol: TCP}")
        if not 0 < port < 65536 or protocol not in _PROTOCOLS:
            raise AistackError("port %r/%s is not a valid port and protocol." % (port, protocol), field=field,
                               fix="use a port from 1 to 65535 and one of %s" % ", ".join(_PROTOCOLS))
        out.append({"port": port, "protocol": protocol})
    return out


def _peer(spec, field):
    """One peer of the inventory (namespace, namespace_labels, pod_labels or cidr) as a NetworkPolicyPeer."""
    if not isinstance(spec, dict):
        raise AistackError("a peer must be a mapping, not %r." % (spec,), field=field,
                           fix="give namespace, namespace_labels, pod_labels or cidr (and ports)")
    unknown = sorted(set(spec) - {"namespace", "namespace_labels", "pod_labels", "cidr", "ports"})
    if unknown:
        raise AistackError("unknown key(s) %s in a peer." % ", ".join(unknown), field=field,
                           fix="use namespace, namespace_labels, pod_labels, cidr and ports")
    if spec.get("cidr"):
        if any(spec.get(k) for k in ("namespace", "namespace_labels", "pod_labels")):
            raise AistackError("a peer with cidr cannot also select namespaces or pods.", field=field,
                               fix="give the address range and the selectors as two peers")
        try:
            cidr = str(ipaddress.ip_network(str(spec["cidr"]), strict=False))
        except ValueError:
            raise AistackError("cidr %r is not an address range." % (spec["cidr"],), field=field,
                               fix="write it like 192.0.2.10/32")
        return {"ipBlock": {"cidr": cidr}}
    peer = {}
    namespace_labels = dict(spec.get("namespace_labels") or {})
    if spec.get("namespace"):
        namespace_labels[NAME_LABEL] = str(spec["namespace"])
    if namespace_labels:
        peer["namespaceSelector"] = {"matchLabels": namespace_labels}
    if spec.get("pod_labels"):
        peer["podSelector"] = {"matchLabels": dict(spec["pod_labels"])}
    if not peer:
        raise AistackError("a peer selects nothing.", field=field,
                           fix="give namespace, namespace_labels, pod_labels or cidr")
    return peer


def _rules(direction, specs, field):
    """NetworkPolicy rules for a list of peer specs: one rule per spec, so each keeps its own ports."""
    key = "from" if direction == "ingress" else "to"
    rules = []
    for index, spec in enumerate(specs or []):
        where = "%s[%d]" % (field, index)
        rule = {key: [_peer(spec, where)]}
        ports = _ports(spec.get("ports"), where + ".ports")
        if ports:
            rule["ports"] = ports
        rules.append(rule)
    return rules


def endpoint_peers(endpoint_slices):
    """The addresses and ports of EndpointSlices (the databases ``external_service`` registered), as peers."""
    peers = []
    for item in sorted(endpoint_slices or [], key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])):
        addresses = sorted(set(a for ep in item.get("endpoints") or [] for a in ep.get("addresses") or []))
        ports = [{"port": p["port"], "protocol": p.get("protocol", "TCP")} for p in item.get("ports") or [] if p.get("port")]
        for address in addresses:
            prefix = 32 if ipaddress.ip_address(address).version == 4 else 128
            peers.append({"cidr": "%s/%d" % (address, prefix), "ports": ports})
    return peers


def _policy(name, namespace, types, ingress=None, egress=None, pod_labels=None):
    spec = {"podSelector": {"matchLabels": dict(pod_labels)} if pod_labels else {}, "policyTypes": types}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(POLICY_LABELS)}, "spec": spec}


def _tenant_markers():
    return [{"namespaceSelector": {"matchExpressions": [{"key": TEAM_LABEL, "operator": "Exists"}]}},
            {"namespaceSelector": {"matchLabels": {TIER_LABEL: "apps"}}}]


def classify(namespaces, settings):
    """Names of the tenant, system and observability namespaces among Namespace objects (or names)."""
    extra = set(settings.get("tenant_namespaces") or [])
    system, observability = settings.get("system_namespace"), settings.get("observability_namespace")
    only = set(settings.get("only_namespaces") or [])
    out = {"tenant": [], "system": [], "observability": []}
    for item in namespaces or []:
        meta = item.get("metadata", {}) if isinstance(item, dict) else {"name": item}
        name, labels = meta.get("name"), meta.get("labels") or {}
        if only and name not in only:
            continue
        if name == system:
            out["system"].append(name)
        elif name == observability:
            out["observability"].append(name)
        elif name in extra or TEAM_LABEL in labels or labels.get(TIER_LABEL) == "apps":
            out["tenant"].append(name)
    for key in out:
        out[key] = sorted(out[key])
    return out


def _tenant_set(ns, settings, database_peers):
    policies = [
        _policy("aistack-default-deny", ns, ["Ingress", "Egress"]),
        _policy("aistack-same-namespace", ns, ["Ingress", "Egress"], ingress=[{"from": [{"podSelector": {}}]}],
                egress=[{"to": [{"podSelector": {}}]}]),
        _policy("aistack-dns", ns, ["Egress"], egress=_rules("egress", [settings["dns"]], "network_policies_dns")),
    ]
    if settings.get("ingress_controller"):
        policies.append(_policy("aistack-ingress-controller", ns, ["Ingress"], ingress=_rules(
            "ingress", [settings["ingress_controller"]], "network_policies_ingress_controller")))
    if database_peers:
        policies.append(_policy("aistack-databases", ns, ["Egress"], egress=database_peers))
    if settings.get("tracing"):
        policies.append(_policy("aistack-tracing", ns, ["Egress"], egress=_rules(
            "egress", [settings["tracing"]], "network_policies_tracing")))
    if settings.get("llm"):
        policies.append(_policy("aistack-llm", ns, ["Egress"], egress=_rules("egress", settings["llm"], "network_policies_llm")))
    if settings.get("metrics_scraper"):
        policies.append(_policy("aistack-metrics", ns, ["Ingress"], ingress=_rules(
            "ingress", [settings["metrics_scraper"]], "network_policies_metrics_scraper")))
    policies.extend(_site_additions(ns, settings))
    return policies


def _site_additions(ns, settings):
    ingress, egress = settings.get("extra_ingress") or [], settings.get("extra_egress") or []
    if not ingress and not egress:
        return []
    types = (["Ingress"] if ingress else []) + (["Egress"] if egress else [])
    return [_policy("aistack-site", ns, types, ingress=list(ingress) or None, egress=list(egress) or None)]


def _ingress_only_set(ns, settings, kind):
    policies = [
        _policy("aistack-default-deny-ingress", ns, ["Ingress"]),
        _policy("aistack-same-namespace", ns, ["Ingress"], ingress=[{"from": [{"podSelector": {}}]}]),
    ]
    if kind == "system":
        policies.append(_policy("aistack-from-tenants", ns, ["Ingress"], ingress=[{"from": _tenant_markers()}]))
    elif settings.get("tracing"):
        tracing = settings["tracing"]
        ingress = [{"from": _tenant_markers() + [{"namespaceSelector": {"matchLabels": {NAME_LABEL: settings["system_namespace"]}}}]}]
        ports = _ports(tracing.get("ports"), "network_policies_tracing.ports")
        if ports:
            ingress[0]["ports"] = ports
        policies.append(_policy("aistack-tracing", ns, ["Ingress"], ingress=ingress, pod_labels=tracing.get("pod_labels")))
    if settings.get("ingress_controller"):
        policies.append(_policy("aistack-ingress-controller", ns, ["Ingress"], ingress=_rules(
            "ingress", [settings["ingress_controller"]], "network_policies_ingress_controller")))
    if settings.get("metrics_scraper"):
        policies.append(_policy("aistack-metrics", ns, ["Ingress"], ingress=_rules(
            "ingress", [settings["metrics_scraper"]], "network_policies_metrics_scraper")))
    return policies


def _required(settings):
    for key in ("system_namespace", "observability_namespace", "dns"):
        if not settings.get(key):
            raise AistackError("%s is empty." % key, field="network_policies_%s" % key,
                               fix="set it (see roles/network_policies/defaults/main.yml)")


def policies(namespaces, settings, endpoint_slices=None):
    """Every NetworkPolicy the namespaces should have, sorted by namespace and name.

    ``namespaces``: Namespace objects as ``kubernetes.core.k8s_info`` returns them (or names);
    ``settings``: the role's variables without their prefix; ``endpoint_slices``: the databases' EndpointSlices.
    """
    settings = dict(settings or {})
    _required(settings)
    kinds = classify(namespaces, settings)
    database_peers = _rules("egress", endpoint_peers(endpoint_slices), "endpoint_slices")
    database_peers += _rules("egress", settings.get("databases"), "network_policies_databases")
    out = []
    for ns in kinds["tenant"]:
        out.extend(_tenant_set(ns, settings, database_peers))
    for ns in kinds["system"]:
        out.extend(_ingress_only_set(ns, settings, "system"))
    for ns in kinds["observability"]:
        out.extend(_ingress_only_set(ns, settings, "observability"))
    return sorted(out, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))


def stale(existing, desired, only_namespaces=None):
    """``{namespace, name}`` of the policies this set made earlier that ``desired`` no longer holds
    (within ``only_namespaces`` when given)."""
    want = set((p["metadata"]["namespace"], p["metadata"]["name"]) for p in desired or [])
    only = set(only_namespaces or [])
    out = []
    for item in existing or []:
        meta = item.get("metadata", {})
        if only and meta.get("namespace") not in only:
            continue
        labels = meta.get("labels") or {}
        if all(labels.get(k) == v for k, v in POLICY_LABELS.items()) and (meta.get("namespace"), meta.get("name")) not in want:
            out.append({"namespace": meta.get("namespace"), "name": meta.get("name")})
    return sorted(out, key=lambda p: (p["namespace"], p["name"]))
