# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host-run services registered in Kubernetes: validation, desired objects, diff and a TCP probe.

Two shapes:
- ``addresses`` (host IPs): a Service without selector plus one EndpointSlice per address family
  (``<name>-ipv4`` / ``<name>-ipv6``) carrying the host IPs and the named ports;
- ``external_name`` (a DNS name): an ExternalName Service.

Everything here is pure except ``probe_endpoints`` (sockets) and ``ExternalServiceManager`` (which only
talks to a ``KubeClient``-like object handed to it, so tests can use a fake).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import socket
import time

from ansible_collections.aistack.platform.plugins.module_utils.common.constants import MANAGED_BY as MANAGER, MANAGED_BY_LABEL
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.common.naming import (
    dns_label_problem,
    dns_subdomain_problem,
)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SLICE_MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
PROTOCOLS = ("TCP", "UDP", "SCTP")
PROBE_MODES = ("none", "report", "require")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?)$")


# --------------------------------------------------------------------------- validation

def _service_name_problem(value):
    problem = dns_label_problem(value)
    if problem:
        return problem
    if not value[0].isalpha():
        return "'%s' must start with a letter (Service names are RFC 1035 labels)" % value
    return None


def _int_in_range(value, field, low=1, high=65535):
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except (TypeError, ValueError):
            raise AistackError("'%s' is not a port number." % (value,), field=field,
                               fix="use an integer from %d to %d" % (low, high))
    if value < low or value > high:
        raise AistackError("%d is out of range." % value, field=field,
                           fix="use an integer from %d to %d" % (low, high))
    return value


def parse_address(value, field):
    """Return an ``ipaddress`` object for a usable endpoint address, or raise AistackError."""
    if not isinstance(value, str) or not value.strip():
        raise AistackError("an empty address was given.", field=field, fix="list the host IP addresses")
    text = value.strip()
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise AistackError("'%s' is not an IP address." % text, field=field,
                           fix="give the host's IPv4 or IPv6 address, or use external_name for a DNS name")
    if addr.is_unspecified or addr.is_loopback or addr.is_multicast or addr.is_link_local:
        raise AistackError("'%s' cannot be reached from pods (unspecified, loopback, multicast or link-local)." % text,
                           field=field, fix="use the host's address on the node network (e.g. its eth0 address)")
    return addr


def _validate_labels(labels, field):
    labels = labels or {}
    if not isinstance(labels, dict):
        raise AistackError("must be a mapping of label names to values.", field=field)
    out = {}
    for key, value in labels.items():
        key = str(key)
        value = "" if value is None else str(value)
        name = key.rsplit("/", 1)[-1]
        prefix = key[:-len(name) - 1] if "/" in key else ""
        if not name or len(name) > 63 or not _LABEL_NAME.match(name) or (prefix and dns_subdomain_problem(prefix)):
            raise AistackError("'%s' is not a valid label name." % key, field=field,
                               fix="use [prefix/]name with letters, digits, '-', '_' and '.'")
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise AistackError("the value of label '%s' is not a valid label value." % key, field=field,
                               fix="at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric")
        if key in (SERVICE_NAME_LABEL, SLICE_MANAGED_BY_LABEL, MANAGED_BY_LABEL):
            raise AistackError("label '%s' is set by the module." % key, field=field, fix="remove it from labels")
        out[key] = value
    return out


def normalize_ports(ports, need_ports=True):
    """Validate the ``ports`` option; return a list of dicts sorted by name."""
    ports = ports or []
    if not isinstance(ports, list):
        raise AistackError("must be a list of ports.", field="ports")
    if need_ports and not ports:
        raise AistackError("at least one port is needed when addresses are given.", field="ports",
                           fix="add e.g. {name: postgresql, port: 5432}")
    seen_names = set()
    seen_ports = set()
    out = []
    for index, port in enumerate(ports):
        where = "ports[%d]" % index
        if not isinstance(port, dict):
            raise AistackError("must be a mapping with name and port.", field=where)
        name = port.get("name")
        problem = dns_label_problem(name)
        if problem is None and not re.search(r"[a-z]", name):
            problem = "'%s' must contain at least one letter" % name
        if problem:
            raise AistackError("name %s." % problem, field=where + ".name",
                               fix="use a lower-case DNS label such as 'http', 'grpc' or 'postgresql'")
        if name in seen_names:
            raise AistackError("the port name '%s' is used twice." % name, field=where + ".name",
                               fix="give every port its own name")
        seen_names.add(name)
        number = _int_in_range(port.get("port"), where + ".port")
        target = port.get("target_port")
        target = number if target is None else _int_in_range(target, where + ".target_port")
        protocol = str(port.get("protocol") or "TCP").upper()
        if protocol not in PROTOCOLS:
            raise AistackError("protocol '%s' is not supported." % protocol, field=where + ".protocol",
                               fix="use one of %s" % ", ".join(PROTOCOLS))
        if (number, protocol) in seen_ports:
            raise AistackError("port %d/%s is listed twice." % (number, protocol), field=where + ".port",
                               fix="every (port, protocol) pair must be unique")
        seen_ports.add((number, protocol))
        app_protocol = port.get("app_protocol") or None
        out.append(dict(name=name, port=number, target_port=target, protocol=protocol, app_protocol=app_protocol))
    return sorted(out, key=lambda p: p["name"])


def validate_params(params):
    """Check the module parameters; return a normalized spec dict. Raises AistackError on bad input."""
    name = params.get("name")
    problem = _service_name_problem(name)
    if problem:
        raise AistackError(problem + ".", field="name",
                           fix="use lower-case letters, digits and '-', starting with a letter, at most 63 characters")
    namespace = params.get("namespace")
    problem = dns_label_problem(namespace)
    if problem:
        raise AistackError(problem + ".", field="namespace", fix="use an existing namespace's name")
    state = params.get("state") or "present"
    spec = dict(name=name, namespace=namespace, state=state)
    if state == "absent":
        return spec

    addresses = params.get("addresses") or []
    external_name = params.get("external_name")
    if addresses and external_name:
        raise AistackError("addresses and external_name are mutually exclusive.", field="external_name",
                           fix="use addresses for IPs, external_name for a DNS name")
    if not addresses and not external_name:
        raise AistackError("nothing to register.", field="addresses",
                           fix="give the host IPs in addresses, or a DNS name in external_name")
    if not isinstance(addresses, list):
        raise AistackError("must be a list of IP addresses.", field="addresses")
    parsed = []
    seen = set()
    for index, value in enumerate(addresses):
        addr = parse_address(value, "addresses[%d]" % index)
        if addr in seen:
            raise AistackError("'%s' is listed twice." % addr, field="addresses[%d]" % index,
                               fix="list every address once")
        seen.add(addr)
        parsed.append(addr)
    if external_name is not None:
        external_name = str(external_name).strip().rstrip(".").lower()
        try:
            ipaddress.ip_address(external_name)
            is_ip = True
        except ValueError:
            is_ip = False
        if is_ip:
            raise AistackError("'%s' is an IP address." % external_name, field="external_name",
                               fix="put IP addresses in addresses; external_name takes a DNS name")
        problem = dns_subdomain_problem(external_name)
        if problem:
            raise AistackError(problem + ".", field="external_name", fix="give a DNS name such as db.example.com")
    spec.update(
        addresses=parsed,
        external_name=external_name,
        ports=normalize_ports(params.get("ports"), need_ports=bool(parsed)),
        labels=_validate_labels(params.get("labels"), "labels"),
        ready=bool(params.get("ready", True)),
    )
    probe = params.get("probe") or "none"
    if probe not in PROBE_MODES:
        raise AistackError("'%s' is not a probe mode." % probe, field="probe", fix="use none, report or require")
    timeout = params.get("probe_timeout")
    timeout = 3.0 if timeout is None else float(timeout)
    if timeout <= 0 or timeout > 60:
        raise AistackError("%s is out of range." % timeout, field="probe_timeout", fix="use 0 < seconds <= 60")
    spec.update(probe=probe, probe_timeout=timeout)
    return spec


# --------------------------------------------------------------------------- desired objects

def family(addr):
    return "IPv6" if addr.version == 6 else "IPv4"


def slice_name(name, fam):
    return "%s-%s" % (name, fam.lower())


def _labels(spec, extra=None):
    labels = dict(spec.get("labels") or {})
    labels[MANAGED_BY_LABEL] = MANAGER
    labels.update(extra or {})
    return labels


def desired_service(spec):
    meta = dict(name=spec["name"], namespace=spec["namespace"], labels=_labels(spec))
    ports = []
    for port in spec["ports"]:
        item = dict(name=port["name"], port=port["port"], protocol=port["protocol"])
        if not spec.get("external_name"):
            item["targetPort"] = port["target_port"]
        if port.get("app_protocol"):
            item["appProtocol"] = port["app_protocol"]
        ports.append(item)
    if spec.get("external_name"):
        body = dict(type="ExternalName", externalName=spec["external_name"])
        if ports:
            body["ports"] = ports
    else:
        body = dict(type="ClusterIP", ports=ports)
    return dict(apiVersion="v1", kind="Service", metadata=meta, spec=body)


def desired_slices(spec):
    """One EndpointSlice per address family present in ``addresses`` (none for ExternalName)."""
    if spec.get("external_name"):
        return []
    by_family = {}
    for addr in spec["addresses"]:
        by_family.setdefault(family(addr), []).append(addr)
    slices = []
    for fam in sorted(by_family):
        addrs = sorted(by_family[fam], key=lambda a: a.packed)
        ports = []
        for port in spec["ports"]:
            item = dict(name=port["name"], port=port["target_port"], protocol=port["protocol"])
            if port.get("app_protocol"):
                item["appProtocol"] = port["app_protocol"]
            ports.append(item)
        slices.append(dict(
            apiVersion="discovery.k8s.io/v1",
            kind="EndpointSlice",
            metadata=dict(
                name=slice_name(spec["name"], fam),
                namespace=spec["namespace"],
                labels=_labels(spec, {SERVICE_NAME_LABEL: spec["name"], SLICE_MANAGED_BY_LABEL: MANAGER}),
            ),
            addressType=fam,
            endpoints=[dict(addresses=[str(a)], conditions=dict(ready=spec.get("ready", True))) for a in addrs],
            ports=ports,
        ))
    return slices


# --------------------------------------------------------------------------- projections and diff

def _own_labels(obj, desired):
    """The labels of ``obj`` whose keys the desired object sets (other managers' labels are not ours)."""
    have = (obj.get("metadata") or {}).get("labels") or {}
    want = (desired.get("metadata") or {}).get("labels") or {}
    return dict((k, have.get(k)) for k in sorted(want) if k in have)


def project_service(obj, desired=None):
    """The fields of a Service this module owns, in a comparable form."""
    if obj is None:
        return None
    spec = obj.get("spec") or {}
    ports = []
    for port in spec.get("ports") or []:
        item = dict(name=port.get("name"), port=port.get("port"), protocol=port.get("protocol") or "TCP")
        if spec.get("type") != "ExternalName" and port.get("targetPort") is not None:
            item["targetPort"] = port.get("targetPort")
        if port.get("appProtocol"):
            item["appProtocol"] = port.get("appProtocol")
        ports.append(item)
    out = dict(
        type=spec.get("type") or "ClusterIP",
        ports=sorted(ports, key=lambda p: (p.get("name") or "", p.get("port"))),
        labels=_own_labels(obj, desired or obj),
    )
    if spec.get("externalName"):
        out["externalName"] = spec.get("externalName")
    if spec.get("selector"):
        out["selector"] = spec.get("selector")
    return out


def project_slice(obj, desired=None):
    if obj is None:
        return None
    endpoints = []
    for ep in obj.get("endpoints") or []:
        cond = ep.get("conditions") or {}
        endpoints.append(dict(addresses=list(ep.get("addresses") or []), conditions=dict(ready=cond.get("ready"))))
    ports = []
    for port in obj.get("ports") or []:
        item = dict(name=port.get("name"), port=port.get("port"), protocol=port.get("protocol") or "TCP")
        if port.get("appProtocol"):
            item["appProtocol"] = port.get("appProtocol")
        ports.append(item)
    return dict(
        addressType=obj.get("addressType"),
        endpoints=sorted(endpoints, key=lambda e: e["addresses"]),
        ports=sorted(ports, key=lambda p: (p.get("name") or "", p.get("port"))),
        labels=_own_labels(obj, desired or obj),
    )


def plan(spec, current_service, current_slices):
    """Compare desired with current; return a dict of actions and the before/after projections.

    ``current_slices`` are the EndpointSlices labelled as this module's for the Service. Raises when the
    existing Service belongs to someone else.
    """
    name = spec["name"]
    if current_service is not None:
        labels = (current_service.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGER:
            raise AistackError("Service %s/%s exists and is not managed by %s (label %s=%s)."
                               % (spec["namespace"], name, MANAGER, MANAGED_BY_LABEL, labels.get(MANAGED_BY_LABEL)),
                               field="name", fix="pick another name, or delete the existing Service first")
    current_by_name = dict(((s.get("metadata") or {}).get("name"), s) for s in current_slices)
    before = dict(service=project_service(current_service),
                  endpoint_slices=dict((n, project_slice(s)) for n, s in sorted(current_by_name.items())))
    if spec["state"] == "absent":
        delete_slices = sorted(current_by_name)
        actions = dict(apply_service=False, recreate_service=False, delete_service=current_service is not None,
                       apply_slices=[], delete_slices=delete_slices)
        after = dict(service=None, endpoint_slices={})
    else:
        want_service = desired_service(spec)
        want_slices = desired_slices(spec)
        svc_after = project_service(want_service)
        svc_now = project_service(current_service, want_service)
        apply_service = svc_now != svc_after
        # A Service cannot switch between ExternalName and a ClusterIP in place (the allocated
        # clusterIP is not ours to clear), so a type change is a delete and re-create.
        recreate = bool(current_service is not None and svc_now["type"] != svc_after["type"])
        apply_slices = []
        for want in want_slices:
            have = current_by_name.get(want["metadata"]["name"])
            if project_slice(have, want) != project_slice(want):
                apply_slices.append(want)
        wanted_names = set(s["metadata"]["name"] for s in want_slices)
        delete_slices = sorted(n for n in current_by_name if n not in wanted_names)
        actions = dict(apply_service=apply_service, recreate_service=recreate, delete_service=False,
                       apply_slices=apply_slices, delete_slices=delete_slices,
                       service=want_service, slices=want_slices)
        after = dict(service=svc_after,
                     endpoint_slices=dict((s["metadata"]["name"], project_slice(s)) for s in want_slices))
    changed = bool(actions["apply_service"] or actions["delete_service"] or actions["apply_slices"]
                   or actions["delete_slices"])
    actions["changed"] = changed
    actions["diff"] = dict(before=before, after=after)
    return actions


# --------------------------------------------------------------------------- probe

def probe_targets(spec):
    """(host, port name, port number, protocol) for every address x port, or the DNS name x port."""
    hosts = [str(a) for a in spec.get("addresses") or []]
    if spec.get("external_name"):
        hosts = [spec["external_name"]]
    targets = []
    for host in hosts:
        for port in spec.get("ports") or []:
            number = port["port"] if spec.get("external_name") else port["target_port"]
            targets.append((host, port["name"], number, port["protocol"]))
    return targets


def probe_endpoints(spec, connect=None):
    """TCP-connect every target from the controller. Returns a list of result dicts (no exceptions)."""
    connect = connect or socket.create_connection
    results = []
    for host, name, number, protocol in probe_targets(spec):
        item = dict(address=host, port=number, name=name, protocol=protocol)
        if protocol != "TCP":
            item.update(reachable=None, error="not probed: only TCP can be probed with a connect")
            results.append(item)
            continue
        start = time.time()
        try:
            sock = connect((host, number), spec.get("probe_timeout", 3.0))
            try:
                sock.close()
            except Exception:
                pass
            item.update(reachable=True, error=None)
        except (OSError, socket.timeout) as exc:
            item.update(reachable=False, error="%s" % (exc.strerror or exc) if hasattr(exc, "strerror") else str(exc))
        item["seconds"] = round(time.time() - start, 3)
        results.append(item)
    return results


def probe_failures(results):
    return [r for r in results if r.get("reachable") is False]


def describe_failures(failures):
    return ", ".join("%s:%s (%s): %s" % (f["address"], f["port"], f["name"], f["error"]) for f in failures)


# --------------------------------------------------------------------------- I/O

class ExternalServiceManager(object):
    """Reads current state through a KubeClient and carries out a plan (dry-run in check mode)."""

    def __init__(self, client):
        self.client = client

    def namespace_exists(self, namespace):
        return self.client.get("v1", "Namespace", namespace) is not None

    def current(self, spec):
        service = self.client.get("v1", "Service", spec["name"], spec["namespace"])
        selector = "%s=%s,%s=%s" % (SERVICE_NAME_LABEL, spec["name"], SLICE_MANAGED_BY_LABEL, MANAGER)
        slices = self.client.list("discovery.k8s.io/v1", "EndpointSlice", spec["namespace"], label_selector=selector)
        return service, slices

    def execute(self, spec, actions, check_mode):
        ns = spec["namespace"]
        if actions.get("delete_service") or actions.get("recreate_service"):
            if not check_mode:
                self.client.delete("v1", "Service", spec["name"], ns)
        for name in actions.get("delete_slices") or []:
            if not check_mode:
                self.client.delete("discovery.k8s.io/v1", "EndpointSlice", name, ns)
        if actions.get("apply_service"):
            if not (check_mode and actions.get("recreate_service")):
                self.client.apply(actions["service"], dry_run=check_mode)
        for obj in actions.get("apply_slices") or []:
            self.client.apply(obj, dry_run=check_mode)


def result_summary(spec):
    name, ns = spec["name"], spec["namespace"]
    out = dict(name=name, namespace=ns, state=spec["state"],
               host="%s.%s.svc.cluster.local" % (name, ns))
    if spec["state"] == "present":
        out["type"] = "ExternalName" if spec.get("external_name") else "ClusterIP"
        out["addresses"] = [str(a) for a in spec.get("addresses") or []]
        out["external_name"] = spec.get("external_name")
        out["ports"] = [dict(name=p["name"], port=p["port"], target_port=p["target_port"], protocol=p["protocol"])
                        for p in spec["ports"]]
        out["endpoint_slices"] = [s["metadata"]["name"] for s in desired_slices(spec)]
    return out


def run_external_service(params, client_factory, check_mode, connect=None):
    """The whole module behaviour without AnsibleModule: returns (result dict, warnings list)."""
    spec = validate_params(params)
    warnings = []
    result = dict(changed=False, service=result_summary(spec))
    if spec["state"] == "present" and spec.get("probe", "none") != "none":
        probes = probe_endpoints(spec, connect=connect)
        result["probe"] = probes
        failures = probe_failures(probes)
        if failures and spec["probe"] == "require":
            raise AistackError("not reachable from the controller: %s; nothing was registered." % describe_failures(failures),
                               field="probe", fix="start the service (or fix address/port/firewall), then re-run",
                               probe=probes)
        if failures:
            warnings.append("%s/%s: not reachable from the controller: %s"
                            % (spec["namespace"], spec["name"], describe_failures(failures)))
    client = client_factory()
    manager = ExternalServiceManager(client)
    if spec["state"] == "present" and not manager.namespace_exists(spec["namespace"]):
        if not check_mode:
            raise AistackError("namespace '%s' does not exist." % spec["namespace"], field="namespace",
                               fix="create the namespace first (kubernetes.core.k8s, kind Namespace)")
        warnings.append("namespace '%s' does not exist yet; everything would be created" % spec["namespace"])
        actions = plan(spec, None, [])
        result.update(changed=actions["changed"], diff=actions["diff"])
        return result, warnings
    service, slices = manager.current(spec)
    actions = plan(spec, service, slices)
    if actions["changed"]:
        manager.execute(spec, actions, check_mode)
    result.update(changed=actions["changed"], diff=actions["diff"])
    return result, warnings
