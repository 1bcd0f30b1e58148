# -*- coding: utf-8 -*-
"""File placement, idempotency, handlers, upgrade, kubeconfig and reset of the k3s roles, without k3s.

No k3s binary can be built or downloaded on this machine (see docs/k3s.md), and PID 1 is not systemd: the roles
run with k3s_manage_service=false and install under a k3s_root prefix in a temporary directory, one server and
one agent host on the local connection. The "binary" in the airgap bundle is a small dummy file whose sha256 the
test computes: this tests the placement logic only, not k3s itself.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import stat

import pytest
import yaml

from conftest import ROOT

TOKEN = "0123456789abcdef0123456789abcdef"
V1 = "v1.34.2+k3s1"
V2 = "v1.34.3+k3s1"
HANDLER = "RUNNING HANDLER [aistack.platform.k3s_prereq : Restart the k3s service]"


def make_release(bundle, version):
    folder = bundle / "k3s" / version
    folder.mkdir(parents=True)
    files = {"k3s": ("#!/bin/sh\necho 'dummy k3s %s (placement test only)'\n" % version).encode(),
             "k3s-airgap-images-amd64.tar.zst": ("dummy images of %s\n" % version).encode()}
    sums = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        sums.append("%s  %s" % (hashlib.sha256(data).hexdigest(), name))
    (folder / "sha256sum-amd64.txt").write_text("\n".join(sums) + "\n")
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() or p.is_symlink())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("k3s")
    bundle = base / "bundle"
    sums = {V1: make_release(bundle, V1), V2: make_release(bundle, V2)}
    roots = {"srv1": base / "srv1", "agt1": base / "agt1"}
    doc = {"all": {
        "children": {
            "k3s_server": {"hosts": {"srv1": {"k3s_root": str(roots["srv1"])}}},
            "k3s_agent": {"hosts": {"agt1": {"k3s_root": str(roots["agt1"])}}},
        },
        "vars": {"ansible_connection": "local", "ansible_pipelining": True, "k3s_manage_service": False, "k3s_become": False,
                 "k3s_token": TOKEN, "k3s_airgap": True, "k3s_bundle_dir": str(bundle), "k3s_arch": "amd64",
                 "k3s_version": V1, "k3s_api_endpoint": "10.99.0.1",
                 "k3s_server_kubeconfig_dest": str(base / "controller" / "kubeconfig.yaml")},
    }}
    inv = base / "hosts.yml"
    inv.write_text(json.dumps(doc))
    return dict(base=base, inventory=str(inv), roots=roots, sums=sums, bundle=bundle)


@pytest.fixture(scope="module")
def play(run_playbook, site):
    def _play(name, check=False, **extra):
        proc = run_playbook(ROOT / "playbooks" / name, inventory=site["inventory"], check=check,
                            extra_vars=extra or None, timeout=600)
        proc.out = proc.stdout + proc.stderr
        assert TOKEN not in proc.out, "the token reached the log"
        return proc

    return _play


def ok(proc):
    assert proc.returncode == 0, proc.out[-4000:]
    return proc.recap


def test_install_check_idempotent_handlers_upgrade_reset(play, site):
    srv, agt = site["roots"]["srv1"], site["roots"]["agt1"]
    etc, images = "etc/rancher/k3s", "var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst"

    # 1. check mode on empty nodes: changes announced, nothing written
    assert ok(play("k3s.yml", check=True))["changed"] > 0
    assert not (srv / "usr/local/bin/k3s").exists() and not (agt / "usr/local/bin/k3s").exists()

    # 2. install
    assert ok(play("k3s.yml"))["changed"] > 0
    for root in (srv, agt):
        binary = root / "usr/local/bin/k3s"
        assert sha(binary) == site["sums"][V1]["k3s"]
        assert stat.S_IMODE(binary.stat().st_mode) == 0o755
        assert sha(root / images) == site["sums"][V1]["k3s-airgap-images-amd64.tar.zst"]
        assert stat.S_IMODE((root / etc / "config.yaml").stat().st_mode) == 0o600
        assert (root / etc / "aistack-version").read_text().strip() == V1
        registries = yaml.safe_load((root / etc / "registries.yaml").read_text())
        assert registries["mirrors"]["localhost:30500"]["endpoint"] == ["http://localhost:30500"]
    server_cfg = yaml.safe_load((srv / etc / "config.yaml").read_text())
    assert server_cfg["token"] == TOKEN and server_cfg["node-name"] == "srv1"
    assert server_cfg["disable"] == ["traefik"] and "10.99.0.1" in server_cfg["tls-san"]
    assert "cluster-init" not in server_cfg and "server" not in server_cfg  # one server: sqlite
    agent_cfg = yaml.safe_load((agt / etc / "config.yaml").read_text())
    assert agent_cfg == {"server": "https://10.99.0.1:6443", "token": TOKEN, "node-name": "agt1"}
    assert "ExecStart=/usr/local/bin/k3s server --config /etc/rancher/k3s/config.yaml" in \
        (srv / "etc/systemd/system/k3s.service").read_text()
    agent_unit = (agt / "etc/systemd/system/k3s-agent.service").read_text()
    assert "ExecStart=/usr/local/bin/k3s agent --config /etc/rancher/k3s/config.yaml" in agent_unit
    assert "EnvironmentFile=-/etc/systemd/system/k3s-agent.service.env" in agent_unit
    assert not (srv / "etc/systemd/system/k3s-agent.service").exists()

    # 3./4. check and install again: nothing to do, no handler
    for check in (True, False):
        proc = play("k3s.yml", check=check)
        assert ok(proc)["changed"] == 0, proc.out[-4000:]
        assert HANDLER not in proc.out

    # 5. config change on both nodes (env file) and on the server (labels, config.yaml): one restart per node
    proc = play("k3s.yml", k3s_env={"NO_PROXY": "10.0.0.0/8"}, k3s_server_node_labels={"aistack.io/zone": "a"})
    assert ok(proc)["changed"] == 3, proc.out[-4000:]
    assert proc.out.count(HANDLER) == 2  # one per play (servers, agents): each node's handler ran once
    assert "aistack.io/zone=a" in yaml.safe_load((srv / etc / "config.yaml").read_text())["node-label"]
    assert (agt / "etc/systemd/system/k3s-agent.service.env").read_text().endswith("NO_PROXY=10.0.0.0/8\n")

    # 6. version change through the upgrade playbook: binary and images replaced, node by node; kubeconfig fetched
    (srv / etc / "k3s.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "default",
        "clusters": [{"name": "default", "cluster": {"server": "https://127.0.0.1:6443",
                                                     "certificate-authority-data": "Q0E="}}],
        "users": [{"name": "default", "user": {"client-key-data": "S0VZ"}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}]}))
    proc = play("k3s_upgrade.yml", k3s_version=V2, k3s_env={"NO_PROXY": "10.0.0.0/8"},
                k3s_server_node_labels={"aistack.io/zone": "a"})
    ok(proc)
    assert proc.out.count(HANDLER) == 2
    for root in (srv, agt):
        assert sha(root / "usr/local/bin/k3s") == site["sums"][V2]["k3s"]
        assert sha(root / images) == site["sums"][V2]["k3s-airgap-images-amd64.tar.zst"]
        assert (root / etc / "aistack-version").read_text().strip() == V2
    kubeconfig_path = site["base"] / "controller" / "kubeconfig.yaml"
    kubeconfig = yaml.safe_load(kubeconfig_path.read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://10.99.0.1:6443"
    assert kubeconfig["current-context"] == "aistack-k3s"
    assert stat.S_IMODE(kubeconfig_path.stat().st_mode) == 0o600
    assert "S0VZ" not in proc.out

    # 7. a downgrade is refused
    proc = play("k3s.yml", k3s_version=V1)
    assert proc.returncode != 0
    assert "older than the installed %s" % V2 in proc.out
    assert sha(srv / "usr/local/bin/k3s") == site["sums"][V2]["k3s"]

    # 8. reset needs a confirmation, then removes every file, and a second reset changes nothing
    proc = play("k3s_reset.yml")
    assert proc.returncode != 0 and "k3s_reset_confirm" in proc.out
    assert (srv / "usr/local/bin/k3s").exists()
    assert ok(play("k3s_reset.yml", k3s_reset_confirm=True))["changed"] > 0
    assert files_under(srv) == [] and files_under(agt) == []
    proc = play("k3s_reset.yml", k3s_reset_confirm=True)
    assert ok(proc)["changed"] == 0, proc.out[-4000:]
