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

from conftest import converge_sequence, targets_local_cluster, wait_until
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
  module_defaults:
    group/aistack.platform.aistack:
      kubeconfig: "{{ aistack_kubeconfig | default(omit, true) }}"
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
    runs = converge_sequence(run_playbook, playbook, extra)
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
    if not certs_dir.is_dir():
        # another cluster (kind, k3s): its node configuration is not ours to change
        _run_rest(tmp_path, namespace, kubectl, address, [pull_address])
    else:
        # the role's mirror tasks (containerd style) on the local node: the registry's own name, over plain
        # HTTP, and docker.io redirected to it, so docker.io/aistack/<name> pulls come from the site registry
        mirror = tmp_path / "mirror.yml"
        mirror.write_text(MIRROR_PLAYBOOK)
        mirror_vars = dict(registry_mirror_style="containerd", registry_address=pull_address,
                           registry_containerd_certs_dir=str(certs_dir), registry_mirror_upstreams=["docker.io"],
                           registry_become=False)
        try:
            for check, expected in ((True, True), (False, True), (True, False), (False, False)):
                proc = run_playbook(mirror, extra_vars=mirror_vars, check=check)
                assert proc.returncode == 0, proc.stdout[-3000:]
                assert (proc.recap.get("changed", 0) > 0) == expected, (check, proc.recap)
            hosts = (certs_dir / "docker.io" / "hosts.toml").read_text()
            assert '[host."http://%s"]' % pull_address in hosts, hosts
            _run_rest(tmp_path, namespace, kubectl, address, [pull_address, "docker.io"])
        finally:
            for name in (pull_address, "docker.io"):
                shutil.rmtree(str(certs_dir / name), ignore_errors=True)

    # state=absent: check, remove, remove again; the storage claim stays unless purged
    absent = dict(extra, registry_state="absent")
    runs = []
    for check in (True, False, False):
        proc = run_playbook(playbook, extra_vars=absent, check=check)
        assert proc.returncode == 0, proc.stdout[-4000:]
        runs.append(proc.recap.get("changed", 0))
    assert runs[0] > 0 and runs[1] > 0 and runs[2] == 0, runs
    left = kubectl("get", "deploy,svc,cm,pvc", "-n", namespace, "-l", "app.kubernetes.io/component=registry",
                   "-o", "name").stdout.split()
    assert left == ["persistentvolumeclaim/registry-data"], left
    proc = run_playbook(playbook, extra_vars=dict(absent, registry_purge_storage=True))
    assert proc.returncode == 0 and proc.recap.get("changed", 0) == 1, proc.recap


def hello_archive(tmp_path, marker):
    """A two-layer image (Debian base + a script that prints ``marker``) as a gzip docker-archive."""
    base = it.Layer(str(CACHE / "base-trixie" / "rootfs.tar"))
    app = it.Layer.from_bytes(it.tar_bytes({"usr/local/bin/hello": ("#!/bin/sh\necho %s\nexec sleep 3600\n"
                                                                    % marker).encode()}), str(tmp_path))
    config = it.image_config([base, app], cmd=["/usr/local/bin/hello"])
    src = str(tmp_path / ("hello-%s.tar.gz" % marker[:8]))
    it.write_docker_archive(src, ["aistack.local/hello:%s" % marker[:8]], [base, app], "gzip", config=config)
    return src


def _run_rest(tmp_path, namespace, kubectl, address, pull_registries):
    """Import an image into the registry at ``address``; a pod per name in ``pull_registries`` pulls it."""
    marker = uuid.uuid4().hex
    src = hello_archive(tmp_path, marker)
    args = dict(src=src, target="registry", registry=address, registry_project="aistack")
    first = it.run_module(COLLECTIONS, "aistack.platform.image_import", args)
    assert first["changed"] is True, first.get("msg")
    second = it.run_module(COLLECTIONS, "aistack.platform.image_import", args)
    assert second["changed"] is False, second
    for index, registry in enumerate(pull_registries):
        name = "hello-%d" % index
        image = "%s/aistack/hello:%s" % (registry, marker[:8])
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
               "spec": {"containers": [{"name": "hello", "image": image, "imagePullPolicy": "Always",
                                        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}
        kubectl("apply", "-f", "-", input=json.dumps(pod))
        kubectl("wait", "pod/" + name, "-n", namespace, "--for=condition=Ready", "--timeout=180s", timeout=240)
        logs = wait_until("%s to print its marker" % image,
                          lambda: marker in kubectl("logs", name, "-n", namespace, check=False).stdout, 60, 2)
        assert logs


HOST_CONFIG = Path("/etc/docker/registry/config.yml")


def _host_service_available():
    return os.geteuid() == 0 and os.path.exists(build_image.BINARY) and (
        os.path.exists("/etc/init.d/docker-registry") or os.path.isdir("/run/systemd/system"))


def _bcrypt_htpasswd(user, password):
    import crypt  # deprecated in 3.11, still the standard library's bcrypt (libxcrypt) for an htpasswd line
    return "%s:%s\n" % (user, crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH)))


def _self_signed(workdir):
    """A CA and a server certificate for 127.0.0.1, readable by the docker-registry group."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=str(workdir))
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=aistack test CA", "-keyout", "ca.key", "-out", "ca.crt")
    ossl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-subj", "/CN=127.0.0.1", "-keyout", "tls.key", "-out", "tls.csr")
    (workdir / "ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ossl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
         "-extfile", "ext", "-out", "tls.crt")
    shutil.chown(str(workdir / "tls.key"), group="docker-registry")
    os.chmod(str(workdir / "tls.key"), 0o640)
    return workdir / "tls.crt", workdir / "tls.key", workdir / "ca.crt"


def _listening(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _host_service_available(), reason="needs root and docker-registry's init script or systemd")
def test_registry_role_host_mode(tmp_path, run_playbook):
    """Host mode on this machine: Debian's docker-registry as a service, plain HTTP first, then HTTPS with
    htpasswd auth, then absent. The package's config file is restored afterwards."""
    port = it.free_port()
    workdir = Path("/var/lib/aistack-test-registry-%s" % uuid.uuid4().hex[:8])
    workdir.mkdir(mode=0o755)
    saved = HOST_CONFIG.read_bytes() if HOST_CONFIG.exists() else None
    playbook = tmp_path / "registry.yml"
    playbook.write_text(PLAYBOOK)
    extra = dict(registry_mode="host", registry_node_port=port, registry_host_storage_dir=str(workdir / "data"),
                 registry_become=False, registry_wait_timeout=60)
    try:
        runs = converge_sequence(run_playbook, playbook, extra)
        assert runs[0] > 0 and runs[1] > 0 and runs[2] == 0 and runs[3] == 0, runs
        assert requests.get("http://127.0.0.1:%d/v2/" % port, timeout=5).status_code == 200
        address = "127.0.0.1:%d" % port
        args = dict(src=hello_archive(tmp_path, uuid.uuid4().hex), target="registry", registry=address,
                    registry_project="aistack")
        first = it.run_module(COLLECTIONS, "aistack.platform.image_import", args)
        assert first["changed"] is True, first.get("msg")
        assert it.run_module(COLLECTIONS, "aistack.platform.image_import", args)["changed"] is False

        # HTTPS with basic auth: the config change restarts the service (handler) before the probe
        cert, key, ca = _self_signed(workdir)
        secure = dict(extra, registry_tls_cert_file=str(cert), registry_tls_key_file=str(key),
                      registry_mirror_ca_file=str(ca), registry_htpasswd=_bcrypt_htpasswd("pusher", "s3cret-pw"))
        for expected in (True, False):
            proc = run_playbook(playbook, extra_vars=secure)
            assert proc.returncode == 0, proc.stdout[-4000:]
            assert (proc.recap.get("changed", 0) > 0) == expected, proc.recap
            assert "s3cret-pw" not in proc.stdout
        assert requests.get("https://127.0.0.1:%d/v2/" % port, timeout=5, verify=str(ca)).status_code == 401
        args = dict(src=hello_archive(tmp_path, uuid.uuid4().hex), target="registry", registry=address,
                    registry_project="aistack", registry_tls=True, registry_ca_path=str(ca))
        denied = it.run_module(COLLECTIONS, "aistack.platform.image_import", args)
        assert denied.get("failed") is True and "registry_username" in denied["msg"], denied
        pushed = it.run_module(COLLECTIONS, "aistack.platform.image_import",
                               dict(args, registry_username="pusher", registry_password="s3cret-pw"))
        assert pushed["changed"] is True, pushed.get("msg")

        # a key without its certificate is refused before anything changes
        proc = run_playbook(playbook, extra_vars=dict(secure, registry_tls_cert_file=""))
        assert proc.returncode != 0 and "registry_tls_cert_file and registry_tls_key_file" in proc.stdout
        assert proc.recap.get("changed", 0) == 0

        runs = []
        for check in (True, False, False):
            proc = run_playbook(playbook, extra_vars=dict(secure, registry_state="absent"), check=check)
            assert proc.returncode == 0, proc.stdout[-4000:]
            runs.append(proc.recap.get("changed", 0))
        assert runs == [1, 1, 0], runs
        assert wait_until("port %d to close" % port, lambda: not _listening(port), 30)
    finally:
        subprocess.run(["service", "docker-registry", "stop"], capture_output=True, check=False)
        if saved is not None:
            HOST_CONFIG.write_bytes(saved)
        htpasswd = HOST_CONFIG.parent / "htpasswd"
        if htpasswd.exists():
            htpasswd.unlink()
        shutil.rmtree(str(workdir), ignore_errors=True)


def test_mirror_k3s_registries_yaml(tmp_path, run_playbook):
    """k3s style: registries.yaml with the site registry, public names rewritten under the project, auth and
    TLS for the site registry; the password never printed. (k3s itself cannot run here; the file is what k3s
    reads: mirrors.<name>.endpoint / rewrite, configs.<name>.auth / tls.)"""
    target = tmp_path / "etc" / "rancher" / "k3s" / "registries.yaml"
    playbook = tmp_path / "mirror.yml"
    playbook.write_text(MIRROR_PLAYBOOK)
    extra = dict(registry_mirror_style="k3s", registry_k3s_config_file=str(target), registry_become=False,
                 registry_address="registry.site.example:30500", registry_tls_cert_file="/etc/ssl/site.crt",
                 registry_mirror_upstreams=["docker.io", "ghcr.io"], registry_project="aistack",
                 registry_mirror_username="puller", registry_mirror_password="pull-s3cret",
                 registry_mirror_ca_file="/etc/ssl/site-ca.crt", registry_mirror_restart=False)
    runs = []
    for check in (True, False, True, False):
        proc = run_playbook(playbook, extra_vars=extra, check=check, diff=True)
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert "pull-s3cret" not in proc.stdout
        runs.append(proc.recap.get("changed", 0))
        if check and runs == [runs[0]]:
            assert not target.exists()
    assert runs[0] > 0 and runs[1] > 0 and runs[2] == 0 and runs[3] == 0, runs
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    import yaml
    doc = yaml.safe_load(target.read_text())
    site = "https://registry.site.example:30500"
    assert doc["mirrors"]["registry.site.example:30500"] == {"endpoint": [site]}
    for upstream in ("docker.io", "ghcr.io"):
        assert doc["mirrors"][upstream] == {"endpoint": [site], "rewrite": {"^(.*)$": "aistack/$1"}}
    assert doc["configs"] == {"registry.site.example:30500": {
        "auth": {"username": "puller", "password": "pull-s3cret"},
        "tls": {"ca_file": "/etc/ssl/site-ca.crt", "insecure_skip_verify": False}}}

    proc = run_playbook(playbook, extra_vars=dict(extra, registry_mirror_style="cri-o"))
    assert proc.returncode != 0 and "registry_mirror_style" in proc.stdout and "k3s, containerd" in proc.stdout
    assert yaml.safe_load(target.read_text()) == doc
