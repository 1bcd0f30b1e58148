# -*- coding: utf-8 -*-
"""Unit tests for plugins/module_utils/endpoints.py (pure logic, a fake KubeClient, a fake connect)."""

from __future__ import absolute_import, division, print_function

import copy
import socket

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.external_service import endpoints as ep
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError


def params(**overrides):
    base = dict(name="qdrant", namespace="aistack-system", state="present", addresses=["192.0.2.2"],
                external_name=None, ports=[dict(name="http", port=6333), dict(name="grpc", port=6334)],
                labels={}, ready=True, probe="none", probe_timeout=3.0)
    base.update(overrides)
    return base


class FakeClient(object):
    """Stores objects like an API server would (adds a clusterIP, defaults targetPort), records calls."""

    def __init__(self, namespaces=("aistack-system",)):
        self.objects = {}
        self.namespaces = set(namespaces)
        self.calls = []

    def _key(self, kind, name, namespace):
        return (kind, namespace, name)

    def get(self, api_version, kind, name, namespace=None):
        if kind == "Namespace":
            return {"metadata": {"name": name}} if name in self.namespaces else None
        obj = self.objects.get(self._key(kind, name, namespace))
        return copy.deepcopy(obj)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        wanted = dict(part.split("=", 1) for part in (label_selector or "").split(",") if part)
        out = []
        for (k, ns, _unused), obj in sorted(self.objects.items()):
            labels = obj["metadata"].get("labels") or {}
            if k == kind and ns == namespace and all(labels.get(a) == b for a, b in wanted.items()):
                out.append(copy.deepcopy(obj))
        return out

    def apply(self, obj, dry_run=False, force=True):
        self.calls.append(("apply", obj["kind"], obj["metadata"]["name"], dry_run))
        stored = copy.deepcopy(obj)
        if obj["kind"] == "Service" and stored["spec"]["type"] == "ClusterIP":
            key = self._key("Service", obj["metadata"]["name"], obj["metadata"]["namespace"])
            old = self.objects.get(key)
            if old and old["spec"]["type"] == "ExternalName":
                raise AssertionError("type switch must go through delete")
            stored["spec"]["clusterIP"] = "10.43.0.99"
        if not dry_run:
            self.objects[self._key(obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"])] = stored
        return stored

    def delete(self, api_version, kind, name, namespace=None):
        self.calls.append(("delete", kind, name))
        return self.objects.pop(self._key(kind, name, namespace), None) is not None


def run(client, check_mode=False, connect=None, **overrides):
    return ep.run_external_service(params(**overrides), lambda: client, check_mode, connect=connect)


# ---------------------------------------------------------------- desired objects

def test_desired_service_has_no_selector_and_named_ports():
    spec = ep.validate_params(params())
    svc = ep.desired_service(spec)
    assert svc["spec"]["type"] == "ClusterIP"
    assert "selector" not in svc["spec"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
        ("grpc", 6334, 6334), ("http", 6333, 6333)]
    assert svc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "aistack.platform"


def test_desired_slice_labels_address_type_and_target_ports():
    spec = ep.validate_params(params(ports=[dict(name="postgresql", port=5432, target_port=15432)],
                                     addresses=["192.0.2.3", "192.0.2.2"]))
    (slc,) = ep.desired_slices(spec)
    assert slc["metadata"]["name"] == "qdrant-ipv4"
    assert slc["metadata"]["labels"]["kubernetes.io/service-name"] == "qdrant"
    assert slc["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "aistack.platform"
    assert slc["addressType"] == "IPv4"
    assert [e["addresses"] for e in slc["endpoints"]] == [["192.0.2.2"], ["192.0.2.3"]]
    assert slc["ports"] == [dict(name="postgresql", port=15432, protocol="TCP")]


def test_dual_stack_gives_one_slice_per_family():
    spec = ep.validate_params(params(addresses=["192.0.2.2", "2001:db8::2"]))
    slices = ep.desired_slices(spec)
    assert [(s["metadata"]["name"], s["addressType"]) for s in slices] == [
        ("qdrant-ipv4", "IPv4"), ("qdrant-ipv6", "IPv6")]


def test_external_name_service():
    spec = ep.validate_params(params(addresses=None, external_name="DB.Example.com.",
                                     ports=[dict(name="postgresql", port=5432)]))
    svc = ep.desired_service(spec)
    assert svc["spec"] == dict(type="ExternalName", externalName="db.example.com",
                               ports=[dict(name="postgresql", port=5432, protocol="TCP")])
    assert ep.desired_slices(spec) == []


def test_external_name_without_ports_is_fine():
    spec = ep.validate_params(params(addresses=None, external_name="db.example.com", ports=[]))
    assert "ports" not in ep.desired_service(spec)["spec"]


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("overrides, field, words", [
    (dict(addresses=["not-an-ip"]), "addresses[0]", "not an IP address"),
    (dict(addresses=["192.0.2.300"]), "addresses[0]", "not an IP address"),
    (dict(addresses=["127.0.0.1"]), "addresses[0]", "cannot be reached from pods"),
    (dict(addresses=["0.0.0.0"]), "addresses[0]", "cannot be reached from pods"),
    (dict(addresses=["192.0.2.2", "192.0.2.2"]), "addresses[1]", "listed twice"),
    (dict(ports=[dict(name="http", port=0)]), "ports[0].port", "out of range"),
    (dict(ports=[dict(name="http", port=65536)]), "ports[0].port", "out of range"),
    (dict(ports=[dict(name="http", port=80, target_port=70000)]), "ports[0].target_port", "out of range"),
    (dict(ports=[dict(name="http", port="eighty")]), "ports[0].port", "not a port number"),
    (dict(ports=[dict(name="a", port=1), dict(name="a", port=2)]), "ports[1].name", "used twice"),
    (dict(ports=[dict(name="Http", port=1)]), "ports[0].name", "not a DNS label"),
    (dict(ports=[dict(name="123", port=1)]), "ports[0].name", "at least one letter"),
    (dict(ports=[dict(name="a", port=1), dict(name="b", port=1)]), "ports[1].port", "listed twice"),
    (dict(ports=[dict(name="a", port=1, protocol="HTTP")]), "ports[0].protocol", "not supported"),
    (dict(ports=[]), "ports", "at least one port"),
    (dict(name="Qdrant"), "name", "not a DNS label"),
    (dict(name="qd_rant"), "name", "not a DNS label"),
    (dict(name="1qdrant"), "name", "must start with a letter"),
    (dict(name="q" * 64), "name", "limit is 63"),
    (dict(namespace="Bad NS"), "namespace", "not a DNS label"),
    (dict(addresses=None, external_name=None), "addresses", "nothing to register"),
    (dict(external_name="db.example.com"), "external_name", "mutually exclusive"),
    (dict(addresses=None, external_name="192.0.2.9"), "external_name", "is an IP address"),
    (dict(addresses=None, external_name="bad_name.example.com"), "external_name", "not a DNS name"),
    (dict(labels={"app.kubernetes.io/managed-by": "me"}), "labels", "set by the module"),
    (dict(labels={"bad key!": "x"}), "labels", "not a valid label name"),
    (dict(probe="sometimes"), "probe", "not a probe mode"),
    (dict(probe_timeout=0), "probe_timeout", "out of range"),
])
def test_bad_input_fails_with_field_and_creates_nothing(overrides, field, words):
    client = FakeClient()
    with pytest.raises(AistackError) as info:
        run(client, **overrides)
    assert info.value.field == field
    assert words in str(info.value)
    assert client.calls == []
    assert client.objects == {}


def test_absent_needs_no_addresses():
    spec = ep.validate_params(params(state="absent", addresses=None, ports=None))
    assert spec == dict(name="qdrant", namespace="aistack-system", state="absent")


# ---------------------------------------------------------------- plan / run sequence

def test_check_apply_check_apply_sequence():
    client = FakeClient()
    result, _unused = run(client, check_mode=True)
    assert result["changed"] is True
    assert client.objects == {}
    assert all(call[3] is True for call in client.calls if call[0] == "apply")
    result, _unused = run(client)
    assert result["changed"] is True
    assert sorted(k[2] for k in client.objects) == ["qdrant", "qdrant-ipv4"]
    client.calls = []
    result, _unused = run(client, check_mode=True)
    assert result["changed"] is False
    result, _unused = run(client)
    assert result["changed"] is False
    assert client.calls == []
    assert result["diff"]["before"] == result["diff"]["after"]


def test_ip_change_updates_slice_in_place_and_leaves_service():
    client = FakeClient()
    run(client)
    client.calls = []
    result, _unused = run(client, check_mode=True, addresses=["192.0.2.7"])
    assert result["changed"] is True
    assert client.calls == [("apply", "EndpointSlice", "qdrant-ipv4", True)]
    client.calls = []
    result, _unused = run(client, addresses=["192.0.2.7"])
    assert client.calls == [("apply", "EndpointSlice", "qdrant-ipv4", False)]
    stored = client.objects[("EndpointSlice", "aistack-system", "qdrant-ipv4")]
    assert stored["endpoints"][0]["addresses"] == ["192.0.2.7"]
    before = result["diff"]["before"]["endpoint_slices"]["qdrant-ipv4"]["endpoints"]
    after = result["diff"]["after"]["endpoint_slices"]["qdrant-ipv4"]["endpoints"]
    assert before[0]["addresses"] == ["192.0.2.2"] and after[0]["addresses"] == ["192.0.2.7"]


def test_port_change_updates_service_and_slice():
    client = FakeClient()
    run(client)
    client.calls = []
    run(client, ports=[dict(name="http", port=6333)])
    assert ("apply", "Service", "qdrant", False) in client.calls
    assert ("apply", "EndpointSlice", "qdrant-ipv4", False) in client.calls


def test_family_removed_deletes_stale_slice():
    client = FakeClient()
    run(client, addresses=["192.0.2.2", "2001:db8::2"])
    assert ("EndpointSlice", "aistack-system", "qdrant-ipv6") in client.objects
    result, _unused = run(client, addresses=["192.0.2.2"])
    assert result["changed"] is True
    assert ("EndpointSlice", "aistack-system", "qdrant-ipv6") not in client.objects


def test_switch_to_external_name_recreates_service_and_drops_slices():
    client = FakeClient()
    run(client)
    result, _unused = run(client, check_mode=True, addresses=None, external_name="qdrant.example.com")
    assert result["changed"] is True
    assert client.objects[("Service", "aistack-system", "qdrant")]["spec"]["type"] == "ClusterIP"
    run(client, addresses=None, external_name="qdrant.example.com")
    svc = client.objects[("Service", "aistack-system", "qdrant")]
    assert svc["spec"]["type"] == "ExternalName"
    assert not [k for k in client.objects if k[0] == "EndpointSlice"]
    result, _unused = run(client, addresses=None, external_name="qdrant.example.com")
    assert result["changed"] is False


def test_absent_deletes_service_and_slices_then_is_unchanged():
    client = FakeClient()
    run(client)
    result, _unused = run(client, check_mode=True, state="absent")
    assert result["changed"] is True and len(client.objects) == 2
    result, _unused = run(client, state="absent")
    assert result["changed"] is True and client.objects == {}
    result, _unused = run(client, state="absent")
    assert result["changed"] is False


def test_foreign_service_is_refused():
    client = FakeClient()
    client.objects[("Service", "aistack-system", "qdrant")] = dict(
        apiVersion="v1", kind="Service", metadata=dict(name="qdrant", namespace="aistack-system", labels={}),
        spec=dict(type="ClusterIP", selector=dict(app="qdrant"), ports=[dict(name="http", port=6333)]))
    with pytest.raises(AistackError) as info:
        run(client)
    assert "not managed by aistack.platform" in str(info.value)
    assert client.calls == []


def test_other_managers_labels_do_not_cause_changes():
    client = FakeClient()
    run(client)
    client.objects[("Service", "aistack-system", "qdrant")]["metadata"]["labels"]["team"] = "x"
    result, _unused = run(client)
    assert result["changed"] is False


def test_missing_namespace_fails_in_apply_and_warns_in_check():
    client = FakeClient(namespaces=())
    with pytest.raises(AistackError) as info:
        run(client)
    assert info.value.field == "namespace"
    result, warnings = run(client, check_mode=True)
    assert result["changed"] is True and "does not exist yet" in warnings[0]


# ---------------------------------------------------------------- probe

def fake_connect(open_ports):
    def connect(address, timeout):
        host, port = address
        if (host, port) in open_ports:
            return socket.socket()
        raise ConnectionRefusedError(111, "Connection refused")
    return connect


def test_probe_report_warns_and_still_registers():
    client = FakeClient()
    result, warnings = run(client, probe="report", connect=fake_connect({("192.0.2.2", 6333)}))
    by_name = dict((p["name"], p) for p in result["probe"])
    assert by_name["http"]["reachable"] is True
    assert by_name["grpc"]["reachable"] is False and "refused" in by_name["grpc"]["error"]
    assert warnings and "192.0.2.2:6334 (grpc)" in warnings[0]
    assert result["changed"] is True


def test_probe_require_fails_before_registering():
    client = FakeClient()
    with pytest.raises(AistackError) as info:
        run(client, probe="require", connect=fake_connect({("192.0.2.2", 6333)}))
    assert info.value.field == "probe"
    assert "nothing was registered" in str(info.value)
    assert info.value.details["probe"][0]["name"] == "grpc"
    assert client.calls == [] and client.objects == {}


def test_probe_require_passes_when_all_open():
    client = FakeClient()
    result, warnings = run(client, probe="require",
                           connect=fake_connect({("192.0.2.2", 6333), ("192.0.2.2", 6334)}))
    assert warnings == [] and all(p["reachable"] for p in result["probe"])


def test_probe_uses_target_port_and_skips_udp():
    spec = ep.validate_params(params(ports=[dict(name="dns", port=53, protocol="UDP"),
                                            dict(name="pg", port=5432, target_port=15432)]))
    results = ep.probe_endpoints(spec, connect=fake_connect({("192.0.2.2", 15432)}))
    by_name = dict((p["name"], p) for p in results)
    assert by_name["pg"]["reachable"] is True and by_name["pg"]["port"] == 15432
    assert by_name["dns"]["reachable"] is None


def test_probe_real_socket_against_closed_local_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    spec = dict(addresses=["127.0.0.1"], ports=[dict(name="x", port=port, target_port=port, protocol="TCP")],
                probe_timeout=1.0)
    (item,) = ep.probe_endpoints(spec)
    assert item["reachable"] is False and item["error"]
