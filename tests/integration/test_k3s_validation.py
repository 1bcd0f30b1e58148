# -*- coding: utf-8 -*-
"""playbooks/k3s.yml refuses bad inventories before any task that changes a host.

Hosts use the local connection and an install prefix (k3s_root) in a temporary directory: the test asserts the
failure message and that nothing was created under any host's prefix. No k3s binary is involved.
"""

from __future__ import absolute_import, division, print_function

import json

import pytest

from conftest import ROOT

TOKEN = "0123456789abcdef0123456789abcdef"


def inventory(tmp_path, servers, agents, **common):
    hostvars = {}
    groups = {"k3s_server": {"hosts": {}}, "k3s_agent": {"hosts": {}}}
    for group, names in (("k3s_server", servers), ("k3s_agent", agents)):
        for name in names:
            groups[group]["hosts"][name] = {"k3s_root": str(tmp_path / "root" / name)}
            hostvars[name] = True
    base = {"ansible_connection": "local", "k3s_manage_service": False, "k3s_become": False, "k3s_token": TOKEN,
            "k3s_airgap": True, "k3s_bundle_dir": str(tmp_path / "bundle"), "k3s_api_endpoint": "127.0.0.1"}
    base.update(common)
    doc = {"all": {"children": groups, "vars": base}}
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps(doc))
    return str(path)


CASES = [
    ("even-etcd", ["s1", "s2"], ["a1"], {}, "k3s_server: 2 servers with embedded etcd"),
    ("no-token", ["s1"], ["a1"], {"k3s_token": ""}, "k3s_token: the cluster token is missing"),
    ("bad-version", ["s1"], [], {"k3s_version": "v1.34.2-k3s1"}, "is not a k3s release version"),
    ("agents-only", [], ["a1", "a2"], {}, "group k3s_server is empty"),
]


@pytest.mark.parametrize("case, servers, agents, extra, message", CASES, ids=[c[0] for c in CASES])
def test_bad_inventory_fails_before_touching_hosts(run_playbook, tmp_path, case, servers, agents, extra, message):
    inv = inventory(tmp_path, servers, agents, **extra)
    proc = run_playbook(ROOT / "playbooks" / "k3s.yml", inventory=inv, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert message in out, out
    assert "Fix:" in out
    assert TOKEN not in out
    assert proc.recap.get("changed", 0) == 0, out
    # the validation play is the only one that ran: no role task of the node plays
    assert "k3s_prereq : Ensure the k3s directories" not in out
    assert not (tmp_path / "root").exists(), sorted(p.name for p in (tmp_path / "root").rglob("*"))
