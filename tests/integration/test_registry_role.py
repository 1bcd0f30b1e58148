# -*- coding: utf-8 -*-
"""The registry role on the local cluster: check -> apply -> check -> apply, then image_import into it and
a pod that pulls from it.

The registry image itself is built here from Debian's docker-registry (tests/images/registry/build_image.py)
and reaches the node through image_import (target containerd).
"""

import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import targets_local_cluster
import requests

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "images" / "registry"))

import build_image  # noqa: E402
import imagetools as it  # noqa: E402

ROOT = HERE.parents[2]
COLLECTIONS = ROOT / "build" / "collections"
CLUSTER_SH = ROOT / "tests" / "cluster" / "cluster.sh"
CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))

pytestmark = pytest.mark.skipif(not os.path.exists(build_image.BINARY),
                                reason="needs Debian's docker-registry (apt-get install docker-registry)")


def containerd_socket():
    if not targets_local_cluster():
        pytest.skip("the registry image reaches the node through the local cluster's containerd")
    proc = subprocess.run([str(CLUSTER_SH), "containerd-socket"], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.skip("the local cluster is not up")
    return proc.stdout.strip()


MIRROR_PLAYBOOK = """
- name: Registry mirror tasks under test
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Point containerd at the registry
      ansible.builtin.include_role:
        name: aistack.platform.registry
        tasks_from: mirror
"""

PLAYBOOK = """
- name: Registry role under test
  hosts: localhost
  gather_facts: false
  roles:
    - role: aistack.platform.registry
"""


def test_registry_role_in_cluster(tmp_path, namespace, kubectl, run_playbook, kubeconfig):
    sock = containerd_socket()
    archive = str(tmp_path / "registry.tar")
    tag = build_image.build(archive)
    res = it.run_module(COLLECTIONS, "aistack.platform.image_import",
                        dict(src=archive, target="containerd", containerd_socket=sock))
    assert res.get("failed") is not True, res

    node_port = random.randint(31000, 32700)
    playbook = tmp_path / "registry.yml"
    playbook.write_text(PLAYBOOK)
    extra = dict(registry_namespace=namespace, registry_image=tag, registry_image_pull_policy="Never",
                 registry_node_port=node_port, registry_storage_size="1Gi", aistack_kubeconfig=kubeconfig,
                 registry_wait_timeout=240)
    runs = []
    for check in (True, False, True, False):
        proc = run_playbook(playbook, extra_vars=extra, check=check)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        runs.append(proc.recap.get("changed", 0))
    assert runs[0] > 0 and runs[1] > 0 and runs[2] == 0 and runs[3] == 0, runs

    # NodePorts answer on localhost on k3s; a cluster whose kube-proxy serves them on the node address only
    # gets the registry by that address, and a containerd hosts.toml (the role's mirror tasks) for plain HTTP.
    node_ip = kubectl("get", "nodes", "-o",
                      "jsonpath={.items[0].status.addresses[?(@.type=='InternalIP')].address}").stdout.strip()
    address = None
    deadline = time.time() + 90
    while time.time() < deadline and address is None:
        for host in ("127.0.0.1", node_ip):
            try:
                if requests.get("http://%s:%d/v2/" % (host, node_port), timeout=2).status_code == 200:
                    address = "%s:%d" % (host, node_port)
                    break
            except requests.RequestException:
                pass
        time.sleep(2)
    assert address, "the registry NodePort %d answers neither on 127.0.0.1 nor on %s" % (node_port, node_ip)
    pull_address = "localhost:%d" % node_port if address.startswith("127.") else address
    certs_dir = CACHE / "cluster" / "certs.d"
    if not address.startswith("127.") and certs_dir.is_dir():
        mirror = tmp_path / "mirror.yml"
        mirror.write_text(MIRROR_PLAYBOOK)
        mirror_vars = dict(registry_mirror_style="containerd", registry_address=address,
                           registry_containerd_certs_dir=str(certs_dir), registry_mirror_upstreams=[],
                           registry_become=False)
        try:
            for expected in (1, 0):
                proc = run_playbook(mirror, extra_vars=mirror_vars)
                assert proc.returncode == 0, proc.stdout[-3000:]
                assert (proc.recap.get("changed", 0) > 0) == bool(expected), proc.recap
            _run_rest(tmp_path, namespace, kubectl, address, pull_address, node_port)
        finally:
            shutil.rmtree(str(certs_dir / address), ignore_errors=True)
    else:
        _run_rest(tmp_path, namespace, kubectl, address, pull_address, node_port)


def _run_rest(tmp_path, namespace, kubectl, address, pull_address, node_port):
    # an image imported into the in-cluster registry; a pod pulls it from localhost:<nodePort>
    base = it.Layer(str(CACHE / "base-trixie" / "rootfs.tar"))
    marker = uuid.uuid4().hex
    app = it.Layer.from_bytes(it.tar_bytes({"usr/local/bin/hello": ("#!/bin/sh\necho %s\nexec sleep 3600\n"
                                                                    % marker).encode()}), str(tmp_path))
    config = it.image_config([base, app], cmd=["/usr/local/bin/hello"])
    src = str(tmp_path / "hello.tar.gz")
    it.write_docker_archive(src, ["aistack.local/hello:%s" % marker[:8]], [base, app], "gzip", config=config)
    args = dict(src=src, target="registry", registry=address, registry_project="aistack")
    first = it.run_module(COLLECTIONS, "aistack.platform.image_import", args)
    assert first["changed"] is True, first.get("msg")
    second = it.run_module(COLLECTIONS, "aistack.platform.image_import", args)
    assert second["changed"] is False, second
    image = "%s/aistack/hello:%s" % (pull_address, marker[:8])
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hello", "namespace": namespace},
           "spec": {"containers": [{"name": "hello", "image": image, "imagePullPolicy": "Always",
                                    "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}
    kubectl("apply", "-f", "-", input=json.dumps(pod))
    kubectl("wait", "pod/hello", "-n", namespace, "--for=condition=Ready", "--timeout=180s", timeout=240)
    deadline = time.time() + 60
    logs = ""
    while time.time() < deadline and marker not in logs:
        logs = kubectl("logs", "hello", "-n", namespace, check=False).stdout
        time.sleep(2)
    assert marker in logs
