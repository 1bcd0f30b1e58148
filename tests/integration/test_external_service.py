# -*- coding: utf-8 -*-
"""aistack.platform.external_service against the real cluster, through `ansible -m`."""

import json

import pytest


def _args(ns, **kw):
    args = dict(name="qdrant", namespace=ns, addresses=["192.0.2.10"],
                ports=[dict(name="http", port=6333), dict(name="grpc", port=6334)])
    args.update(kw)
    return args


@pytest.fixture
def ns(namespace, kubectl):
    kubectl("create", "namespace", namespace)
    return namespace


def _slice(kubectl, ns, name="qdrant-ipv4"):
    return json.loads(kubectl("-n", ns, "get", "endpointslice", name, "-o", "json").stdout)


def test_check_apply_check_apply_ip_change_absent(run_module, kubectl, ns):
    r = run_module("aistack.platform.external_service", _args(ns), check=True, diff=True)
    assert r["changed"] is True and not r.get("failed"), r
    assert kubectl("-n", ns, "get", "service", "qdrant", check=False).returncode != 0
    r = run_module("aistack.platform.external_service", _args(ns))
    assert r["changed"] is True and not r.get("failed"), r
    svc = json.loads(kubectl("-n", ns, "get", "service", "qdrant", "-o", "json").stdout)
    assert "selector" not in svc["spec"]
    assert sorted(p["name"] for p in svc["spec"]["ports"]) == ["grpc", "http"]
    slc = _slice(kubectl, ns)
    assert slc["metadata"]["labels"]["kubernetes.io/service-name"] == "qdrant"
    assert slc["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "aistack.platform"
    assert slc["endpoints"][0]["addresses"] == ["192.0.2.10"]
    uid = slc["metadata"]["uid"]
    for check in (True, False):
        r = run_module("aistack.platform.external_service", _args(ns), check=check)
        assert r["changed"] is False, r
    r = run_module("aistack.platform.external_service", _args(ns, addresses=["192.0.2.11"]), check=True)
    assert r["changed"] is True
    assert _slice(kubectl, ns)["endpoints"][0]["addresses"] == ["192.0.2.10"]
    r = run_module("aistack.platform.external_service", _args(ns, addresses=["192.0.2.11"]))
    assert r["changed"] is True
    slc = _slice(kubectl, ns)
    assert slc["endpoints"][0]["addresses"] == ["192.0.2.11"] and slc["metadata"]["uid"] == uid
    r = run_module("aistack.platform.external_service", dict(name="qdrant", namespace=ns, state="absent"), check=True)
    assert r["changed"] is True
    r = run_module("aistack.platform.external_service", dict(name="qdrant", namespace=ns, state="absent"))
    assert r["changed"] is True
    assert kubectl("-n", ns, "get", "service", "qdrant", check=False).returncode != 0
    assert kubectl("-n", ns, "get", "endpointslice", "qdrant-ipv4", check=False).returncode != 0
    r = run_module("aistack.platform.external_service", dict(name="qdrant", namespace=ns, state="absent"))
    assert r["changed"] is False


def test_external_name(run_module, kubectl, ns):
    args = dict(name="pg", namespace=ns, external_name="db.example.com", ports=[dict(name="postgresql", port=5432)])
    assert run_module("aistack.platform.external_service", args)["changed"] is True
    assert run_module("aistack.platform.external_service", args)["changed"] is False
    svc = json.loads(kubectl("-n", ns, "get", "service", "pg", "-o", "json").stdout)
    assert svc["spec"]["type"] == "ExternalName" and svc["spec"]["externalName"] == "db.example.com"


def test_probe_require_refuses_dead_endpoint(run_module, kubectl, ns):
    r = run_module("aistack.platform.external_service",
                   _args(ns, addresses=["192.0.2.2"], ports=[dict(name="dead", port=1)], probe="require",
                         probe_timeout=2))
    assert r.get("failed") and r["field"] == "probe" and r["probe"][0]["reachable"] is False
    assert kubectl("-n", ns, "get", "service", "qdrant", check=False).returncode != 0


@pytest.mark.parametrize("bad, field", [
    (dict(addresses=["db.example.com"]), "addresses[0]"),
    (dict(ports=[dict(name="http", port=0)]), "ports[0].port"),
    (dict(ports=[dict(name="http", port=65536)]), "ports[0].port"),
    (dict(name="Not_A_Label"), "name"),
    (dict(ports=[dict(name="http", port=1), dict(name="http", port=2)]), "ports[1].name"),
])
def test_bad_input_creates_nothing(run_module, kubectl, ns, bad, field):
    r = run_module("aistack.platform.external_service", _args(ns, **bad))
    assert r.get("failed") and r.get("field") == field, r
    assert kubectl("-n", ns, "get", "services,endpointslices", "-o", "name").stdout.strip() == ""
