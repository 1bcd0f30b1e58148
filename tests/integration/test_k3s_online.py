# -*- coding: utf-8 -*-
"""Online install mode of the k3s roles against a local release mirror (no internet here).

A local HTTP server plays the release site (k3s_release_base_url): <base>/<version>/k3s and sha256sum-amd64.txt,
so get_url, the URL encoding of the version's "+" and the checksum taken from the release's sum file (or a pin)
run for real. The "binary" is a dummy file: placement logic only, as in test_k3s_roles.py.
"""

from __future__ import absolute_import, division, print_function

import functools
import hashlib
import http.server
import json
import threading

import pytest

from conftest import ROOT

TOKEN = "0123456789abcdef0123456789abcdef"
VERSION = "v1.34.2+k3s1"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    base = tmp_path_factory.mktemp("k3s-mirror")
    release = base / VERSION
    release.mkdir()
    data = b"#!/bin/sh\necho 'dummy k3s (online placement test only)'\n"
    (release / "k3s").write_bytes(data)
    (release / "sha256sum-amd64.txt").write_text("%s  k3s\n" % hashlib.sha256(data).hexdigest())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(base))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield dict(url="http://127.0.0.1:%d" % server.server_address[1], sha=hashlib.sha256(data).hexdigest())
    server.shutdown()


def inventory(tmp_path, mirror, **extra):
    host = {"k3s_root": str(tmp_path / "srv1")}
    common = {"ansible_connection": "local", "ansible_pipelining": True, "k3s_manage_service": False,
              "k3s_become": False, "k3s_token": TOKEN, "k3s_airgap": False, "k3s_version": VERSION,
              "k3s_arch": "amd64", "k3s_release_base_url": mirror["url"], "k3s_registries": False,
              "k3s_api_endpoint": "127.0.0.1", "k3s_server_kubeconfig_dest": ""}
    common.update(extra)
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps({"all": {"children": {"k3s_server": {"hosts": {"srv1": host}}}, "vars": common}}))
    return str(path)


def test_online_install_from_release_url(run_playbook, tmp_path, mirror):
    inv = inventory(tmp_path, mirror)
    binary = tmp_path / "srv1" / "usr/local/bin/k3s"
    proc = run_playbook(ROOT / "playbooks" / "k3s.yml", inventory=inv, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert proc.recap["changed"] > 0
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == mirror["sha"]
    proc = run_playbook(ROOT / "playbooks" / "k3s.yml", inventory=inv, timeout=600)
    assert proc.returncode == 0 and proc.recap["changed"] == 0, (proc.stdout + proc.stderr)[-4000:]


def test_online_install_refuses_wrong_pinned_sha256(run_playbook, tmp_path, mirror):
    inv = inventory(tmp_path, mirror, k3s_checksums={VERSION: {"k3s": "0" * 64}})
    proc = run_playbook(ROOT / "playbooks" / "k3s.yml", inventory=inv, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "checksum" in out.lower(), out[-4000:]
    assert not (tmp_path / "srv1" / "usr/local/bin/k3s").exists()
