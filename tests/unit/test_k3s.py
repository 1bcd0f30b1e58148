# -*- coding: utf-8 -*-
"""Unit tests for plugins/module_utils/k3s.py and the k3s filters (pure logic)."""

from __future__ import absolute_import, division, print_function

import hashlib

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.platform.plugins.filter.k3s import FilterModule
from ansible_collections.aistack.platform.plugins.module_utils.filters import k3s
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

TOKEN = "0123456789abcdef0123456789abcdef"
V = "v1.34.2+k3s1"


# --- versions -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version, parsed", [
    ("v1.34.2+k3s1", (1, 34, 2, 1)),
    ("v1.30.10+k3s2", (1, 30, 10, 2)),
])
def test_parse_version(version, parsed):
    assert k3s.parse_version(version) == parsed


@pytest.mark.parametrize("bad", ["1.34.2+k3s1", "v1.34.2", "v1.34.2-k3s1", "v1.34+k3s1", "latest", "",
                                 None, "v2.1.0+k3s1", "v1.34.2+k3s1 ", "v1.34.2+rke2r1"])
def test_parse_version_refuses(bad):
    with pytest.raises(AistackError) as err:
        k3s.parse_version(bad)
    assert "k3s_version" in str(err.value) and "v1.NN.P+k3sN" in str(err.value)


@pytest.mark.parametrize("left, right, result", [
    ("v1.34.2+k3s1", "v1.34.2+k3s1", 0),
    ("v1.34.2+k3s1", "v1.34.2+k3s2", -1),
    ("v1.34.10+k3s1", "v1.34.9+k3s3", 1),   # numeric, not string order
    ("v1.9.0+k3s1", "v1.10.0+k3s1", -1),
    ("v1.35.0+k3s1", "v1.34.99+k3s9", 1),
])
def test_compare_versions(left, right, result):
    assert k3s.compare_versions(left, right) == result


# --- release artifacts and checksums ---------------------------------------------------------------------------

def test_artifacts_amd64():
    art = k3s.artifacts(V, "x86_64")
    assert art["arch"] == "amd64"
    assert art["binary"] == "k3s"
    assert art["binary_url"] == "https://github.com/k3s-io/k3s/releases/download/v1.34.2%2Bk3s1/k3s"
    assert art["images"] == "k3s-airgap-images-amd64.tar.zst"
    assert art["sums_url"].endswith("/v1.34.2%2Bk3s1/sha256sum-amd64.txt")


@pytest.mark.parametrize("arch, binary", [("aarch64", "k3s-arm64"), ("arm64", "k3s-arm64"), ("armv7l", "k3s-armhf")])
def test_artifacts_other_arches(arch, binary):
    art = k3s.artifacts(V, arch, images_suffix="tar.gz", release_base="https://mirror.example/k3s/")
    assert art["binary"] == binary
    assert art["binary_url"] == "https://mirror.example/k3s/v1.34.2%2Bk3s1/" + binary
    assert art["images"].endswith(".tar.gz")


@pytest.mark.parametrize("kwargs, field", [
    (dict(version="v1.34", arch="amd64"), "k3s_version"),
    (dict(version=V, arch="s390x"), "k3s_arch"),
    (dict(version=V, arch="amd64", images_suffix="zip"), "k3s_images_suffix"),
])
def test_artifacts_refuse(kwargs, field):
    with pytest.raises(AistackError) as err:
        k3s.artifacts(**kwargs)
    assert err.value.field == field


def test_parse_sha256sums():
    a, b = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()
    text = "%s  k3s\n%s *k3s-airgap-images-amd64.tar.zst\nnot a line\nzz  broken\n" % (a, b.upper())
    assert k3s.parse_sha256sums(text) == {"k3s": a, "k3s-airgap-images-amd64.tar.zst": b}


def test_select_sha256_pinned_wins_over_sums():
    pinned_digest = "a" * 64
    sums = "%s  k3s\n" % ("b" * 64)
    assert k3s.select_sha256("k3s", {V: {"k3s": pinned_digest}}, sums, V, "amd64") == pinned_digest
    assert k3s.select_sha256("k3s", {V: {"k3s": "sha256:" + "C" * 64}}, None, V) == "c" * 64
    # another version's pin does not apply
    assert k3s.select_sha256("k3s", {"v1.33.1+k3s1": {"k3s": pinned_digest}}, sums, V) == "b" * 64


def test_select_sha256_refuses():
    with pytest.raises(AistackError, match="no sha256 is known"):
        k3s.select_sha256("k3s", {}, "", V, "amd64")
    with pytest.raises(AistackError, match="64 hex digits"):
        k3s.select_sha256("k3s", {V: {"k3s": "abc"}}, None, V)


# --- validation ------------------------------------------------------------------------------------------------

def valid(**overrides):
    base = dict(servers=["s1", "s2", "s3"], agents=["a1"], token=TOKEN, version=V, api_endpoint="10.0.0.1")
    base.update(overrides)
    return base


def test_validate_ok():
    assert k3s.validate(**valid()) == []
    assert k3s.validate(**valid(servers=["s1"], agents=[])) == []
    # an even number is fine with an external datastore
    assert k3s.validate(**valid(servers=["s1", "s2"], datastore_endpoint="postgres://db/k3s")) == []


@pytest.mark.parametrize("overrides, needle", [
    (dict(servers=["s1", "s2"]), "2 servers with embedded etcd"),
    (dict(servers=["s1", "s2", "s3", "s4"], datastore_mode="etcd"), "odd number"),
    (dict(token=""), "k3s_token: the cluster token is missing"),
    (dict(token=None), "k3s_token: the cluster token is missing"),
    (dict(token="CHANGE_ME"), "k3s_token: the cluster token is missing"),
    (dict(token="short"), "shorter than 16"),
    (dict(version="v1.34.2"), "k3s_version"),
    (dict(version="latest"), "v1.NN.P+k3sN"),
    (dict(servers=[], agents=["a1"]), "group k3s_server is empty"),
    (dict(servers=["s1"], agents=["s1"]), "both k3s_server and k3s_agent"),
    (dict(servers=["s1", "s2", "s3"], datastore_mode="sqlite"), "sqlite serves one server"),
    (dict(datastore_mode="external"), "k3s_datastore_endpoint"),
    (dict(datastore_mode="mysql"), "k3s_datastore"),
    (dict(airgap=True, bundle_dir=""), "aistack_bundle_dir"),
    (dict(api_endpoint=""), "k3s_api_endpoint"),
])
def test_validate_errors(overrides, needle):
    errors = k3s.validate(**valid(**overrides))
    assert errors, overrides
    assert any(needle in e for e in errors), errors
    assert all("Fix:" in e for e in errors), errors
    assert not any(TOKEN in e for e in errors)


def test_validate_reports_every_problem():
    errors = k3s.validate(servers=["s1", "s2"], agents=["a1"], token="", version="1.34", api_endpoint="x")
    assert len(errors) == 3


# --- config rendering ------------------------------------------------------------------------------------------

def test_server_config_single_server_sqlite():
    cfg = k3s.server_config(TOKEN, node_name="s1", servers=1, api_endpoint="k3s.example", disable=["traefik"],
                            labels={"b": "2", "a": "1"}, taints=["x=y:NoSchedule"], cluster_cidr="10.42.0.0/16",
                            service_cidr="10.43.0.0/16", tls_san=["10.0.0.9"])
    assert cfg["token"] == TOKEN
    assert cfg["tls-san"] == ["10.0.0.9", "k3s.example"]
    assert cfg["node-label"] == ["a=1", "b=2"]
    assert cfg["node-taint"] == ["x=y:NoSchedule"]
    assert cfg["disable"] == ["traefik"]
    assert cfg["cluster-cidr"] == "10.42.0.0/16" and cfg["service-cidr"] == "10.43.0.0/16"
    assert "cluster-init" not in cfg and "server" not in cfg


def test_server_config_etcd_first_and_joining():
    first = k3s.server_config(TOKEN, node_name="s1", first=True, servers=3, api_endpoint="10.0.0.1")
    other = k3s.server_config(TOKEN, node_name="s2", first=False, servers=3, api_endpoint="10.0.0.1")
    assert first["cluster-init"] is True and "server" not in first
    assert other["server"] == "https://10.0.0.1:6443" and "cluster-init" not in other


def test_server_config_external_and_extra():
    cfg = k3s.server_config(TOKEN, servers=2, datastore_endpoint="postgres://db/k3s", first=False,
                            api_endpoint="10.0.0.1", extra={"kube-apiserver-arg": ["a=b"], "disable": ["servicelb"]})
    assert cfg["datastore-endpoint"] == "postgres://db/k3s"
    assert "server" not in cfg and "cluster-init" not in cfg
    assert cfg["disable"] == ["servicelb"]  # extra is merged last
    assert cfg["kube-apiserver-arg"] == ["a=b"]


def test_server_config_keeps_bundled_traefik_disabled_for_the_ingress_role():
    # The ingress role manages the controller: traefik stays disabled even when the lists leave it out.
    cfg = k3s.server_config(TOKEN, api_endpoint="10.0.0.1", disable=["servicelb"], disable_bundled_traefik=True)
    assert cfg["disable"] == ["servicelb", "traefik"]
    cfg = k3s.server_config(TOKEN, api_endpoint="10.0.0.1", extra={"disable": "metrics-server"},
                            disable_bundled_traefik=True)
    assert cfg["disable"] == ["metrics-server", "traefik"]
    assert k3s.server_config(TOKEN, api_endpoint="10.0.0.1", disable_bundled_traefik=True)["disable"] == ["traefik"]
    # aistack_ingress_enabled: false (another controller, or k3s's own): the lists are taken as they are.
    assert "disable" not in k3s.server_config(TOKEN, api_endpoint="10.0.0.1", disable_bundled_traefik=False)


def test_agent_config():
    cfg = k3s.agent_config(TOKEN, "fd00::1", api_port=6443, node_name="a1", labels=["gpu=true"],
                           extra={"kubelet-arg": ["max-pods=150"]})
    assert cfg == {"server": "https://[fd00::1]:6443", "token": TOKEN, "node-name": "a1",
                   "node-label": ["gpu=true"], "kubelet-arg": ["max-pods=150"]}
    with pytest.raises(AistackError, match="k3s_api_endpoint"):
        k3s.agent_config(TOKEN, "")


def test_kubeconfig_rewrite():
    doc = {"apiVersion": "v1",
           "clusters": [{"name": "default",
                         "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="}}],
           "users": [{"name": "default", "user": {"client-key-data": "S0VZ"}}],
           "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
           "current-context": "default"}
    out = k3s.kubeconfig_rewrite(doc, "k3s-api.example", 6443, "aistack-prd")
    assert out["clusters"][0]["cluster"] == {"server": "https://k3s-api.example:6443",
                                             "certificate-authority-data": "Q0E="}
    assert out["clusters"][0]["name"] == "aistack-prd"
    assert out["contexts"][0] == {"name": "aistack-prd", "context": {"cluster": "aistack-prd", "user": "aistack-prd"}}
    assert out["users"][0]["user"] == {"client-key-data": "S0VZ"}
    assert out["current-context"] == "aistack-prd"
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"  # input untouched


# --- filters ---------------------------------------------------------------------------------------------------

def test_filters_wrap_errors():
    filters = FilterModule().filters()
    assert filters["k3s_version_compare"]("v1.34.2+k3s2", "v1.34.2+k3s1") == 1
    with pytest.raises(AnsibleFilterError, match="k3s_version"):
        filters["k3s_artifacts"]("v1.34", "amd64")
    assert filters["k3s_validate"](valid()) == []
    assert filters["k3s_server_config"](dict(token=TOKEN, servers=1))["token"] == TOKEN
